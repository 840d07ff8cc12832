/**
 * Terminate-to-dead: how long from `terminate()` until the worker is dead,
 * once its target is known to be running (never a sleep: the target tells
 * the bench it started, through a SharedArrayBuffer for threads or by
 * connecting to a Unix socket the bench listens on for processes).
 *
 * - graceful: the target loops on `ctx.throwIfTerminated()`; `terminate()`
 *   is given a long grace period, so it ends on the target's own throw.
 * - forced: the target spins in a loop that never yields and never looks
 *   at `ctx`; `terminate({ timeout: 0 })` goes straight to the forced path.
 *   Processes spin in `for (;;) {}`. Threads spin until a shared escape
 *   flag is set: on Deno 2.8.2 `Worker.terminate()` does not stop a thread
 *   busy in a loop, so a bare `for (;;) {}` would leak one spinning thread
 *   per iteration (and soon starve the machine). After the timed part the
 *   bench sets the flag and counts the threads that were still running,
 *   which it reports when the run ends.
 *
 * Each group has a bare baseline doing the same with a plain `Worker` or a
 * plain `deno run` child. Only `terminate()` (or its bare equivalent) is
 * timed; spawning and the wait for the target to start are not.
 *
 * Run: `deno bench -A bench/terminate_bench.ts`
 *
 * @module
 */
import { ProcessWorker, ThreadWorker } from "../mod.ts";
import {
  checkTerminated,
  firstLine,
  fixture,
  forcedProcess,
  gracefulProcess,
  gracefulThread,
  Rendezvous,
  spawnDeno,
  untilClosed,
  waitForExit,
  waitForFlag,
} from "./_util.ts";

const FLAG_WORKER = fixture("flag_worker.ts");
/** Grace period for the graceful runs: long enough never to be reached. */
const GRACE_MS = 10_000;
const THREAD = { n: 100, warmup: 10 };
const PROCESS = { n: 30, warmup: 3 };

// Targets are shipped as source: they must be self-contained.
const forcedThread = (sab: SharedArrayBuffer) => {
  const flag = new Int32Array(sab);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  // Uncooperative: never yields, never looks at ctx. Slot 1 is only the
  // bench's escape hatch (see `survived`).
  while (Atomics.load(flag, 1) === 0) {
    // spin
  }
  Atomics.store(flag, 2, 1);
  Atomics.notify(flag, 2);
};

/** How long a forced thread gets to answer the escape hatch (untimed). */
const PROBE_MS = 100;

/** Forced threads that were still running after `terminate()`, by bench. */
const survivors = new Map<string, { survived: number; total: number }>();

/**
 * After a forced termination: opens the escape hatch (slot 1) and tells
 * whether the thread was still running, i.e. answered in slot 2 within
 * PROBE_MS. A thread that answers then ends by itself, so nothing leaks
 * even where termination failed.
 */
async function survived(name: string, flag: Int32Array): Promise<void> {
  Atomics.store(flag, 1, 1);
  const result = Atomics.waitAsync(flag, 2, 0, PROBE_MS);
  if (result.async) {
    // A pending `waitAsync` does not keep Deno's event loop alive: a timer
    // of the same length does.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      result.value,
      new Promise((resolve) => timer = setTimeout(resolve, PROBE_MS)),
    ]);
    clearTimeout(timer);
  }
  const count = survivors.get(name) ?? { survived: 0, total: 0 };
  count.total++;
  if (Atomics.load(flag, 2) !== 0) count.survived++;
  survivors.set(name, count);
}

globalThis.addEventListener("unload", () => {
  for (const [name, { survived, total }] of survivors) {
    console.warn(
      `forced ${name}: ${survived} of ${total} threads were still running ` +
        "after terminate() returned (then released through the escape flag)",
    );
  }
});

/** A bare worker running `flag_worker.ts`, once it has started. */
async function startFlagWorker(
  cooperative: boolean,
): Promise<{ worker: Worker; flag: Int32Array }> {
  const sab = new SharedArrayBuffer(12);
  const flag = new Int32Array(sab);
  const worker = new Worker(FLAG_WORKER, { type: "module" });
  worker.postMessage({ sab, cooperative });
  await waitForFlag(flag);
  return { worker, flag };
}

// ---------------------------------------------------------------- threads

Deno.bench({
  name: "bare Worker: set a shared flag, await its reply, terminate",
  group: "terminate thread, graceful",
  baseline: true,
  ...THREAD,
  async fn(b) {
    const { worker, flag } = await startFlagWorker(true);
    const stopped = new Promise((resolve) => worker.onmessage = resolve);
    b.start();
    Atomics.store(flag, 1, 1);
    await stopped;
    worker.terminate();
    b.end();
  },
});

Deno.bench({
  name: "ThreadWorker: terminate() of a throwIfTerminated() loop",
  group: "terminate thread, graceful",
  ...THREAD,
  async fn(b) {
    const sab = new SharedArrayBuffer(4);
    const worker = new ThreadWorker({ target: gracefulThread, args: [sab] });
    await waitForFlag(new Int32Array(sab));
    b.start();
    const dead = await worker.terminate({ timeout: GRACE_MS });
    b.end();
    checkTerminated(worker, dead, false);
  },
});

Deno.bench({
  name: "bare Worker: terminate() of a spinning worker",
  group: "terminate thread, forced",
  baseline: true,
  ...THREAD,
  async fn(b) {
    const { worker, flag } = await startFlagWorker(false);
    b.start();
    worker.terminate();
    b.end();
    await survived("bare Worker", flag);
  },
});

Deno.bench({
  name: "ThreadWorker: terminate({ timeout: 0 }) of a spinning target",
  group: "terminate thread, forced",
  ...THREAD,
  async fn(b) {
    const sab = new SharedArrayBuffer(12);
    const flag = new Int32Array(sab);
    const worker = new ThreadWorker({ target: forcedThread, args: [sab] });
    await waitForFlag(flag);
    b.start();
    const dead = await worker.terminate({ timeout: 0 });
    b.end();
    await survived("ThreadWorker", flag);
    checkTerminated(worker, dead, true);
  },
});

// -------------------------------------------------------------- processes

Deno.bench({
  name: "bare deno run: write a byte to an idle child, await its exit",
  group: "terminate process, graceful",
  baseline: true,
  ...PROCESS,
  async fn(b) {
    const child = spawnDeno("idle_child.ts", "piped");
    const { drained } = await firstLine(child.stdout);
    const stdin = child.stdin.getWriter();
    b.start();
    await stdin.write(Uint8Array.of(0x54));
    const status = await child.status;
    b.end();
    await stdin.close().catch(() => {});
    await drained;
    if (status.code !== 0) throw new Error(`exit code ${status.code}`);
  },
});

Deno.bench({
  name: "ProcessWorker: terminate() of a throwIfTerminated() loop",
  group: "terminate process, graceful",
  ...PROCESS,
  async fn(b) {
    const rendezvous = new Rendezvous();
    try {
      const worker = new ProcessWorker({
        target: gracefulProcess,
        args: [rendezvous.path],
      });
      const conn = await rendezvous.accept();
      b.start();
      const dead = await worker.terminate({ timeout: GRACE_MS });
      b.end();
      checkTerminated(worker, dead, false);
      // A process worker is dead once its child has exited: its end of the
      // socket is closed and the process is gone.
      await untilClosed(conn);
      await waitForExit(worker.pid);
    } finally {
      rendezvous.close();
    }
  },
});

Deno.bench({
  name: "bare deno run: SIGTERM a spinning child, await its exit",
  group: "terminate process, forced",
  baseline: true,
  ...PROCESS,
  async fn(b) {
    const child = spawnDeno("spin_child.ts");
    const { drained } = await firstLine(child.stdout);
    b.start();
    child.kill("SIGTERM");
    const status = await child.status;
    b.end();
    await drained;
    if (status.signal !== "SIGTERM") {
      throw new Error(`Expected SIGTERM, got ${Deno.inspect(status)}`);
    }
  },
});

Deno.bench({
  name: "ProcessWorker: terminate({ timeout: 0 }) of a spinning target",
  group: "terminate process, forced",
  ...PROCESS,
  async fn(b) {
    const rendezvous = new Rendezvous();
    try {
      const worker = new ProcessWorker({
        target: forcedProcess,
        args: [rendezvous.path],
      });
      const conn = await rendezvous.accept();
      b.start();
      const dead = await worker.terminate({ timeout: 0 });
      b.end();
      await untilClosed(conn);
      checkTerminated(worker, dead, true);
      await waitForExit(worker.pid);
    } finally {
      rendezvous.close();
    }
  },
});
