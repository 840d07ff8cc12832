/**
 * Persistent workers: one worker, a stream of inputs. The target runs once
 * per input, in order, without respawning, until the worker is closed.
 *
 * Flow control: `enqueue()` never blocks; items wait in the parent until
 * the child has room (it holds at most {@linkcode PERSISTENT_WINDOW} items
 * not yet answered), so a fast producer grows only the parent's queue. A
 * producer that must bound memory awaits `put()`, which resolves once the
 * parent's queue is below `highWaterMark`.
 *
 * @module
 */
import {
  coreOf,
  optionsOf,
  startWorker,
  Worker,
} from "./_core/abstract_worker.ts";
import { type Kind, kindOf, registerClass } from "./_core/registry.ts";
import type { Core } from "./_core/lifecycle.ts";
import { WorkerClosedError, WorkerTerminatedError } from "./errors.ts";
import { asError, decodeError } from "./_protocol/error_codec.ts";
import { MAX_MESSAGE_BYTES } from "./_protocol/v8.ts";
import { unsendableError } from "./_core/unsendable.ts";
import "./process.ts";
import "./thread.ts";
import {
  type TargetArgs,
  type TerminateOptions,
  type WorkerOptions,
  WorkerType,
} from "./types.ts";
import type { Item, ItemResult } from "./_protocol/messages.ts";

/** The most argument bytes one message to a child carries (one item at least). */
const BATCH_BYTES = 64 * 1024 * 1024;

/** Items a child holds at most before results flow back.
 *
 * @example
 * ```ts
 * import { PERSISTENT_WINDOW } from "jsr:@x/pyworkers";
 *
 * console.log(PERSISTENT_WINDOW); // 1024
 * ```
 */
export const PERSISTENT_WINDOW = 1024;

/** Options of persistent workers.
 *
 * @example A producer with bounded memory
 * ```ts
 * import { PersistentThreadWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new PersistentThreadWorker({
 *   target: (x: number) => x,
 *   highWaterMark: 100,
 * });
 * let sum = 0;
 * const consumer = (async () => {
 *   for await (const value of worker.results()) sum += value;
 * })();
 * for (let i = 0; i < 1000; i++) await worker.put(i); // waits for room
 * await worker.wait();
 * await consumer;
 * assert.equal(sum, 499500);
 * ```
 */
export interface PersistentWorkerOptions<
  A extends unknown[] = unknown[],
  R = unknown,
> extends WorkerOptions<A, R> {
  /** Queued items at which `put()` starts waiting. @default {4096} */
  highWaterMark?: number;
}

interface Call {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * A worker that runs its target once per input until closed. Create one
 * with a kind's class or `PersistentWorker.create(type, options)`.
 *
 * - `enqueue(...args)` queues one call; the enqueued arguments replace the
 *   leading default `args`. Its value goes to `results()`; if it throws, the
 *   worker ends with that error (after the results before it).
 * - `call(...args)` runs one item with its own promise: a failure rejects
 *   only that promise, and its value never appears in `results()`.
 * - `result` is the number of items processed once the worker has ended
 *   without error.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example Stream inputs through one worker
 * ```ts
 * import { PersistentThreadWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new PersistentThreadWorker({ target: (x: number) => x * 2 });
 * for (const x of [1, 2, 3]) worker.enqueue(x);
 * assert.equal(await worker.call(10), 20);
 * await worker.wait();
 * assert.deepEqual(await Array.fromAsync(worker.results()), [2, 4, 6]);
 * assert.equal(worker.result, 4);
 * ```
 */
export abstract class PersistentWorker<
  A extends unknown[] = unknown[],
  R = unknown,
> extends Worker<A, number> {
  /** Whether instances are persistent workers: true. */
  static override readonly isPersistent: true = true;

  #seq = 0;
  #outbox: { item: Item; bytes: number }[] = [];
  #inFlight = 0;
  #flushQueued = false;
  #closeSent = false;
  #results: R[] = [];
  #calls = new Map<number, Call>();
  #waiters: (() => void)[] = [];
  #highWaterMark: number;
  /** This class's kind, looked up once: `#submit` runs for every item. */
  readonly #kind: Kind = kindOf(this.constructor);
  #restarting: Promise<void> | undefined;
  #restartCancelled = false;

  /**
   * Starts the worker; it then waits for input.
   *
   * @param options What to run and how; `args` are the defaults each item's
   * arguments replace from the left.
   * @throws {TypeError} As for the kind's non-persistent worker.
   */
  constructor(options: PersistentWorkerOptions<A, R>) {
    super(options as WorkerOptions<A, number>);
    const highWaterMark = options.highWaterMark ?? 4096;
    if (!Number.isInteger(highWaterMark) || highWaterMark < 1) {
      throw new RangeError(
        `Cannot use highWaterMark ${highWaterMark}: expected an integer >= 1`,
      );
    }
    this.#highWaterMark = highWaterMark;
    this.#attach(coreOf(this));
  }

  #attach(core: Core): void {
    core.onResults = (results) => this.#onResults(results);
    core.onFinish = () => this.#onFinish(core);
    core.onClose = () => this.#flush();
  }

  #onResults(results: readonly ItemResult[]): void {
    this.#inFlight -= results.length;
    for (const result of results) {
      const call = this.#calls.get(result.seq);
      if (call !== undefined) {
        this.#calls.delete(result.seq);
        if (result.ok) call.resolve(result.value);
        else call.reject(asError(decodeError(result.error)));
      } else if (result.ok) {
        this.#results.push(result.value as R);
      }
    }
    this.#flush();
    this.#wakeAll();
  }

  #onFinish(core: Core): void {
    this.#outbox = [];
    const error = core.outcome?.ok === false
      ? core.outcome.error
      : new WorkerClosedError("The worker ended before running this item");
    for (const call of this.#calls.values()) call.reject(error);
    this.#calls.clear();
    this.#wakeAll();
  }

  #wakeAll(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Sends queued items while the child has room; then `close` if asked. */
  #flush(): void {
    this.#flushQueued = false;
    const core = coreOf(this);
    if (!core.alive) return;
    // Refill only once half the window is free: topping it up after every
    // small batch of results would split the stream into ever smaller
    // messages (and the child flushes early whenever it runs dry).
    let room = PERSISTENT_WINDOW - this.#inFlight;
    if (room >= PERSISTENT_WINDOW / 2) {
      while (room > 0 && this.#outbox.length > 0) {
        // A message holds at most BATCH_BYTES of arguments (one item at least).
        let count = 0;
        let bytes = 0;
        while (
          count < room && count < this.#outbox.length &&
          (count === 0 || bytes + this.#outbox[count]!.bytes <= BATCH_BYTES)
        ) bytes += this.#outbox[count++]!.bytes;
        const entries = this.#outbox.splice(0, count);
        this.#inFlight += count;
        room -= count;
        core.send({ t: "items", items: entries.map((entry) => entry.item) });
      }
    }
    if (core.closed && this.#outbox.length === 0 && !this.#closeSent) {
      this.#closeSent = true;
      core.send({ t: "close" });
    }
  }

  #submit(args: unknown[], call: boolean): number {
    const core = coreOf(this);
    if (core.closed || !core.alive) {
      throw new WorkerClosedError(
        `Cannot enqueue to worker ${core.describe()} as it is ${
          core.alive ? "closed" : "no longer alive"
        }`,
      );
    }
    // Checked here so the caller gets the error, not the whole batch later.
    const kind = this.#kind;
    let bytes = 0;
    for (const arg of args) {
      const error = kind.transport.cloneError(arg);
      if (error !== undefined) {
        throw unsendableError(
          { args },
          `worker ${core.describe()}`,
          error,
          kind.transport.cloneError,
        );
      }
      bytes += kind.transport.sizeOf?.(arg) ?? 0;
    }
    if (bytes > MAX_MESSAGE_BYTES) {
      throw new RangeError(
        `Cannot send an item of ${bytes} bytes to worker ${core.describe()} as the limit is ${MAX_MESSAGE_BYTES}`,
      );
    }
    const seq = this.#seq++;
    this.#outbox.push({ item: { seq, args, call }, bytes });
    if (!this.#flushQueued) {
      // Batch every item enqueued in this turn into one message.
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
    return seq;
  }

  /**
   * Queues one call of the target. Never blocks.
   *
   * @param args Arguments that replace the leading default `args`.
   * @throws {WorkerClosedError} If the worker is closed or no longer alive.
   * @throws {TypeError} If an argument cannot be cloned.
   */
  enqueue(...args: Partial<TargetArgs<A>>): void {
    this.#submit(args, false);
  }

  /**
   * Queues one call, first waiting until the parent's queue is below
   * `highWaterMark`: a producer that awaits it keeps memory bounded.
   *
   * @param args As for `enqueue`.
   * @returns Resolves once the item is queued.
   * @throws {WorkerClosedError} If the worker is closed or no longer alive.
   */
  async put(...args: Partial<TargetArgs<A>>): Promise<void> {
    while (this.#outbox.length >= this.#highWaterMark && this.isAlive()) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#submit(args, false);
  }

  /**
   * Runs one item with its own promise. Its failure rejects only this
   * promise; the worker goes on. Its value does not appear in `results()`.
   *
   * @param args As for `enqueue`.
   * @returns The target's value for this item.
   * @throws {WorkerClosedError} If the worker is closed, or ends before the item runs.
   */
  call(...args: Partial<TargetArgs<A>>): Promise<R> {
    let seq: number;
    try {
      seq = this.#submit(args, true);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<R>((resolve, reject) => {
      this.#calls.set(seq, {
        resolve: resolve as (v: unknown) => void,
        reject,
      });
    });
  }

  /**
   * The values of `enqueue`d items in the order processed. Ends once the
   * worker has finished and every value was yielded. One reader only.
   *
   * @returns An async iterator over the results.
   */
  async *results(): AsyncIterableIterator<R> {
    for (;;) {
      if (this.#results.length > 0) {
        yield this.#results.shift()!;
        continue;
      }
      if (!this.isAlive()) return;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /**
   * The next value of the `results()` stream.
   *
   * @param timeout The longest wait in ms; no limit when omitted.
   * @returns The next result.
   * @throws {WorkerClosedError} If the worker has finished and no result is left.
   * @throws {DOMException} A `TimeoutError` if none came within `timeout`.
   */
  async nextResult(timeout?: number): Promise<R> {
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    for (;;) {
      if (this.#results.length > 0) return this.#results.shift()!;
      if (!this.isAlive()) {
        throw new WorkerClosedError(
          `No result is left as worker ${coreOf(this).describe()} has finished`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new DOMException("No result came in time", "TimeoutError");
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake: () => void = () => {};
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiters.push(resolve);
        if (left < 2 ** 31) timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      // A timed-out wait leaves the list (polling must not grow it).
      const index = this.#waiters.indexOf(wake);
      if (index >= 0) this.#waiters.splice(index, 1);
    }
  }

  /**
   * Renews the worker in place: waits for the current child to finish its
   * queue (terminating it if it does not within `timeout`), then starts a
   * fresh child of the same kind and options, whose `initState` is the last
   * reported `userState`. The item counter starts again at zero.
   *
   * @param timeout How long the current child may take to finish, in ms. @default {1000}
   * @returns Resolves when the new child is ready.
   */
  restart(timeout = 1000): Promise<void> {
    // One restart at a time: a second call joins the first.
    this.#restarting ??= this.#restart(timeout).finally(() => {
      this.#restarting = undefined;
      this.#restartCancelled = false;
    });
    return this.#restarting;
  }

  async #restart(timeout: number): Promise<void> {
    // super: our own terminate() would cancel this restart.
    if (!(await this.wait(timeout))) await super.terminate();
    if (this.#restartCancelled) {
      throw new WorkerTerminatedError(
        `Cannot restart worker ${
          coreOf(this).describe()
        } as it was terminated meanwhile`,
      );
    }
    const state = this.userState;
    this.#seq = 0;
    this.#inFlight = 0;
    this.#closeSent = false;
    this.#results = [];
    this.#attach(startWorker(this, optionsOf(this), state));
    await this.ready;
  }

  /**
   * Stops the worker as `Worker.terminate()` does. During a `restart()`, it
   * also keeps the restart from starting a new child.
   *
   * @param options `timeout` (ms, default 1000) and `force` (default true).
   * @returns Whether the worker is dead when it returns.
   */
  override terminate(options: TerminateOptions = {}): Promise<boolean> {
    if (this.#restarting !== undefined) this.#restartCancelled = true;
    return super.terminate(options);
  }
}

/**
 * A persistent worker in a Web Worker of this process.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import { PersistentThreadWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using worker = new PersistentThreadWorker({ target: (x: number) => x + 1 });
 * assert.equal(await worker.call(1), 2);
 * ```
 */
export class PersistentThreadWorker<
  A extends unknown[] = unknown[],
  R = unknown,
> extends PersistentWorker<A, R> {
  /** `WorkerType.THREAD`. */
  static readonly workerType: WorkerType = WorkerType.THREAD;
  /** True. */
  static readonly isThread: boolean = true;
  /** False. */
  static readonly isProcess: boolean = false;
  /** False. */
  static readonly isRemote: boolean = false;
}

/**
 * A persistent worker in a `deno run` subprocess.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import { PersistentProcessWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using worker = new PersistentProcessWorker({ target: (x: number) => x + 1 });
 * assert.equal(await worker.call(1), 2);
 * ```
 */
export class PersistentProcessWorker<
  A extends unknown[] = unknown[],
  R = unknown,
> extends PersistentWorker<A, R> {
  /** `WorkerType.PROCESS`. */
  static readonly workerType: WorkerType = WorkerType.PROCESS;
  /** False. */
  static readonly isThread: boolean = false;
  /** True. */
  static readonly isProcess: boolean = true;
  /** False. */
  static readonly isRemote: boolean = false;
}

// The same transports as their one-shot twins, in persistent mode.
registerClass(PersistentThreadWorker, WorkerType.THREAD, true);
registerClass(PersistentProcessWorker, WorkerType.PROCESS, true);
