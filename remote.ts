/**
 * {@linkcode RemoteWorker} and {@linkcode PersistentRemoteWorker}: a
 * target run as a job on a pyworkers server (`deno task server`), each job
 * in its own subprocess there. The link is drawn in _backend/remote.ts.
 *
 * @module
 */
import { Worker } from "./_core/abstract_worker.ts";
import { registerClass, registerTransport } from "./_core/registry.ts";
import { remoteTransport } from "./_backend/remote.ts";
import {
  PersistentWorker,
  type PersistentWorkerOptions,
} from "./persistent.ts";
import {
  type ArgsOption,
  type RemoteOptions,
  type WorkerOptions,
  WorkerType,
} from "./types.ts";

/**
 * Runs a target on a pyworkers server. Arguments and results are
 * structured-cloned (V8 serialization), as for a process worker; the
 * job's output reaches this process's stdout and stderr. Its permissions
 * are asked of the server, which grants at most its ceiling (omitted: none).
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result.
 *
 * @example Square a number on a server
 * ```ts
 * import { RemoteServer, RemoteWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using server = new RemoteServer({ port: 0, log: () => {} });
 * await server.serve();
 * const worker = new RemoteWorker({
 *   target: (x: number) => x ** 2,
 *   args: [7],
 *   host: server.address,
 * });
 * await worker.wait();
 * assert.equal(worker.result, 49);
 * ```
 */
export class RemoteWorker<A extends unknown[] = unknown[], R = unknown>
  extends Worker<A, R> {
  /** `WorkerType.REMOTE`. */
  static readonly workerType: WorkerType = WorkerType.REMOTE;
  /** False. */
  static readonly isThread: boolean = false;
  /** False. */
  static readonly isProcess: boolean = false;
  /** True. */
  static readonly isRemote: boolean = true;

  /**
   * Starts the target on the server at `host`.
   *
   * @param options What to run, where (`host`, `token`, `tls`) and what it
   * may do there (`permissions`, within the server's ceiling).
   * @throws {TypeError} If the target cannot be shipped, an argument cannot
   * be cloned, or an option is invalid.
   */
  constructor(options: WorkerOptions<A, R> & ArgsOption<A> & RemoteOptions) {
    super(options);
  }
}

/**
 * A persistent worker on a pyworkers server.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import { PersistentRemoteWorker, RemoteServer } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using server = new RemoteServer({ port: 0, log: () => {} });
 * await server.serve();
 * await using worker = new PersistentRemoteWorker({
 *   target: (x: number) => x + 1,
 *   host: server.address,
 * });
 * assert.equal(await worker.call(1), 2);
 * ```
 */
export class PersistentRemoteWorker<
  A extends unknown[] = unknown[],
  R = unknown,
> extends PersistentWorker<A, R> {
  /** `WorkerType.REMOTE`. */
  static readonly workerType: WorkerType = WorkerType.REMOTE;
  /** False. */
  static readonly isThread: boolean = false;
  /** False. */
  static readonly isProcess: boolean = false;
  /** True. */
  static readonly isRemote: boolean = true;

  /**
   * Starts the target on the server at `host`, waiting for items.
   *
   * @param options As for {@linkcode RemoteWorker}, plus the persistent limits.
   */
  constructor(options: PersistentWorkerOptions<A, R> & RemoteOptions) {
    super(options);
  }
}

registerTransport(WorkerType.REMOTE, remoteTransport);
registerClass(RemoteWorker, WorkerType.REMOTE, false);
registerClass(PersistentRemoteWorker, WorkerType.REMOTE, true);
