/**
 * {@linkcode ProcessWorker}: a target run in a `deno run` subprocess. The
 * message flow is drawn in _backend/process.ts.
 *
 * @module
 */
import { Worker } from "./_core/abstract_worker.ts";
import { registerClass, registerTransport } from "./_core/registry.ts";
import { processTransport } from "./_backend/process.ts";
import { type ArgsOption, type WorkerOptions, WorkerType } from "./types.ts";

/**
 * Runs a target in a new `deno run` subprocess. Arguments and results are
 * structured-cloned (V8 serialization). The target's output goes to this
 * process's stdout and stderr; the protocol uses a private socket.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result.
 *
 * @example Square a number in a subprocess
 * ```ts
 * import { ProcessWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ProcessWorker({ target: (x: number) => x ** 2, args: [5] });
 * await worker.wait();
 * assert.equal(worker.result, 25);
 * assert.notEqual(worker.pid, Deno.pid);
 * ```
 */
export class ProcessWorker<A extends unknown[] = unknown[], R = unknown>
  extends Worker<A, R> {
  /** `WorkerType.PROCESS`. */
  static readonly workerType: WorkerType = WorkerType.PROCESS;
  /** False. */
  static readonly isThread: boolean = false;
  /** True. */
  static readonly isProcess: boolean = true;
  /** False. */
  static readonly isRemote: boolean = false;

  /**
   * Starts the target in a new subprocess.
   *
   * @param options What to run and how; `permissions` become the child's
   * `--allow-*` flags and `env` is added to its environment.
   * @throws {TypeError} If the target cannot be shipped, an argument cannot
   * be cloned, or the permissions are invalid.
   */
  constructor(options: WorkerOptions<A, R> & ArgsOption<A>) {
    super(options);
  }
}

registerTransport(WorkerType.PROCESS, processTransport);
registerClass(ProcessWorker, WorkerType.PROCESS, false);
