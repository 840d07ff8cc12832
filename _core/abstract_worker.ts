/**
 * The abstract {@linkcode Worker}: the one interface every kind of worker
 * implements, and how a worker object gets its {@linkcode Core} (at
 * construction and at each restart). Kinds are found in the registry
 * (registry.ts), so this file imports no backend.
 *
 * @module
 */
import { activeCores, Core } from "./lifecycle.ts";
import { checkTimeout } from "../_protocol/time.ts";
import { classFor, kindOf } from "./registry.ts";
import {
  currentHost,
  currentTid,
  syntheticThreadId,
} from "../_protocol/ids.ts";
import {
  assertCanStart,
  checkGrant,
  explainStartFailure,
} from "../_permissions/held.ts";
import { describeTarget } from "./target.ts";
import { ownOptions, WORKER_OPTION_NAMES } from "./options.ts";
import {
  type ArgsOption,
  type RemoteOptions,
  type TerminateOptions,
  type WorkerId,
  type WorkerOptions,
  WorkerType,
} from "../types.ts";
import type { StartMessage } from "../_protocol/messages.ts";
import type { PersistentWorker } from "../persistent.ts";

const cores = new WeakMap<object, Core>();
const options_ = new WeakMap<object, WorkerOptions>();

/** The options a worker was created with (for restarts). */
export function optionsOf(worker: object): WorkerOptions {
  return options_.get(worker)!;
}

/**
 * Starts a child for `worker` with a fresh core (at construction, and again
 * for each restart). Throws if the child cannot even be tried.
 */
export function startWorker(
  worker: Worker,
  options: WorkerOptions,
  initState: unknown,
): Core {
  const kind = kindOf(worker.constructor);
  const core = new Core(worker, {
    name: options.name,
    persistent: kind.persistent,
    id: [worker.parentHost, worker.parentPid, worker.parentTid],
    initState,
    kind: WorkerType[kind.type].toLowerCase(),
  });
  cores.set(worker, core);
  if (options.run === false || options.target == null) {
    core.notRun();
    return core;
  }
  try {
    const args = options.args ?? [];
    if (!Array.isArray(args)) {
      throw new TypeError(
        `Cannot use ${Deno.inspect(args)} as args: expected an array`,
      );
    }
    // Before anything is spawned: malformed permissions, or more than this
    // process holds, are refused here for every kind.
    checkGrant(options.permissions, kind.type);
    assertCanStart(kind.type);
    const start: StartMessage = {
      t: "start",
      target: describeTarget(options.target as never),
      args,
      initState,
      persistent: kind.persistent,
      name: options.name,
      userid: options.userid,
      host: worker.parentHost,
      parentId: worker.parentId,
    };
    core.attach(kind.transport.spawn(core.sink, start, options));
  } catch (thrown) {
    const error = explainStartFailure(thrown, kind.type);
    // The worker must not look alive with no child behind it.
    core.fail(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
  return core;
}

/** The core of a worker (for the library's own modules). */
export function coreOf(worker: object): Core {
  return cores.get(worker)!;
}

/** The tid of the thread that creates workers (read once per thread). */
const parentTid = currentTid() ?? syntheticThreadId();

/**
 * A worker runs a target in a thread, a process or on a remote host, behind
 * one interface. Constructors start the worker at once; there is no
 * `start()`.
 *
 * @typeParam A The target's parameters (a trailing `WorkerContext` is not an argument).
 * @typeParam R The target's result.
 *
 * @example Run a function in any kind of worker
 * ```ts
 * import { Worker, WorkerType } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = Worker.create(WorkerType.THREAD, {
 *   target: (x: number) => x ** 2,
 *   args: [3],
 * });
 * assert.equal(await worker.wait(), true);
 * assert.equal(worker.result, 9);
 * ```
 */
export abstract class Worker<A extends unknown[] = unknown[], R = unknown>
  implements AsyncDisposable {
  /** Whether instances are persistent workers. */
  static readonly isPersistent: boolean = false;

  /** The name given to the constructor. */
  readonly name: string | undefined;
  /** The user id given to the constructor. */
  readonly userid: unknown;
  /** Host of the creator. */
  readonly parentHost: string;
  /** Process id of the creator. */
  readonly parentPid: number;
  /** Thread id of the creator. */
  readonly parentTid: number;

  /**
   * Starts the worker (unless `run` is false or there is no target).
   *
   * @param options What to run and how.
   * @throws {TypeError} If the options are not an object, the target cannot
   * be shipped, an argument cannot be cloned, or the permissions are invalid.
   * @throws {Deno.errors.NotCapable} If the permissions grant more than this
   * process holds, or this process lacks what starting the worker needs.
   */
  constructor(options: WorkerOptions<A, R>) {
    const kind = kindOf(new.target); // refuses the abstract classes
    // Own properties only, read once: what the worker runs (and restarts
    // with) cannot come from Object.prototype or change after this call.
    const own = ownOptions(
      options as WorkerOptions,
      [
        ...WORKER_OPTION_NAMES,
        ...(kind.transport.optionNames ?? []) as (keyof WorkerOptions)[],
      ],
      "worker options",
    );
    this.name = own.name;
    this.userid = own.userid;
    this.parentHost = currentHost();
    this.parentPid = Deno.pid;
    this.parentTid = parentTid;
    options_.set(this, own);
    startWorker(this, own, own.initState);
  }

  /**
   * Creates a worker of the given kind. Called on `PersistentWorker`, it
   * creates a persistent one.
   *
   * @param type Where to run: `WorkerType.THREAD`, `PROCESS` or `REMOTE`.
   * @param options As for the kind's constructor.
   * @returns The started worker.
   * @throws {TypeError} If `type` is not a `WorkerType` or that kind is not loaded.
   */
  static create<A extends unknown[], R>(
    this: { readonly isPersistent: true },
    type: WorkerType,
    options: WorkerOptions<A, R> & Partial<RemoteOptions>,
  ): PersistentWorker<A, R>;
  /**
   * Creates a worker of the given kind.
   *
   * @param type Where to run: `WorkerType.THREAD`, `PROCESS` or `REMOTE`.
   * @param options As for the kind's constructor.
   * @returns The started worker.
   * @throws {TypeError} If `type` is not a `WorkerType` or that kind is not loaded.
   */
  static create<A extends unknown[], R>(
    type: WorkerType,
    options: WorkerOptions<A, R> & ArgsOption<A> & Partial<RemoteOptions>,
  ): Worker<A, R>;
  static create<A extends unknown[], R>(
    type: WorkerType,
    options: WorkerOptions<A, R>,
  ): Worker<A, R> {
    const persistent = (this as { isPersistent?: boolean }).isPersistent ??
      false;
    const cls = classFor(type, persistent) as unknown as new (
      options: WorkerOptions<A, R>,
    ) => Worker<A, R>;
    return new cls(options);
  }

  /**
   * The live workers this process created.
   *
   * @returns A snapshot, in creation order.
   */
  static activeChildren(): Worker[] {
    return [...activeCores].map((core) => core.owner as Worker);
  }

  /** Resolves once the child exists and its ids are known; rejects if it could not start. */
  get ready(): Promise<void> {
    return coreOf(this).ready;
  }

  /** The kind of this worker. */
  get workerType(): WorkerType {
    return kindOf(this.constructor).type;
  }
  /** True for thread workers. */
  get isThread(): boolean {
    return this.workerType === WorkerType.THREAD;
  }
  /** True for process workers. */
  get isProcess(): boolean {
    return this.workerType === WorkerType.PROCESS;
  }
  /** True for remote workers. */
  get isRemote(): boolean {
    return this.workerType === WorkerType.REMOTE;
  }
  /** True for persistent workers. */
  get isPersistent(): boolean {
    return kindOf(this.constructor).persistent;
  }

  /** Host running the child (the parent's until `ready`). */
  get host(): string {
    return coreOf(this).host;
  }
  /** Process id of the child (the parent's until `ready`). */
  get pid(): number {
    return coreOf(this).pid;
  }
  /** Thread id of the child (the parent's until `ready`). */
  get tid(): number {
    return coreOf(this).tid;
  }
  /** `[host, pid, tid]` of the child. */
  get id(): WorkerId {
    return [this.host, this.pid, this.tid];
  }
  /** `[host, pid, tid]` of the creator. */
  get parentId(): WorkerId {
    return [this.parentHost, this.parentPid, this.parentTid];
  }

  /**
   * Whether the child may still be running. Conservative: true until the
   * child is known to be gone.
   *
   * @returns False once the worker has finished, failed or been terminated.
   */
  isAlive(): boolean {
    return coreOf(this).alive;
  }

  /**
   * Closes the worker, then waits until it is dead or `timeout` ms passed.
   *
   * @param timeout The longest wait in ms; no limit when omitted.
   * @returns Whether the worker is dead.
   * @throws {RangeError} If `timeout` is negative.
   */
  wait(timeout?: number): Promise<boolean> {
    return coreOf(this).wait(timeout);
  }

  /**
   * Stops the worker: first gracefully (aborts `ctx.signal`, makes
   * `ctx.throwIfTerminated()` throw), then, after `timeout` ms and if
   * `force`, by force. Never hangs.
   *
   * @param options `timeout` (ms, default 1000) and `force` (default true).
   * @returns Whether the worker is dead when it returns.
   * @throws {RangeError} If `timeout` is negative.
   */
  terminate(options?: TerminateOptions): Promise<boolean> {
    const own = ownOptions(
      options,
      ["timeout", "force"],
      "terminate options",
    );
    return coreOf(this).terminate(own.timeout ?? 1000, own.force ?? true);
  }

  /** Says that no more input will come (meaningful for persistent workers). */
  close(): void {
    coreOf(this).close();
  }

  /** The target's return value once it finished gracefully, else undefined. */
  get result(): R | undefined {
    const outcome = coreOf(this).outcome;
    return outcome?.ok ? outcome.value as R : undefined;
  }

  /** What the worker died of, else undefined. */
  get error(): Error | undefined {
    const outcome = coreOf(this).outcome;
    return outcome?.ok === false ? outcome.error : undefined;
  }

  /** Undefined while alive; then whether the worker ended with an error. */
  get hasError(): boolean | undefined {
    const outcome = coreOf(this).outcome;
    return outcome === undefined ? undefined : !outcome.ok;
  }

  /** The last state the child reported (its `initState` until then). */
  get userState(): unknown {
    return coreOf(this).userState;
  }

  /** Closes, waits up to 1000 ms, then terminates. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!(await this.wait(1000))) await this.terminate();
  }
}

/** A scope that closes every live worker when it ends (or when awaited).
 *
 * @example Close everything this process started, now
 * ```ts
 * import { autocloseActiveChildren, ThreadWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * new ThreadWorker({ target: () => 1 });
 * await autocloseActiveChildren({ timeout: 1000 });
 * assert.equal(ThreadWorker.activeChildren().length, 0);
 * ```
 */
export interface ActiveChildrenCloser
  extends AsyncDisposable, PromiseLike<void> {}

/**
 * Closes every live worker this process created, waits up to `timeout` ms
 * for each, then terminates those still alive. Await it to do so now, or
 * hold it with `await using` to do so when the scope ends.
 *
 * @param options `timeout` in ms for each worker's wait and terminate (default 100).
 * @returns A closer: awaitable and async-disposable.
 *
 * @example
 * ```ts
 * import { autocloseActiveChildren, ThreadWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * {
 *   await using _ = autocloseActiveChildren();
 *   new ThreadWorker({ target: () => 1 });
 * }
 * assert.equal(ThreadWorker.activeChildren().length, 0);
 * ```
 */
export function autocloseActiveChildren(
  options?: { timeout?: number },
): ActiveChildrenCloser {
  const own = ownOptions(options, ["timeout"], "autoclose options");
  const timeout = checkTimeout("timeout", own.timeout ?? 100);
  const run = async () => {
    await Promise.all(
      [...activeCores].map(async (core) => {
        if (!(await core.wait(timeout))) await core.terminate(timeout, true);
      }),
    );
  };
  return {
    then(onfulfilled, onrejected) {
      return run().then(onfulfilled, onrejected);
    },
    [Symbol.asyncDispose]: run,
  };
}
