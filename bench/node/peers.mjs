// The JavaScript peers of pyworkers, measured the way bench/compare.ts
// measures pyworkers: piscina, tinypool and workerpool, each with a pool of
// exactly one worker, in its thread runtime and (tinypool, workerpool) its
// child-process runtime.
//
//   (a) spawn: pool creation -> the result of one task `(x) => x`; the pool
//       is destroyed after each repetition (untimed). Median.
//   (b) throughput: a warmed-up pool (one untimed run first) gets N tasks
//       `(x) => x` submitted at once; all are awaited. Per-item µs, median
//       of the runs.
//   (c) stop: a task busy in a loop that never yields is stopped with the
//       peer's own mechanism (piscina, tinypool: AbortSignal to `run`;
//       workerpool: `promise.cancel()`). The task tells the parent it has
//       started first (a SharedArrayBuffer for threads, a Unix-socket
//       connect for processes); nothing sleeps. Timed from the request to
//       the task's promise settling, and to the worker's `exit` event.
//
// Throughput is also measured "pipelined" for piscina and tinypool (see
// PIPELINED below). Repetition counts come from the command line, so
// bench/compare.ts measures pyworkers with the same ones.
//
// Usage: node bench/node/peers.mjs ['{"spawnReps":15,...}']
// Prints one JSON object on stdout; progress goes to stderr.
import { Piscina } from "piscina";
import { Tinypool } from "tinypool";
import workerpool from "workerpool";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const DEFAULTS = {
  warmup: 2, // untimed repetitions before the timed ones (spawn, stop)
  spawnReps: 15,
  items: 10_000,
  throughputRuns: 5,
  stopReps: 15,
};
const config = { ...DEFAULTS, ...JSON.parse(process.argv[2] ?? "{}") };

const TASKS = new URL("./tasks.mjs", import.meta.url).href;
const WORKERPOOL_WORKER = fileURLToPath(
  new URL("./workerpool_worker.mjs", import.meta.url),
);

// ------------------------------------------------------------------ peers
// Each peer makes a pool of exactly one worker and exposes the same few
// operations. `stopping` is true for the stop measure: there the pool keeps
// no minimum worker, so that aborting the task does not start a replacement
// worker while the old one is still being torn down.

function piscina(_runtime, { stopping, options }) {
  // Piscina has worker threads only.
  const pool = new Piscina({
    filename: TASKS,
    minThreads: stopping ? 0 : 1,
    maxThreads: 1,
    ...options,
  });
  return {
    run: (x) => pool.run(x),
    spin(arg) {
      const controller = new AbortController();
      const promise = pool.run(arg, {
        name: "spinThread",
        signal: controller.signal,
      });
      return { promise, stop: () => controller.abort() };
    },
    worker: () => pool.threads[0],
    destroy: () => pool.destroy(),
  };
}

function tinypool(runtime, { stopping, options }) {
  const pool = new Tinypool({
    filename: TASKS,
    runtime: runtime === "thread" ? "worker_threads" : "child_process",
    minThreads: stopping ? 0 : 1,
    maxThreads: 1,
    ...options,
  });
  return {
    run: (x) => pool.run(x),
    spin(arg) {
      const controller = new AbortController();
      const promise = pool.run(arg, {
        name: runtime === "thread" ? "spinThread" : "spinProcess",
        signal: controller.signal,
      });
      return { promise, stop: () => controller.abort() };
    },
    // A wrapper whose `once` listens on the worker thread or child process.
    worker: () => pool.threads[0],
    destroy: () => pool.destroy(),
  };
}

function workerpoolPeer(runtime, { stopping }) {
  const pool = workerpool.pool(WORKERPOOL_WORKER, {
    minWorkers: stopping ? 0 : 1,
    maxWorkers: 1,
    workerType: runtime,
    // A cancelled task gets this long to run its abort listeners, and the
    // worker this long to exit when asked, before it is killed. A task busy
    // in a loop can do neither, so the default (1000 ms, twice) would only
    // measure the timer: use the smallest value (0 means the default).
    ...(stopping ? { workerTerminateTimeout: 1 } : {}),
  });
  return {
    run: (x) => pool.exec("identity", [x]),
    spin(arg) {
      const promise = pool.exec(
        runtime === "thread" ? "spinThread" : "spinProcess",
        [arg],
      );
      return { promise, stop: () => promise.cancel() };
    },
    // Not public API: the pool's WorkerHandler holds the Worker or ChildProcess.
    worker: () => pool.workers[0].worker,
    destroy: () => pool.terminate(),
  };
}

// By default a piscina or tinypool worker is sent one task at a time (the
// next once the last is answered), and workerpool has no other mode. The
// "pipelined" variants (throughput only) set `concurrentTasksPerWorker` to
// the number of items, so the pool sends the worker every task at once, as
// a pyworkers persistent worker streams its items.
const PIPELINED = { concurrentTasksPerWorker: config.items };
const PEERS = [
  { peer: "piscina", runtime: "thread", make: piscina },
  { peer: "tinypool", runtime: "thread", make: tinypool },
  { peer: "workerpool", runtime: "thread", make: workerpoolPeer },
  { peer: "tinypool", runtime: "process", make: tinypool },
  { peer: "workerpool", runtime: "process", make: workerpoolPeer },
  ...[
    { peer: "piscina", runtime: "thread", make: piscina },
    { peer: "tinypool", runtime: "thread", make: tinypool },
    { peer: "tinypool", runtime: "process", make: tinypool },
  ].map((peer) => ({
    ...peer,
    variant: "pipelined",
    options: PIPELINED,
    only: "throughput",
  })),
];

// ---------------------------------------------------------------- helpers

const median = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const log = (message) => process.stderr.write(`[peers] ${message}\n`);

function check(value, expected) {
  if (value !== expected) {
    throw new Error(`expected ${expected}, got ${value}`);
  }
}

/** Waits until slot 0 of `flag` is no longer 0 (no sleeping). */
async function waitForFlag(flag) {
  while (Atomics.load(flag, 0) === 0) {
    const result = Atomics.waitAsync(flag, 0, 0);
    if (result.async) await result.value;
  }
}

/** A Unix socket a process task connects to once it has started. */
async function rendezvous() {
  const dir = mkdtempSync(join(tmpdir(), "pyworkers-peers-"));
  const path = join(dir, "s");
  const server = createServer();
  server.listen(path);
  await once(server, "listening");
  return {
    path,
    accept: () => once(server, "connection").then(([socket]) => socket),
    close() {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --------------------------------------------------------------- measures

async function spawn({ runtime, make, options }) {
  const samples = [];
  for (let i = 0; i < config.warmup + config.spawnReps; i++) {
    const start = performance.now();
    const pool = make(runtime, { stopping: false, options });
    const value = await pool.run(1);
    const elapsed = performance.now() - start;
    await pool.destroy();
    check(value, 1);
    if (i >= config.warmup) samples.push(elapsed);
  }
  return { unit: "ms", median: median(samples), samples };
}

async function throughput({ runtime, make, options }) {
  const { items } = config;
  const pool = make(runtime, { stopping: false, options });
  const samples = [];
  try {
    for (let run = -1; run < config.throughputRuns; run++) {
      const start = performance.now();
      const tasks = new Array(items);
      for (let i = 0; i < items; i++) tasks[i] = pool.run(i);
      const values = await Promise.all(tasks);
      const elapsed = performance.now() - start;
      for (let i = 0; i < items; i++) check(values[i], i);
      // Run -1 warms the pool up, untimed.
      if (run >= 0) samples.push((elapsed * 1000) / items);
    }
  } finally {
    await pool.destroy();
  }
  return { unit: "µs/item", median: median(samples), samples };
}

async function stop({ runtime, make, options }) {
  const settled = [];
  const exited = [];
  for (let i = 0; i < config.warmup + config.stopReps; i++) {
    const pool = make(runtime, { stopping: true, options });
    const meeting = runtime === "process" ? await rendezvous() : undefined;
    try {
      let arg, started;
      if (meeting) {
        arg = meeting.path;
        started = meeting.accept();
      } else {
        arg = new SharedArrayBuffer(4);
        started = waitForFlag(new Int32Array(arg));
      }
      const task = pool.spin(arg);
      // Timestamps are taken in the callbacks, so neither event waits for
      // the other to be observed.
      const settledAt = Promise.resolve(task.promise).then(
        () => {
          throw new Error("the spinning task resolved");
        },
        () => performance.now(),
      );
      const socket = await started;
      const worker = pool.worker();
      const exitedAt = new Promise((resolve) =>
        worker.once("exit", () => resolve(performance.now()))
      );
      const start = performance.now();
      task.stop();
      const [settle, exit] = await Promise.all([settledAt, exitedAt]);
      socket?.destroy();
      if (i >= config.warmup) {
        settled.push(settle - start);
        exited.push(exit - start);
      }
    } finally {
      await pool.destroy();
      meeting?.close();
    }
  }
  return {
    unit: "ms",
    median: median(settled),
    samples: settled,
    medianExit: median(exited),
    samplesExit: exited,
  };
}

// ------------------------------------------------------------------- main

function version(name) {
  const file = fileURLToPath(
    new URL(`./node_modules/${name}/package.json`, import.meta.url),
  );
  return JSON.parse(readFileSync(file, "utf8")).version;
}

const results = [];
const MEASURES = { spawn, throughput, stop };
for (const [measure, fn] of Object.entries(MEASURES)) {
  for (const peer of PEERS) {
    if (peer.only !== undefined && peer.only !== measure) continue;
    const label = `${peer.peer} (${peer.runtime}${
      peer.variant ? `, ${peer.variant}` : ""
    })`;
    log(`${measure}: ${label}`);
    const entry = {
      measure,
      peer: peer.peer,
      runtime: peer.runtime,
      ...(peer.variant ? { variant: peer.variant } : {}),
    };
    try {
      Object.assign(entry, await fn(peer));
    } catch (error) {
      entry.error = String(error?.stack ?? error);
      log(`${measure}: ${label} failed: ${entry.error}`);
    }
    results.push(entry);
  }
}

process.stdout.write(
  JSON.stringify({
    node: process.version,
    cpus: availableParallelism(),
    versions: {
      piscina: version("piscina"),
      tinypool: version("tinypool"),
      workerpool: version("workerpool"),
    },
    config,
    results,
  }) + "\n",
);
