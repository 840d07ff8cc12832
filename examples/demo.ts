/**
 * A tour of pyworkers for Deno: `deno task demo`.
 *
 * 1. A thread, a process and a remote worker each square a number, and say
 *    where they ran compared with this (the parent) process. The remote one
 *    runs on a server this demo starts on a free port (`spawnServer`) and
 *    stops at the end; the server logs to stderr.
 * 2. Graceful termination: a target in a busy loop that checks
 *    `ctx.throwIfTerminated()` stops when asked, with a
 *    `WorkerTerminatedError`.
 * 3. Forced termination: a target that ignores everything (`for (;;) {}`)
 *    is killed once the grace period ends.
 *
 * Targets are shipped to the worker as source text, so each one is
 * self-contained: everything it needs comes in through its arguments.
 *
 * @module
 */
import {
  ProcessWorker,
  RemoteWorker,
  spawnServer,
  ThreadWorker,
  type Worker,
  type WorkerContext,
  WorkerTerminatedError,
} from "../mod.ts";

/** The work of part 1. */
function square(x: number): number {
  return x ** 2;
}

/** Where a worker ran, compared with its parent (`server`: the remote one's). */
function where(worker: Worker, server?: string): string {
  const relation = server !== undefined
    ? `a job of the server at ${server}`
    : worker.pid !== worker.parentPid
    ? "another process"
    : worker.tid !== worker.parentTid
    ? "same process, another thread"
    : "same thread";
  return `ran in pid ${worker.pid}, tid ${worker.tid} on ${worker.host} ` +
    `(parent: pid ${worker.parentPid}, tid ${worker.parentTid}; ${relation})`;
}

/**
 * Resolves once `started` does, or rejects if the worker ends first: a
 * target that never reaches its starting point must not hang the demo.
 */
async function startedOrDied<T>(
  worker: Worker,
  started: Promise<T>,
): Promise<T> {
  const died = worker.wait().then(() => {
    throw new Error(
      `The worker ended before its target started: ${worker.error?.message}`,
    );
  });
  died.catch(() => {}); // only `started` matters once it has won
  return await Promise.race([started, died]);
}

/** Part 1: the same function in a thread, in a process and on a server. */
async function compute(): Promise<void> {
  // A server in a child process, on a free port, with a one-time token.
  const token = crypto.randomUUID();
  const server = await spawnServer({ port: 0, token });
  const address = server.address.join(":");
  try {
    const thread = new ThreadWorker({ target: square, args: [3] });
    const process = new ProcessWorker({ target: square, args: [4] });
    const remote = new RemoteWorker({
      target: square,
      args: [5],
      host: server.address,
      token,
    });
    await Promise.all([thread.wait(), process.wait(), remote.wait()]);
    console.log(`thread worker: 3 ** 2 = ${thread.result}, ${where(thread)}`);
    console.log(
      `process worker: 4 ** 2 = ${process.result}, ${where(process)}`,
    );
    console.log(
      `remote worker: 5 ** 2 = ${remote.result}, ${where(remote, address)}`,
    );
  } finally {
    // Drains the server (no job is left), then stops its process.
    await server[Symbol.asyncDispose]();
  }
  console.log(
    `server: pid ${server.pid} stopped (alive: ${server.isAlive()})`,
  );
}

/**
 * Part 2: a thread worker in a loop that cooperates. The target tells the
 * parent it has started through shared memory (a `SharedArrayBuffer` passed
 * as an argument is shared with the thread, not copied).
 */
async function graceful(): Promise<void> {
  const started = new SharedArrayBuffer(4);
  const worker = new ThreadWorker({
    target: (started: SharedArrayBuffer, ctx: WorkerContext): never => {
      const flag = new Int32Array(started);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      for (;;) ctx.throwIfTerminated(); // never yields, yet sees the request
    },
    args: [started],
  });
  const flag = new Int32Array(started);
  // Resolves at once if the target has already stored its 1.
  const waiting = Atomics.waitAsync(flag, 0, 0);
  await startedOrDied(
    worker,
    waiting.async ? waiting.value : Promise.resolve(waiting.value),
  );

  await worker.terminate({ force: false });
  const error = worker.error;
  const forced = error instanceof WorkerTerminatedError ? error.forced : "?";
  console.log(
    `graceful: ${error?.name} (forced: ${forced}); the thread worker's ` +
      "loop stopped at ctx.throwIfTerminated()",
  );
}

/**
 * Part 3: a process worker that ignores every request. The target tells the
 * parent it has started by connecting to a Unix socket the parent listens
 * on, then spins forever.
 */
async function forced(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-demo-" });
  const path = `${dir}/started`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const worker = new ProcessWorker({
      target: async (path: string): Promise<never> => {
        const conn = await Deno.connect({ transport: "unix", path });
        conn.close();
        for (;;) {
          // Ignores everything: no await, no ctx.throwIfTerminated().
        }
      },
      args: [path],
    });
    const conn = await startedOrDied(worker, listener.accept());
    conn.close();

    // Asks, waits 200 ms for the target to stop, then kills the process.
    await worker.terminate({ timeout: 200 });
    const error = worker.error;
    const forced = error instanceof WorkerTerminatedError ? error.forced : "?";
    console.log(
      `forced: ${forced} (${error?.name}); the process worker ignored the ` +
        "request and was killed",
    );
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  await compute();
  await graceful();
  await forced();
}
