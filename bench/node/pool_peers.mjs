// The Node.js side of bench/pool_peers.ts: piscina, tinypool and
// workerpool, each with exactly 2 workers, run N tiny tasks `x => x * x`
// submitted at once; all are awaited. One untimed run first, then the
// median of `runs` timed ones, in tasks per second.
//
// Usage (from a folder where the three are installed):
//   node pool_peers.mjs '{"items":100000,"runs":3,"processItems":100000}'
// Prints one JSON object on stdout; progress goes to stderr.
import { Piscina } from "piscina";
import { Tinypool } from "tinypool";
import workerpool from "workerpool";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const config = JSON.parse(process.argv[2] ?? "{}");
const TASK = new URL("./square_task.mjs", import.meta.url);
const WP_WORKER = new URL("./square_workerpool.mjs", import.meta.url);
writeFileSync(TASK, "export default function square(x) { return x * x; }\n");
writeFileSync(
  WP_WORKER,
  'import workerpool from "workerpool";\n' +
    "workerpool.worker({ square: (x) => x * x });\n",
);

const peers = {
  "piscina (threads)": () => {
    const pool = new Piscina({
      filename: TASK.href,
      minThreads: 2,
      maxThreads: 2,
    });
    return { run: (x) => pool.run(x), close: () => pool.destroy() };
  },
  "tinypool (threads)": () => {
    const pool = new Tinypool({
      filename: TASK.href,
      minThreads: 2,
      maxThreads: 2,
    });
    return { run: (x) => pool.run(x), close: () => pool.destroy() };
  },
  "workerpool (threads)": () => {
    const pool = workerpool.pool(fileURLToPath(WP_WORKER), {
      minWorkers: 2,
      maxWorkers: 2,
      workerType: "thread",
    });
    return {
      run: (x) => pool.exec("square", [x]),
      close: () => pool.terminate(),
    };
  },
  "tinypool (child processes)": () => {
    const pool = new Tinypool({
      filename: TASK.href,
      minThreads: 2,
      maxThreads: 2,
      runtime: "child_process",
    });
    return { run: (x) => pool.run(x), close: () => pool.destroy() };
  },
};

async function measure(make, items, runs) {
  const pool = make();
  const once = async () => {
    const start = performance.now();
    const tasks = new Array(items);
    for (let i = 0; i < items; i++) tasks[i] = pool.run(i);
    await Promise.all(tasks);
    return items / ((performance.now() - start) / 1000);
  };
  try {
    await once();
    const rates = [];
    for (let r = 0; r < runs; r++) rates.push(await once());
    rates.sort((a, b) => a - b);
    return rates[Math.floor(rates.length / 2)];
  } finally {
    await pool.close();
  }
}

const out = {};
for (const [name, make] of Object.entries(peers)) {
  const items = name.includes("process") ? config.processItems : config.items;
  console.error(`[node] ${name}: ${items} tasks`);
  out[name] = { items, rate: await measure(make, items, config.runs) };
}
console.log(JSON.stringify(out));
