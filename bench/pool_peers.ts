/**
 * The Pool side by side with its peers (issue 8), in one run on this
 * machine, reported as throughput and ratios:
 *
 * 1. 100k tiny tasks (`x => x * x`) through our thread Pool of 2, against
 *    piscina, tinypool and workerpool with 2 threads (installed with npm
 *    into a temporary folder, run by `node`), and against a bare Deno pool
 *    (2 Web Workers, one `postMessage` per task each way): the floor.
 * 2. 1M tiny tasks through our thread Pool of 2 with default batching,
 *    against Python's `multiprocessing.Pool(2).map` at its default
 *    chunksize (if `python3` is present).
 * 3. Our process Pool of 2 against `multiprocessing.Pool(2).map` and
 *    tinypool's child-process mode (100k tasks), and against the former
 *    with 1M.
 *
 * Our thread Pool is also measured with `chunkSize: 1` (one call, and one
 * result message, per task, as the peers and the floor do), to show what
 * the batching adds and what the pool costs without it.
 *
 * Every measure: one untimed run on a warm pool, then the median of RUNS.
 * Tasks are submitted at once (an array input for ours) and all awaited.
 *
 * Run: `deno run -A bench/pool_peers.ts` (needs node and npm; python3 optional)
 *
 * @module
 */
import { Pool, WorkerType } from "../mod.ts";

const ITEMS = 100_000;
const BIG = 1_000_000;
const PROCESS_ITEMS = 100_000;
const RUNS = 3;
const PEERS = { piscina: "5.3.2", tinypool: "2.2.0", workerpool: "10.0.3" };

function log(message: string): void {
  console.error(`[pool_peers] ${message}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function rateOf(
  items: number,
  once: () => Promise<void>,
): Promise<number> {
  await once();
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    await once();
    rates.push(items / ((performance.now() - start) / 1000));
  }
  return median(rates);
}

function inputOf(n: number): [number][] {
  return Array.from({ length: n }, (_, i) => [i] as [number]);
}

async function ourPool(
  type: WorkerType,
  items: number,
  chunkSize?: number,
): Promise<number> {
  await using pool = new Pool({
    target: (x: number) => x * x,
    ...(chunkSize === undefined ? {} : { chunkSize }),
  });
  pool.addWorker(type);
  pool.addWorker(type);
  const input = inputOf(items);
  return await rateOf(items, async () => {
    const results = await pool.run(input);
    if (results.length !== items) throw new Error("lost results");
  });
}

/** The floor: 2 bare Web Workers, one postMessage per task each way. */
async function barePool(items: number): Promise<number> {
  const source = "onmessage = (e) => postMessage(e.data * e.data);";
  const url = URL.createObjectURL(
    new Blob([source], { type: "text/javascript" }),
  );
  const workers = [0, 1].map(() => new Worker(url, { type: "module" }));
  try {
    return await rateOf(items, async () => {
      let left = items;
      const { promise, resolve } = Promise.withResolvers<void>();
      for (const worker of workers) {
        worker.onmessage = () => {
          if (--left === 0) resolve();
        };
      }
      for (let i = 0; i < items; i++) workers[i & 1]!.postMessage(i);
      await promise;
    });
  } finally {
    for (const worker of workers) worker.terminate();
    URL.revokeObjectURL(url);
  }
}

async function has(command: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

async function output(
  command: string,
  args: string[],
  cwd?: string,
): Promise<string> {
  const { success, stdout } = await new Deno.Command(command, {
    args,
    ...(cwd === undefined ? {} : { cwd }),
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`${command} ${args.join(" ")} failed`);
  return new TextDecoder().decode(stdout);
}

type Rates = Record<string, { items: number; rate: number }>;

async function nodePeers(): Promise<Rates> {
  if (!(await has("node")) || !(await has("npm"))) {
    log("node or npm missing: the Node peers are left out");
    return {};
  }
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-peers-" });
  try {
    await Deno.writeTextFile(
      `${dir}/package.json`,
      JSON.stringify({ private: true, type: "module", dependencies: PEERS }),
    );
    await Deno.copyFile(
      new URL("./node/pool_peers.mjs", import.meta.url),
      `${dir}/pool_peers.mjs`,
    );
    log(`npm install ${Object.keys(PEERS).join(" ")} in ${dir}`);
    await output(
      "npm",
      ["install", "--no-audit", "--no-fund", "--silent"],
      dir,
    );
    return JSON.parse(
      await output("node", [
        "pool_peers.mjs",
        JSON.stringify({
          items: ITEMS,
          processItems: PROCESS_ITEMS,
          runs: RUNS,
        }),
      ], dir),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function python(items: number): Promise<number | undefined> {
  if (!(await has("python3"))) return undefined;
  const script = new URL("./pool_peers.py", import.meta.url).pathname;
  const out = await output("python3", [script, String(items), String(RUNS)]);
  return (JSON.parse(out) as { rate: number }).rate;
}

function fmt(rate: number | undefined): string {
  return rate === undefined
    ? "—"
    : `${Math.round(rate).toLocaleString("en")}/s`;
}

function ratio(ours: number, theirs: number | undefined): string {
  return theirs === undefined ? "—" : `${(ours / theirs).toFixed(2)}x`;
}

log(`Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs`);
const peers = await nodePeers();
log(`our thread Pool of 2, ${ITEMS} tasks`);
const thread = await ourPool(WorkerType.THREAD, ITEMS);
log(`our thread Pool of 2, ${ITEMS} tasks, one call per task (chunkSize 1)`);
const threadSingle = await ourPool(WorkerType.THREAD, ITEMS, 1);
log(`bare Deno pool of 2 Web Workers, ${ITEMS} tasks`);
const bare = await barePool(ITEMS);
log(`our thread Pool of 2, ${BIG} tasks`);
const threadBig = await ourPool(WorkerType.THREAD, BIG);
log(`our process Pool of 2, ${PROCESS_ITEMS} and ${BIG} tasks`);
const processRate = await ourPool(WorkerType.PROCESS, PROCESS_ITEMS);
const processBig = await ourPool(WorkerType.PROCESS, BIG);
log(`python3 multiprocessing.Pool(2).map, ${BIG} and ${PROCESS_ITEMS} items`);
const pyBig = await python(BIG);
const pySmall = await python(PROCESS_ITEMS);

const rows: [string, string, number, string, number | undefined][] = [
  [
    "100k tiny tasks, 2 threads",
    "thread Pool",
    thread,
    "piscina",
    peers["piscina (threads)"]?.rate,
  ],
  ["", "", thread, "tinypool", peers["tinypool (threads)"]?.rate],
  ["", "", thread, "workerpool", peers["workerpool (threads)"]?.rate],
  ["", "", thread, "bare Deno pool (floor)", bare],
  [
    "",
    "thread Pool, chunkSize 1",
    threadSingle,
    "piscina",
    peers["piscina (threads)"]?.rate,
  ],
  ["", "", threadSingle, "bare Deno pool (floor)", bare],
  [
    "1M tiny tasks, default batching",
    "thread Pool",
    threadBig,
    "multiprocessing.Pool(2).map",
    pyBig,
  ],
  [
    "100k tiny tasks, 2 processes",
    "process Pool",
    processRate,
    "multiprocessing.Pool(2).map",
    pySmall,
  ],
  [
    "",
    "",
    processRate,
    "tinypool (child processes)",
    peers["tinypool (child processes)"]?.rate,
  ],
  [
    "1M tiny tasks, 2 processes",
    "process Pool",
    processBig,
    "multiprocessing.Pool(2).map",
    pyBig,
  ],
];
console.log("| measure | ours | ours/s | peer | peer/s | ours / peer |");
console.log("| --- | --- | ---: | --- | ---: | ---: |");
for (const [measure, ours, rate, peer, theirs] of rows) {
  console.log(
    `| ${measure} | ${ours} | ${fmt(rate)} | ${peer} | ${fmt(theirs)} | ${
      ratio(rate, theirs)
    } |`,
  );
}
