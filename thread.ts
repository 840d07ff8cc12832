/**
 * {@linkcode ThreadWorker}: a target run in a Web Worker of this process.
 *
 * @module
 */
import { registerKind, Worker } from "./_base.ts";
import { type Backend, type Core, within } from "./_core.ts";
import { WorkerDiedError } from "./errors.ts";
import { busyThreadNote } from "./_compat.ts";
import { threadPermissions } from "./_permissions.ts";
import { cloneError } from "./_error_codec.ts";
import { unsendableError } from "./_serialize.ts";
import { type WorkerOptions, WorkerType } from "./_types.ts";
import type { ChildMessage, StartMessage } from "./_wire.ts";

const BOOTSTRAP = new URL("./_thread_bootstrap.ts", import.meta.url);

/** How long a forced thread's event loop gets to show it is not stuck. */
const BUSY_PROBE_MS = 20;

function spawnThread(
  core: Core,
  start: StartMessage,
  options: WorkerOptions,
): Backend {
  if (options.env !== undefined) {
    throw new TypeError(
      "Cannot give a thread worker its own environment as threads share " +
        "their process's: use a process worker",
    );
  }
  const permissions = threadPermissions(options.permissions ?? "inherit");
  const flag = new SharedArrayBuffer(4);
  const worker = new globalThis.Worker(BOOTSTRAP, {
    type: "module",
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(permissions === undefined ? {} : { deno: { permissions } }),
  });
  // Whether the thread's event loop saw our terminate request: if not when
  // we must force it, it is stuck in synchronous code (see _compat.ts).
  let terminating = false;
  let started = false;
  const acknowledged = Promise.withResolvers<void>();
  // The protocol's own channel: what the target posts on its global scope
  // reaches worker.onmessage, which we leave alone.
  const { port1: port, port2: childPort } = new MessageChannel();
  port.onmessage = (event: MessageEvent<ChildMessage>) => {
    if (event.data.t === "terminating") {
      terminating = true;
      acknowledged.resolve();
    } else if (event.data.t === "ready") started = true;
    core.onMessage(event.data);
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    core.onExit(
      new WorkerDiedError(
        `Worker ${core.describe()} died of an uncaught error: ${event.message}`,
        { reason: event.message, cause: event.error },
      ),
    );
  };
  port.onmessageerror = () => {
    core.onExit(
      new WorkerDiedError(
        `Worker ${core.describe()} sent a message that could not be read`,
        { reason: "messageerror" },
      ),
    );
  };
  try {
    worker.postMessage({ ...start, flag, port: childPort }, [childPort]);
  } catch (error) {
    port.close();
    worker.terminate();
    throw unsendableError(
      start,
      `worker ${core.describe()}`,
      error,
      cloneError,
    );
  }
  let released = false;
  return {
    waitsForExit: false,
    send: (message) => port.postMessage(message),
    requestTerminate() {
      Atomics.store(new Int32Array(flag), 0, 1);
      port.postMessage({ t: "terminate" });
    },
    async kill() {
      // A free event loop answers within a millisecond; give it a little
      // longer (a zero grace period may not have let it see the request).
      if (!terminating) await within(acknowledged.promise, BUSY_PROBE_MS);
      released = true;
      port.close();
      worker.terminate();
      // Only a thread that got as far as running its target can be stuck in it.
      return terminating || !started ? undefined : busyThreadNote();
    },
    release() {
      if (released) return;
      released = true;
      port.close();
      worker.terminate();
    },
  };
}

/**
 * Runs a target in a Web Worker: a thread of this process, with its own
 * isolate. Arguments and results are structured-cloned.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result.
 *
 * @example Square a number in a thread
 * ```ts
 * import { ThreadWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ThreadWorker({ target: (x: number) => x ** 2, args: [4] });
 * await worker.wait();
 * assert.equal(worker.result, 16);
 * assert.equal(worker.pid, Deno.pid);
 * ```
 */
export class ThreadWorker<A extends unknown[] = unknown[], R = unknown>
  extends Worker<A, R> {
  /** `WorkerType.THREAD`. */
  static readonly workerType: WorkerType = WorkerType.THREAD;
  /** True. */
  static readonly isThread: boolean = true;
  /** False. */
  static readonly isProcess: boolean = false;
  /** False. */
  static readonly isRemote: boolean = false;

  /**
   * Starts the target in a new Web Worker.
   *
   * @param options What to run and how. `permissions` other than "inherit"
   * need Deno's `worker-options` unstable feature.
   * @throws {TypeError} If the target cannot be shipped, an argument cannot
   * be cloned, permissions are invalid or cannot be applied, or `env` is given.
   */
  constructor(options: WorkerOptions<A, R>) {
    super(options);
  }
}

registerKind(ThreadWorker, {
  type: WorkerType.THREAD,
  persistent: false,
  spawn: spawnThread,
  cloneError,
});
