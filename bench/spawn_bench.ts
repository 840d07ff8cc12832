/**
 * Spawn-to-first-result: how long from creating a worker until its first
 * (here: only) result is back, against the bare mechanism underneath.
 *
 * - thread: `ThreadWorker` running `(x) => x` vs a bare module `Worker`
 *   that posts back the one message it gets.
 * - process: `ProcessWorker` running `(x) => x` vs a bare `deno run` of a
 *   script that prints one line, measured to that line (the baseline) and,
 *   for reference, to the child's exit: a `ProcessWorker` counts as finished
 *   only once its child has exited, so `wait()` includes that exit.
 *
 * Only spawn-to-result is timed (`b.start()`/`b.end()`); each iteration then
 * waits, untimed, until its worker or child is gone, so iterations never
 * overlap and nothing leaks.
 *
 * Run: `deno bench -A bench/spawn_bench.ts`
 *
 * @module
 */
import { ProcessWorker, ThreadWorker } from "../mod.ts";
import { firstLine, fixture, spawnDeno, waitForExit } from "./_util.ts";

const ECHO_WORKER = fixture("echo_worker.ts");
const identity = (x: number) => x;

function check(value: unknown, expected: unknown): void {
  if (value !== expected) {
    throw new Error(`Expected ${expected}, got ${Deno.inspect(value)}`);
  }
}

Deno.bench({
  name: "bare Worker (module, echo one message)",
  group: "spawn thread",
  baseline: true,
  n: 200,
  warmup: 20,
  async fn(b) {
    b.start();
    const worker = new Worker(ECHO_WORKER, { type: "module" });
    const reply = new Promise<unknown>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.postMessage(1);
    const value = await reply;
    b.end();
    worker.terminate();
    check(value, 1);
  },
});

Deno.bench({
  name: "ThreadWorker (x) => x",
  group: "spawn thread",
  n: 200,
  warmup: 20,
  async fn(b) {
    b.start();
    const worker = new ThreadWorker({ target: identity, args: [1] });
    await worker.wait();
    b.end();
    if (worker.error) throw worker.error;
    check(worker.result, 1);
    // `wait()` resolved once the worker finished: its Web Worker is
    // terminated and it is no longer an active child.
    check(worker.isAlive(), false);
  },
});

Deno.bench({
  name: "bare deno run (print one line)",
  group: "spawn process",
  baseline: true,
  n: 40,
  warmup: 4,
  async fn(b) {
    b.start();
    const child = spawnDeno("hello.ts");
    const { line, drained } = await firstLine(child.stdout);
    b.end();
    await drained;
    const status = await child.status;
    check(line, "hello");
    check(status.code, 0);
  },
});

Deno.bench({
  name: "bare deno run (print one line, until exit)",
  group: "spawn process",
  n: 40,
  warmup: 4,
  async fn(b) {
    b.start();
    const child = spawnDeno("hello.ts");
    const { line, drained } = await firstLine(child.stdout);
    await drained;
    const status = await child.status;
    b.end();
    check(line, "hello");
    check(status.code, 0);
  },
});

Deno.bench({
  name: "ProcessWorker (x) => x",
  group: "spawn process",
  n: 40,
  warmup: 4,
  async fn(b) {
    b.start();
    const worker = new ProcessWorker({ target: identity, args: [1] });
    await worker.wait();
    b.end();
    if (worker.error) throw worker.error;
    check(worker.result, 1);
    // `wait()` resolved after the child exited: check that it is gone.
    await waitForExit(worker.pid);
  },
});
