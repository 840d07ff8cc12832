/**
 * Idle memory per worker, against the bare mechanism underneath:
 *
 * - thread: this process's RSS (`Deno.memoryUsage().rss`) before and after
 *   starting N idle `ThreadWorker`s, vs N idle bare module `Worker`s.
 * - process: the sum of the children's RSS (`VmRSS` in `/proc/<pid>/status`)
 *   of N idle `ProcessWorker`s, vs N idle bare `deno run` children.
 *
 * Idle targets await `new Promise((r) => ctx.signal.addEventListener("abort", r))`
 * after telling the script they started (a SharedArrayBuffer for threads, a
 * connection to a Unix socket for processes), so RSS is read only once every
 * worker is running its target. Every measurement runs in a fresh `deno run`
 * of this script (RSS does not shrink back after workers end, so measuring
 * several kinds in one process would skew the later ones); each is repeated
 * and the median is reported. Everything is terminated at the end.
 *
 * Run: `deno run -A bench/memory.ts`
 *
 * @module
 */
import {
  ProcessWorker,
  ThreadWorker,
  type WorkerContext,
  WorkerTerminatedError,
} from "../mod.ts";
import {
  firstLine,
  fixture,
  Rendezvous,
  spawnDeno,
  untilClosed,
  waitForExit,
  waitForFlag,
} from "./_util.ts";

const N = 8;
const TRIALS = 5;
const MB = 1024 * 1024;

const MODES = [
  "thread-bare",
  "thread-ours",
  "process-bare",
  "process-ours",
] as const;
type Mode = typeof MODES[number];

/** What one measurement reports: the increase for all N workers, in bytes. */
interface Measurement {
  mode: Mode;
  bytes: number;
}

// Idle targets, shipped as source: self-contained.
const idleThread = (sab: SharedArrayBuffer, ctx: WorkerContext) => {
  const flag = new Int32Array(sab);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  return new Promise((r) => ctx.signal.addEventListener("abort", r));
};
const idleProcess = async (path: string, ctx: WorkerContext) => {
  const conn = await Deno.connect({ transport: "unix", path });
  await new Promise((r) => ctx.signal.addEventListener("abort", r));
  conn.close();
};

function vmRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = status.match(/^VmRSS:\s+(\d+)\s+kB$/m)?.[1];
  if (kb === undefined) throw new Error(`No VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

async function stopGracefully(
  workers: (ThreadWorker | ProcessWorker)[],
): Promise<void> {
  const dead = await Promise.all(
    workers.map((worker) => worker.terminate({ timeout: 5000 })),
  );
  workers.forEach((worker, i) => {
    // The idle targets return when aborted: no error, or a terminated one
    // if the request arrived before the target was listening.
    if (
      !dead[i] ||
      (worker.error && !(worker.error instanceof WorkerTerminatedError))
    ) {
      throw new Error(`Worker ${i} did not stop: ${worker.error}`);
    }
  });
}

async function measureThreadBare(): Promise<number> {
  const before = Deno.memoryUsage().rss;
  const workers = Array.from(
    { length: N },
    () => new Worker(fixture("echo_worker.ts"), { type: "module" }),
  );
  await Promise.all(workers.map((worker) => {
    const reply = new Promise((resolve) => worker.onmessage = resolve);
    worker.postMessage(1);
    return reply;
  }));
  const after = Deno.memoryUsage().rss;
  for (const worker of workers) worker.terminate();
  return after - before;
}

async function measureThreadOurs(): Promise<number> {
  const before = Deno.memoryUsage().rss;
  const flags = Array.from({ length: N }, () => new SharedArrayBuffer(4));
  const workers = flags.map((sab) =>
    new ThreadWorker({ target: idleThread, args: [sab] })
  );
  await Promise.all(flags.map((sab) => waitForFlag(new Int32Array(sab))));
  const after = Deno.memoryUsage().rss;
  await stopGracefully(workers);
  return after - before;
}

async function measureProcessBare(): Promise<number> {
  const children = Array.from(
    { length: N },
    () => spawnDeno("idle_child.ts", "piped"),
  );
  const lines = await Promise.all(
    children.map((child) => firstLine(child.stdout)),
  );
  const bytes = children.reduce((sum, child) => sum + vmRss(child.pid), 0);
  await Promise.all(children.map(async (child, i) => {
    await child.stdin.close();
    await lines[i]!.drained;
    const status = await child.status;
    if (status.code !== 0) throw new Error(`exit code ${status.code}`);
  }));
  return bytes;
}

async function measureProcessOurs(): Promise<number> {
  const rendezvous = new Rendezvous();
  try {
    const workers = Array.from(
      { length: N },
      () => new ProcessWorker({ target: idleProcess, args: [rendezvous.path] }),
    );
    const conns = [];
    for (let i = 0; i < N; i++) conns.push(await rendezvous.accept());
    await Promise.all(workers.map((worker) => worker.ready));
    const bytes = workers.reduce((sum, worker) => sum + vmRss(worker.pid), 0);
    await stopGracefully(workers);
    await Promise.all(conns.map(untilClosed));
    await Promise.all(workers.map((worker) => waitForExit(worker.pid)));
    return bytes;
  } finally {
    rendezvous.close();
  }
}

const MEASURE: Record<Mode, () => Promise<number>> = {
  "thread-bare": measureThreadBare,
  "thread-ours": measureThreadOurs,
  "process-bare": measureProcessBare,
  "process-ours": measureProcessOurs,
};

/** Runs one measurement in a fresh `deno run` of this script. */
async function measureInChild(mode: Mode): Promise<number> {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", import.meta.filename!, "--measure", mode],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  if (code !== 0) throw new Error(`Measuring ${mode} failed (exit ${code})`);
  const result: Measurement = JSON.parse(lines.at(-1)!);
  return result.bytes;
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const samples = new Map<Mode, number[]>(MODES.map((mode) => [mode, []]));
  for (let trial = 0; trial < TRIALS; trial++) {
    // Interleaved, so that drift on the machine hits every kind alike.
    for (const mode of MODES) {
      samples.get(mode)!.push(await measureInChild(mode));
    }
  }
  const perWorker = (mode: Mode) => median(samples.get(mode)!) / N / MB;
  const fmt = (mb: number) => mb.toFixed(1).padStart(6);
  console.log(
    `Idle memory per worker, N=${N}, median of ${TRIALS} runs ` +
      `(Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores)\n`,
  );
  console.log(
    "| kind    | measure                 | bare MB | ours MB | ours / bare |",
  );
  console.log(
    "| ------- | ----------------------- | ------- | ------- | ----------- |",
  );
  for (
    const [kind, measure] of [
      ["thread", "parent RSS increase / N"],
      ["process", "child VmRSS sum / N"],
    ] as const
  ) {
    const bare = perWorker(`${kind}-bare`);
    const ours = perWorker(`${kind}-ours`);
    console.log(
      `| ${kind.padEnd(7)} | ${measure.padEnd(23)} | ${fmt(bare)}  | ${
        fmt(ours)
      }  | ${(ours / bare).toFixed(2).padStart(10)}x |`,
    );
  }
  console.log("\nRaw samples, MB per worker:");
  for (const mode of MODES) {
    const values = samples.get(mode)!.map((bytes) =>
      (bytes / N / MB).toFixed(1)
    );
    console.log(`  ${mode.padEnd(13)} ${values.join("  ")}`);
  }
}

const at = Deno.args.indexOf("--measure");
if (at >= 0) {
  const mode = Deno.args[at + 1] as Mode;
  if (!MODES.includes(mode)) throw new Error(`Unknown mode ${mode}`);
  const bytes = await MEASURE[mode]();
  console.log(JSON.stringify({ mode, bytes } satisfies Measurement));
} else {
  await main();
}
