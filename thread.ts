/**
 * {@linkcode ThreadWorker}: a target run in a Web Worker of this process.
 *
 * @module
 */
import { Worker } from "./_core/abstract_worker.ts";
import { registerClass, registerTransport } from "./_core/registry.ts";
import { threadTransport } from "./_backend/thread.ts";
import { type ArgsOption, type WorkerOptions, WorkerType } from "./types.ts";

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
  constructor(options: WorkerOptions<A, R> & ArgsOption<A>) {
    super(options);
  }
}

registerTransport(WorkerType.THREAD, threadTransport);
registerClass(ThreadWorker, WorkerType.THREAD, false);
