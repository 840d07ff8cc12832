/**
 * pyworkers side by side with its JavaScript peers — piscina, tinypool and
 * workerpool on Node.js — run by one script and reported as ratios.
 *
 * 1. Installs the peers (`npm ci` in `bench/node/`) if
 *    `bench/node/node_modules` is missing.
 * 2. Runs `node bench/node/peers.mjs`, which measures each peer with a pool
 *    of exactly one worker, in its thread runtime and (tinypool, workerpool)
 *    its child-process runtime, and prints JSON.
 * 3. Measures pyworkers in this process with the same method and the same
 *    repetition counts (passed to the Node script, so they cannot drift):
 *    - spawn: `ThreadWorker` / `ProcessWorker` of `(x) => x`, from the
 *      constructor to `wait()` (median of 15, after 2 untimed);
 *    - per item: `PersistentThreadWorker` / `PersistentProcessWorker`
 *      already warmed up (10,000 untimed `call()`s), 10,000 items of
 *      `(x) => x` enqueued at once, `close()`, `results()` consumed up to
 *      the last item (median of 5 runs, after one untimed); for reference,
 *      before that, 10,000 `call()`s at once (a promise per item, as the
 *      peers' tasks have), printed below the table;
 *    - stop: `terminate()` of a target busy in a loop on
 *      `ctx.throwIfTerminated()` (graceful), once the target has signalled
 *      it started (a SharedArrayBuffer for threads, a Unix-socket connect
 *      for processes; no sleeps), until `terminate()` returns (the worker is
 *      dead); and, for reference, the forced stop of a process spinning in
 *      `for (;;) {}` with `terminate({ timeout: 0 })`.
 * 4. Prints one Markdown table: each measure, each peer's figure, ours, and
 *    the ratio ours / peer (below 1: pyworkers is faster).
 *
 * Every worker and child is cleaned up before the next repetition.
 *
 * Run: `deno run -A bench/compare.ts`
 *
 * @module
 */
import {
  PersistentProcessWorker,
  PersistentThreadWorker,
  type PersistentWorker,
  ProcessWorker,
  ThreadWorker,
  Worker,
} from "../mod.ts";
import {
  checkTerminated,
  forcedProcess,
  gracefulProcess,
  gracefulThread,
  Rendezvous,
  untilClosed,
  waitForExit,
  waitForFlag,
} from "./_util.ts";

/** Repetition counts, shared with the Node script. */
const CONFIG = {
  /** Untimed repetitions before the timed ones (spawn, stop). */
  warmup: 2,
  spawnReps: 15,
  /** Items per throughput run. */
  items: 10_000,
  throughputRuns: 5,
  stopReps: 15,
} as const;

/** Grace period for graceful stops: long enough never to be reached. */
const GRACE_MS = 10_000;

const NODE_DIR = new URL("./node/", import.meta.url);
const NODE = Deno.env.get("NODE") ?? "node";
const NPM = Deno.env.get("NPM") ?? "npm";

// Targets are shipped as source: they must be self-contained.
const identity = (x: number) => x;

// ---------------------------------------------------------------- helpers

function log(message: string): void {
  console.error(`[compare] ${message}`);
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function check(value: unknown, expected: unknown): void {
  if (value !== expected) {
    throw new Error(`Expected ${expected}, got ${Deno.inspect(value)}`);
  }
}

/** Runs a command in `bench/node/`; its stdout goes to our stderr. */
async function runInNodeDir(cmd: string, args: string[]): Promise<void> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: NODE_DIR,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  await child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true });
  const status = await child.status;
  if (!status.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${Deno.inspect(status)}`);
  }
}

// ------------------------------------------------------------------ peers

interface PeerResult {
  measure: "spawn" | "throughput" | "stop";
  peer: string;
  runtime: "thread" | "process";
  variant?: string;
  median?: number;
  medianExit?: number;
  error?: string;
}

interface PeersReport {
  node: string;
  cpus: number;
  versions: Record<string, string>;
  results: PeerResult[];
}

async function ensurePeersInstalled(): Promise<void> {
  try {
    await Deno.stat(new URL("./node_modules/", NODE_DIR));
    return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  log("bench/node/node_modules is missing: npm ci");
  await runInNodeDir(NPM, ["ci", "--no-audit", "--no-fund"]);
}

async function measurePeers(): Promise<PeersReport> {
  const { code, stdout } = await new Deno.Command(NODE, {
    args: [
      new URL("./peers.mjs", NODE_DIR).pathname,
      JSON.stringify(CONFIG),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`node peers.mjs exited with code ${code}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

// ------------------------------------------------------------------- ours

type Kind = "thread" | "process";

/** Spawn to first result: constructor to `wait()`, median (ms). */
async function ourSpawn(kind: Kind): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < CONFIG.warmup + CONFIG.spawnReps; i++) {
    const start = performance.now();
    const worker = kind === "thread"
      ? new ThreadWorker({ target: identity, args: [1] })
      : new ProcessWorker({ target: identity, args: [1] });
    await worker.wait();
    const elapsed = performance.now() - start;
    if (worker.error) throw worker.error;
    check(worker.result, 1);
    if (kind === "process") await waitForExit(worker.pid);
    if (i >= CONFIG.warmup) samples.push(elapsed);
  }
  return median(samples);
}

/** Per-item µs of one run: streamed (the measure) and through `call()`. */
interface StreamRun {
  enqueue: number;
  call: number;
}

/** Submits `items` calls at once and awaits them all: elapsed ms. */
async function callAll(
  worker: PersistentWorker<[number], number>,
): Promise<number> {
  const { items } = CONFIG;
  const start = performance.now();
  const calls: Promise<number>[] = [];
  for (let i = 0; i < items; i++) calls.push(worker.call(i));
  const values = await Promise.all(calls);
  const elapsed = performance.now() - start;
  values.forEach((value, i) => check(value, i));
  return elapsed;
}

/** One run through a fresh, warmed-up persistent worker. */
async function ourStreamOnce(kind: Kind): Promise<StreamRun> {
  const { items } = CONFIG;
  const worker: PersistentWorker<[number], number> = kind === "thread"
    ? new PersistentThreadWorker({ target: identity })
    : new PersistentProcessWorker({ target: identity });
  try {
    await worker.ready;
    // Warm-up, untimed: as many items through this worker as the peers'
    // pools have processed before their timed runs.
    await callAll(worker);
    // For reference: a promise per item, as the peers' `run`/`exec` give.
    const call = await callAll(worker);

    const start = performance.now();
    for (let i = 0; i < items; i++) worker.enqueue(i);
    worker.close();
    let received = 0;
    for await (const value of worker.results()) {
      check(value, received);
      // The clock stops at the last result, as the peers' does when their
      // last task resolves: the worker's own exit is not timed.
      if (++received === items) break;
    }
    const elapsed = performance.now() - start;
    check(received, items);
    await worker.wait();
    if (worker.error) throw worker.error;
    if (kind === "process") await waitForExit(worker.pid);
    return { enqueue: (elapsed * 1000) / items, call: (call * 1000) / items };
  } finally {
    if (worker.isAlive()) await worker.terminate();
  }
}

/** Per item: medians of the timed runs, after one untimed (µs). */
async function ourThroughput(kind: Kind): Promise<StreamRun> {
  await ourStreamOnce(kind);
  const runs: StreamRun[] = [];
  for (let run = 0; run < CONFIG.throughputRuns; run++) {
    runs.push(await ourStreamOnce(kind));
  }
  return {
    enqueue: median(runs.map((run) => run.enqueue)),
    call: median(runs.map((run) => run.call)),
  };
}

/** Terminate to dead of a busy thread target, graceful (ms). */
async function ourStopThread(): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < CONFIG.warmup + CONFIG.stopReps; i++) {
    const sab = new SharedArrayBuffer(4);
    const worker = new ThreadWorker({ target: gracefulThread, args: [sab] });
    await waitForFlag(new Int32Array(sab));
    const start = performance.now();
    const dead = await worker.terminate({ timeout: GRACE_MS });
    const elapsed = performance.now() - start;
    checkTerminated(worker, dead, false);
    if (i >= CONFIG.warmup) samples.push(elapsed);
  }
  return median(samples);
}

/** Terminate to dead (child exited) of a busy process target (ms). */
async function ourStopProcess(forced: boolean): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < CONFIG.warmup + CONFIG.stopReps; i++) {
    const rendezvous = new Rendezvous();
    try {
      const worker = new ProcessWorker({
        target: forced ? forcedProcess : gracefulProcess,
        args: [rendezvous.path],
      });
      const conn = await rendezvous.accept();
      const start = performance.now();
      const dead = await worker.terminate({ timeout: forced ? 0 : GRACE_MS });
      const elapsed = performance.now() - start;
      checkTerminated(worker, dead, forced);
      await untilClosed(conn);
      await waitForExit(worker.pid);
      if (i >= CONFIG.warmup) samples.push(elapsed);
    } finally {
      rendezvous.close();
    }
  }
  return median(samples);
}

// ------------------------------------------------------------------ table

/** A duration in ms, shown in ms or µs with 3 significant digits. */
function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toPrecision(3)} µs`;
  return `${ms.toPrecision(3)} ms`;
}

function formatUs(us: number): string {
  return `${us.toPrecision(3)} µs`;
}

interface Row {
  measure: string;
  peer: string;
  peerFigure: number | undefined;
  ours: string;
  oursFigure: number;
  format: (value: number) => string;
}

function table(rows: Row[]): string {
  const header = [
    "measure",
    "peer (pool of 1)",
    "peer",
    "pyworkers",
    "ours",
    "ours / peer",
  ];
  const lines = rows.map((row) => [
    row.measure,
    row.peer,
    row.peerFigure === undefined ? "failed" : row.format(row.peerFigure),
    row.ours,
    row.format(row.oursFigure),
    row.peerFigure === undefined
      ? "—"
      : `${(row.oursFigure / row.peerFigure).toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.map((cells) => cells[i]!.length))
  );
  const render = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    render(header),
    render(widths.map((w) => "-".repeat(w))),
    ...lines.map(render),
  ].join("\n");
}

// ------------------------------------------------------------------- main

if (import.meta.main) {
  const started = performance.now();
  await ensurePeersInstalled();
  log("measuring the Node peers (node bench/node/peers.mjs)");
  const peers = await measurePeers();

  log("spawn: ThreadWorker");
  const spawnThread = await ourSpawn("thread");
  log("spawn: ProcessWorker");
  const spawnProcess = await ourSpawn("process");
  log("per item: PersistentThreadWorker");
  const streamThread = await ourThroughput("thread");
  log("per item: PersistentProcessWorker");
  const streamProcess = await ourThroughput("process");
  log("stop: ThreadWorker (graceful)");
  const stopThread = await ourStopThread();
  log("stop: ProcessWorker (graceful)");
  const stopProcess = await ourStopProcess(false);
  log("stop: ProcessWorker (forced, for reference)");
  const stopProcessForced = await ourStopProcess(true);
  const leftover = Worker.activeChildren();
  if (leftover.length > 0) {
    throw new Error(`${leftover.length} workers are still alive`);
  }

  const rows: Row[] = [];
  const add = (
    measure: string,
    which: PeerResult["measure"],
    runtime: Kind,
    figure: "median" | "medianExit",
    oursLabel: string,
    oursFigure: number,
    format: (value: number) => string,
  ) => {
    for (const result of peers.results) {
      if (result.measure !== which || result.runtime !== runtime) continue;
      rows.push({
        measure,
        peer: `${result.peer} (${runtime}${
          result.variant === undefined ? "" : `, ${result.variant}`
        })`,
        peerFigure: result.error === undefined ? result[figure] : undefined,
        ours: oursLabel,
        oursFigure,
        format,
      });
    }
  };
  const n = CONFIG.items.toLocaleString("en-US");
  add(
    "spawn → first result",
    "spawn",
    "thread",
    "median",
    "ThreadWorker",
    spawnThread,
    formatMs,
  );
  add(
    "spawn → first result",
    "spawn",
    "process",
    "median",
    "ProcessWorker",
    spawnProcess,
    formatMs,
  );
  add(
    `per item, ${n} at once`,
    "throughput",
    "thread",
    "median",
    "PersistentThreadWorker",
    streamThread.enqueue,
    formatUs,
  );
  add(
    `per item, ${n} at once`,
    "throughput",
    "process",
    "median",
    "PersistentProcessWorker",
    streamProcess.enqueue,
    formatUs,
  );
  add(
    "stop busy task → promise settles",
    "stop",
    "thread",
    "median",
    "ThreadWorker terminate(), graceful",
    stopThread,
    formatMs,
  );
  add(
    "stop busy task → worker exited",
    "stop",
    "thread",
    "medianExit",
    "ThreadWorker terminate(), graceful",
    stopThread,
    formatMs,
  );
  add(
    "stop busy task → promise settles",
    "stop",
    "process",
    "median",
    "ProcessWorker terminate(), graceful",
    stopProcess,
    formatMs,
  );
  add(
    "stop busy task → worker exited",
    "stop",
    "process",
    "medianExit",
    "ProcessWorker terminate(), graceful",
    stopProcess,
    formatMs,
  );
  add(
    "stop busy task → worker exited",
    "stop",
    "process",
    "medianExit",
    "ProcessWorker terminate(), forced",
    stopProcessForced,
    formatMs,
  );

  const versions = Object.entries(peers.versions)
    .map(([name, version]) => `${name} ${version}`).join(", ");
  console.log(
    `Deno ${Deno.version.deno}, Node ${peers.node} (${versions}); ` +
      `${peers.cpus} cores. Medians of ${CONFIG.spawnReps} repetitions ` +
      `(spawn), ${CONFIG.throughputRuns} runs (per item) and ` +
      `${CONFIG.stopReps} repetitions (stop). ` +
      "Ratio below 1: pyworkers is faster.\n",
  );
  console.log(table(rows));
  console.log(
    `\npipelined: concurrentTasksPerWorker = ${CONFIG.items}, so the pool ` +
      "sends its worker every task at once (by default, one at a time).\n" +
      "stop: the peers force-stop a task spinning in for (;;) {}; ours " +
      "ends when terminate() returns, the worker dead (graceful: the " +
      "target throws from ctx.throwIfTerminated(); forced: SIGTERM).\n" +
      `For reference, ${CONFIG.items} call()s at once (a promise per item, ` +
      `like the peers' tasks): PersistentThreadWorker ` +
      `${formatUs(streamThread.call)}, PersistentProcessWorker ` +
      `${formatUs(streamProcess.call)} per item.`,
  );
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
