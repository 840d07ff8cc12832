/**
 * The errors this library raises: the ones users catch and test with
 * `instanceof`. Each keeps `name`, accepts `cause`, and carries what is known.
 * Errors that cross from a worker to its parent are rebuilt as instances of
 * these classes (see `_protocol/error_codec.ts`).
 *
 * @module
 */

/**
 * Raised inside a worker when termination is requested (through
 * `ctx.throwIfTerminated()` or as `ctx.signal.reason`), and reported by the
 * parent as the worker's `error` once it has been terminated.
 *
 * @example Recognise a terminated worker
 * ```ts
 * import { ThreadWorker, WorkerTerminatedError } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ThreadWorker({
 *   target: async (ctx: { signal: AbortSignal }) => {
 *     await new Promise((_, reject) => {
 *       if (ctx.signal.aborted) reject(ctx.signal.reason);
 *       ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
 *     });
 *   },
 * });
 * await worker.ready;
 * assert.equal(await worker.terminate(), true);
 * assert.ok(worker.error instanceof WorkerTerminatedError);
 * assert.equal((worker.error as WorkerTerminatedError).forced, false);
 * ```
 */
export class WorkerTerminatedError extends Error {
  /** True when the worker had to be stopped by force (it ignored the request). */
  readonly forced: boolean;

  /**
   * Creates the error.
   *
   * @param message What happened.
   * @param options `forced` and an optional `cause`.
   */
  constructor(
    message = "Worker was terminated",
    options: ErrorOptions & { forced?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "WorkerTerminatedError";
    this.forced = options.forced ?? false;
  }
}

/** What is known about how a worker died.
 *
 * @example
 * ```ts
 * import { WorkerDiedError } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const error = new WorkerDiedError("killed", { signal: "SIGKILL", exitCode: 137 });
 * assert.equal(error.signal, "SIGKILL");
 * ```
 */
export interface WorkerDiedErrorOptions extends ErrorOptions {
  /** The exit code of the worker's process or thread, if it exited. */
  exitCode?: number;
  /** The signal that killed the worker's process, if any. */
  signal?: Deno.Signal;
  /** A short description of the cause, when no code or signal tells it. */
  reason?: string;
}

/**
 * The worker died unexpectedly: its process crashed, exited on its own, was
 * killed from outside, or its connection was lost. Carries what is known.
 *
 * @example Inspect an unexpected exit
 * ```ts
 * import { ProcessWorker, WorkerDiedError } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ProcessWorker({ target: () => Deno.exit(3) });
 * await worker.wait();
 * assert.ok(worker.error instanceof WorkerDiedError);
 * assert.equal((worker.error as WorkerDiedError).exitCode, 3);
 * ```
 */
export class WorkerDiedError extends Error {
  /** The exit code, if the worker exited. */
  readonly exitCode: number | undefined;
  /** The signal that killed the worker's process, if any. */
  readonly signal: Deno.Signal | undefined;
  /** A short description of the cause, when no code or signal tells it. */
  readonly reason: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What happened.
   * @param options What is known: exit code, signal, reason, cause.
   */
  constructor(message: string, options: WorkerDiedErrorOptions = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "WorkerDiedError";
    this.exitCode = options.exitCode;
    this.signal = options.signal;
    this.reason = options.reason;
  }
}

/**
 * Input was given to a persistent worker that is closed or no longer alive.
 *
 * @example
 * ```ts
 * import { WorkerClosedError } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const error = new WorkerClosedError("Cannot enqueue as the worker is closed");
 * assert.equal(error.name, "WorkerClosedError");
 * ```
 */
export class WorkerClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was refused and why.
   * @param options An optional `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerClosedError";
  }
}

/**
 * A remote link failed authentication: the peer's proof of the shared token
 * was wrong (a different token, or not a pyworkers peer at all), or the
 * server refused this client's proof. Nothing is sent to such a peer.
 *
 * @example
 * ```ts
 * import { AuthenticationError } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const error = new AuthenticationError(
 *   "Cannot authenticate the server as its proof of the token is wrong",
 * );
 * assert.equal(error.name, "AuthenticationError");
 * ```
 */
export class AuthenticationError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was refused and why.
   * @param options An optional `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthenticationError";
  }
}

/** One item a pool run could not do: its arguments and why.
 *
 * @typeParam A The item's arguments.
 *
 * @example
 * ```ts
 * import type { PoolFailure } from "jsr:@x/pyworkers";
 *
 * const failure: PoolFailure<[number]> = { args: [2], error: new Error("no") };
 * console.log(failure.args); // [ 2 ]
 * ```
 */
export interface PoolFailure<A extends readonly unknown[] = unknown[]> {
  /** The arguments the item was run with. */
  readonly args: A;
  /** Its own error, a `TimeoutError`-named one past its deadline, or why it never ran. */
  readonly error: Error;
}

/**
 * A pool run did not do every item: some failed (their own call threw,
 * they overran their deadline, they killed 3 workers) or could not be run
 * (no worker was left). Carries what succeeded and each failure.
 *
 * @typeParam A The items' arguments.
 * @typeParam R The items' results.
 *
 * @example Partial results and failures of a run
 * ```ts
 * import { Pool, PoolError, WorkerType } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool({
 *   target: (x: number) => {
 *     if (x === 2) throw new RangeError("not 2");
 *     return x * 10;
 *   },
 * });
 * pool.addWorker(WorkerType.THREAD);
 * const error = await pool.run([[1], [2], [3]]).catch((e) => e);
 * assert.ok(error instanceof PoolError);
 * assert.deepEqual([...error.results].sort(), [10, 30]);
 * assert.deepEqual(error.failures[0]!.args, [2]);
 * assert.equal(error.failures[0]!.error.name, "RangeError");
 * ```
 */
export class PoolError<A extends readonly unknown[] = unknown[], R = unknown>
  extends Error {
  /** The values of the items that succeeded, in completion order. */
  readonly results: R[];
  /** Each item that failed or was not done, with its arguments and error. */
  readonly failures: PoolFailure<A>[];

  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options The partial `results`, the `failures` and an optional `cause`.
   */
  constructor(
    message: string,
    options: ErrorOptions & {
      results?: R[];
      failures?: PoolFailure<A>[];
    } = {},
  ) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "PoolError";
    this.results = options.results ?? [];
    this.failures = options.failures ?? [];
  }
}
