/**
 * Persistent workers: one worker, a stream of inputs. The target runs once
 * per input, in order, without respawning, until the worker is closed.
 *
 * Arguments are captured when an item is submitted (structured-clone
 * semantics): the transport clones them (thread) or serializes them once
 * (process). Each result is sent as its item finishes.
 *
 * Flow control: `enqueue()` never blocks; items wait in the parent until
 * the child has room (it holds at most `window` items not yet answered,
 * {@linkcode PERSISTENT_WINDOW} by default), so a fast producer grows only
 * the parent's queue. A producer that must bound memory awaits `put()`,
 * which resolves once the items queued, in flight and unread together are
 * below `highWaterMark`.
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
import { checkTimeout } from "./_protocol/time.ts";
import { persistentLimits } from "./_core/options.ts";
import type { Core } from "./_core/lifecycle.ts";
import {
  WorkerClosedError,
  WorkerDiedError,
  WorkerTerminatedError,
} from "./errors.ts";
import { asError, decodeError } from "./_protocol/error_codec.ts";
import { unsendableError } from "./_core/unsendable.ts";
import { setChunkCaller } from "./_core/chunk_calls.ts";
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

/** The default `window`: items a child holds at most before results flow back.
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
  /**
   * Items queued, in flight and unread in `results()` together at which
   * `put()` starts waiting: a producer that awaits `put()` holds at most
   * this many, whatever the reader does. @default {4096}
   */
  highWaterMark?: number;
  /**
   * Items the child holds at most before their results come back (a
   * balancing pool wants 1 or 2). @default {1024}
   */
  window?: number;
}

/** The default `highWaterMark`. */
const HIGH_WATER_MARK = 4096;

interface Call {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** An item captured at submit, not yet sent; `bytes` its arguments' size. */
interface Captured {
  item: Item;
  bytes: number;
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
  /** Items captured and not yet sent to the current child, in order. */
  #outbox: Captured[] = [];
  /** Items submitted during a restart: for the next child. */
  #held: Captured[] = [];
  #holding = false;
  /** `close()` was called during a restart: the new child gets `close` after its backlog. */
  #closeHeld = false;
  /**
   * The items sent to the current child and not yet answered (its items in
   * flight), from `#sentHead` on. The child runs them in order, so the
   * first was running when it died; a restart sends the others, which never
   * ran, to the new child.
   */
  #sent: (Captured | undefined)[] = [];
  #sentHead = 0;
  #flushQueued = false;
  #closeSent = false;
  #results: R[] = [];
  /** Whether a `results()` iterator is open (one reader at a time). */
  #reading = false;
  #calls = new Map<number, Call>();
  #waiters: (() => void)[] = [];
  readonly #highWaterMark: number;
  readonly #window: number;
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
   * @throws {RangeError} If `highWaterMark` or `window` is not an integer >= 1
   * (checked before any child is started).
   */
  constructor(options: PersistentWorkerOptions<A, R>) {
    const limits = persistentLimits(options, {
      highWaterMark: HIGH_WATER_MARK,
      window: PERSISTENT_WINDOW,
    });
    super(options as WorkerOptions<A, number>);
    this.#highWaterMark = limits.highWaterMark;
    this.#window = limits.window;
    this.#attach(coreOf(this));
  }

  #attach(core: Core): void {
    core.observe({
      results: (results) => this.#onResults(core, results),
      closed: () => this.#flush(),
      finished: () => this.#onFinish(core),
    });
  }

  #onResults(core: Core, results: readonly ItemResult[]): void {
    for (const result of results) {
      while (
        this.#sentHead < this.#sent.length &&
        this.#sent[this.#sentHead]!.item.seq <= result.seq
      ) {
        // Answered: let go of its arguments now (they may be big).
        this.#sent[this.#sentHead++] = undefined;
      }
      const call = this.#calls.get(result.seq);
      if (call !== undefined) this.#calls.delete(result.seq);
      if (result.ok) {
        if (call !== undefined) call.resolve(result.value);
        else this.#results.push(result.value as R);
        core.itemEnded({
          seq: result.seq,
          call: call !== undefined,
          ok: true,
          value: result.value,
        });
      } else {
        const error = asError(decodeError(result.error));
        call?.reject(error);
        core.itemEnded({
          seq: result.seq,
          call: call !== undefined,
          ok: false,
          error,
          by: "item",
          ran: true,
        });
      }
    }
    // Compact what was answered, now and then (not on every result).
    if (this.#sentHead > 1024 && this.#sentHead * 2 > this.#sent.length) {
      this.#sent = this.#sent.slice(this.#sentHead);
      this.#sentHead = 0;
    }
    this.#flush();
    this.#wakeAll();
  }

  #onFinish(core: Core): void {
    const error = core.outcome?.ok === false ? core.outcome.error : undefined;
    const unanswered = this.#sent.slice(this.#sentHead) as Captured[];
    this.#sent = [];
    this.#sentHead = 0;
    // In order: the first item in flight was running (or next to run).
    const [running, ...behind] = unanswered;
    if (running !== undefined) this.#lost(core, running.item.seq, true, error);
    if (this.#holding && !this.#restartCancelled) {
      // Renewed in place: what never ran goes to the new child, first.
      this.#held = [...behind, ...this.#outbox.splice(0), ...this.#held];
    } else {
      for (const { item } of [...behind, ...this.#outbox.splice(0)]) {
        this.#lost(core, item.seq, false, error);
      }
    }
    this.#wakeAll();
  }

  /**
   * An item its worker's end took: the one running gets the worker's error;
   * the others say that they never ran, and why.
   */
  #lost(
    core: Core,
    seq: number,
    running: boolean,
    error: Error | undefined,
  ): void {
    const why = error ??
      new WorkerClosedError(`${core.describe(true)} ended`);
    const failure = running ? why : new WorkerClosedError(
      `Item never ran as ${core.describe()} ended with: ${why.message}`,
      { cause: why },
    );
    const call = this.#calls.get(seq);
    if (call !== undefined) {
      this.#calls.delete(seq);
      call.reject(failure);
    }
    core.itemEnded({
      seq,
      call: call !== undefined,
      ok: false,
      error: failure,
      // An enqueued item's own throw ends its worker with that error.
      by: running && !(why instanceof WorkerTerminatedError) &&
          !(why instanceof WorkerDiedError)
        ? "item"
        : "worker",
      ran: running,
    });
  }

  #wakeAll(): void {
    if (this.#waiters.length === 0) return;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Items sent to the current child and not yet answered. */
  #inFlight(): number {
    return this.#sent.length - this.#sentHead;
  }

  /** Items queued, in flight and unread: what `put()` bounds. */
  #load(): number {
    return this.#outbox.length + this.#held.length +
      this.#inFlight() + this.#results.length;
  }

  /** Takes the next unread result (there is one), and lets a waiting `put()` go on. */
  #take(): R {
    const value = this.#results.shift()!;
    if (this.#waiters.length > 0) this.#wakeAll();
    return value;
  }

  /** Whether more results may come: alive, or renewing in place. */
  #open(): boolean {
    return this.isAlive() || this.#holding;
  }

  /** Sends queued items while the child has room; then `close` if asked. */
  #flush(): void {
    this.#flushQueued = false;
    const core = coreOf(this);
    if (!core.alive) return;
    // Refill only once half the window is free: topping it up after every
    // result would split the stream into one message per item.
    let room = this.#window - this.#inFlight();
    if (room * 2 >= this.#window) {
      while (room > 0 && this.#outbox.length > 0) {
        // A message holds at most BATCH_BYTES of arguments (one item at least).
        let count = 0;
        let bytes = 0;
        while (
          count < room && count < this.#outbox.length &&
          (count === 0 || bytes + this.#outbox[count]!.bytes <= BATCH_BYTES)
        ) bytes += this.#outbox[count++]!.bytes;
        const entries = this.#outbox.splice(0, count);
        for (const entry of entries) this.#sent.push(entry);
        room -= count;
        core.send({ t: "items", items: entries.map((entry) => entry.item) });
      }
    }
    if (core.closed && this.#outbox.length === 0 && !this.#closeSent) {
      this.#closeSent = true;
      core.send({ t: "close" });
    }
  }

  #submit(args: unknown[], call: boolean, chunk = false): number {
    const core = coreOf(this);
    // During a restart, items wait for the new child (unless closed meanwhile).
    const holding = this.#holding && !this.#restartCancelled &&
      !this.#closeHeld;
    if (!holding && (core.closed || !core.alive)) {
      throw new WorkerClosedError(
        `Cannot enqueue to ${core.describe()} as it is ${
          core.alive ? "closed" : "no longer alive"
        }`,
      );
    }
    // Captured now: later changes to the arguments must not reach the child.
    const transport = this.#kind.transport;
    let captured: { args: Item["args"]; bytes: number };
    try {
      captured = transport.capture(args);
    } catch (error) {
      if (error instanceof RangeError) {
        throw new RangeError(
          `Cannot send an item to ${core.describe()} as it is too large: ${error.message}`,
          { cause: error },
        );
      }
      throw unsendableError(
        { args },
        core.describe(),
        error,
        transport.cloneError,
      );
    }
    const seq = this.#seq++;
    const entry = {
      item: chunk
        ? { seq, args: captured.args, call, chunk }
        : { seq, args: captured.args, call },
      bytes: captured.bytes,
    };
    if (holding) {
      this.#held.push(entry);
      return seq;
    }
    this.#outbox.push(entry);
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
   * Queues one call, first waiting until the items queued, in flight and
   * unread in `results()` together are below `highWaterMark`: a producer
   * that awaits it keeps memory bounded, whatever the reader does.
   *
   * @param args As for `enqueue`.
   * @returns Resolves once the item is queued.
   * @throws {WorkerClosedError} If the worker is closed or no longer alive.
   */
  async put(...args: Partial<TargetArgs<A>>): Promise<void> {
    while (this.#load() >= this.#highWaterMark && this.#open()) {
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

  static {
    // A pool's chunk: a call whose items the child runs as items of their own.
    setChunkCaller((worker, lists) => {
      const self = worker as PersistentWorker;
      let seq: number;
      try {
        seq = self.#submit([lists], true, true);
      } catch (error) {
        return Promise.reject(error);
      }
      return new Promise((resolve, reject) => {
        self.#calls.set(seq, {
          resolve: resolve as (v: unknown) => void,
          reject,
        });
      });
    });
  }

  /**
   * The values of `enqueue`d items in the order processed. Ends once the
   * worker has finished and every value was yielded; a `restart()` does not
   * end it. One reader at a time: it is one consuming stream, so a second
   * iterator read while another is open throws rather than split it.
   *
   * @returns An async iterator over the results.
   * @throws {TypeError} If another `results()` iterator is still open.
   */
  async *results(): AsyncIterableIterator<R> {
    if (this.#reading) {
      throw new TypeError(
        `Cannot read results() of ${
          coreOf(this).describe()
        } twice at once as it is one stream: finish or break out of the other loop first`,
      );
    }
    this.#reading = true;
    try {
      for (;;) {
        if (this.#results.length > 0) {
          yield this.#take();
          continue;
        }
        if (!this.#open()) return;
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    } finally {
      this.#reading = false;
    }
  }

  /**
   * The next value of the `results()` stream.
   *
   * @param timeout The longest wait in ms; no limit when omitted.
   * @returns The next result.
   * @throws {WorkerClosedError} If the worker has finished and no result is left.
   * @throws {DOMException} A `TimeoutError` if none came within `timeout`.
   * @throws {RangeError} If `timeout` is not a number of milliseconds >= 0.
   */
  async nextResult(timeout?: number): Promise<R> {
    const deadline = timeout === undefined
      ? Infinity
      : Date.now() + checkTimeout("timeout", timeout);
    for (;;) {
      if (this.#results.length > 0) return this.#take();
      if (!this.#open()) {
        throw new WorkerClosedError(
          `No result is left as ${coreOf(this).describe()} has finished`,
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
   * Renews the worker in place: waits for the current child to finish what
   * it was sent (terminating it, through the usual ladder, if it does not
   * within `timeout`: its item running then fails with the termination
   * error, and the items behind it, which never ran, go to the new child
   * first), then starts a fresh child of the same kind and
   * options, whose `initState` is the last reported `userState`. Meanwhile
   * `enqueue()`, `put()` and `call()` go on: their items wait for the new
   * child. `results()` goes on across it and keeps unread results. The
   * item counter starts again at zero.
   *
   * @param timeout How long the current child may take to finish, in ms. @default {1000}
   * @returns Resolves when the new child is ready; rejects with a `RangeError`
   * if `timeout` is not a number of milliseconds >= 0.
   */
  restart(timeout = 1000): Promise<void> {
    try {
      checkTimeout("timeout", timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    // One restart at a time: a second call joins the first.
    if (this.#restarting === undefined) {
      this.#holding = true;
      this.#restarting = this.#restart(timeout).finally(() => {
        this.#restarting = undefined;
        this.#restartCancelled = false;
      });
    }
    return this.#restarting;
  }

  async #restart(timeout: number): Promise<void> {
    let core: Core;
    try {
      // super: our own terminate() would cancel this restart.
      if (!(await this.wait(timeout))) await super.terminate();
      if (this.#restartCancelled) {
        throw new WorkerTerminatedError(
          `Cannot restart ${
            coreOf(this).describe()
          } as it was terminated meanwhile`,
        );
      }
      this.#closeSent = false;
      core = startWorker(this, optionsOf(this), this.userState);
    } catch (error) {
      // No new child: what waited for it never runs.
      this.#holding = false;
      const old = coreOf(this);
      for (const { item } of this.#held.splice(0)) {
        this.#lost(old, item.seq, false, asError(error));
      }
      this.#wakeAll();
      throw error;
    }
    this.#attach(core);
    this.#outbox = this.#held;
    this.#held = [];
    this.#holding = false;
    if (this.#closeHeld) {
      this.#closeHeld = false;
      core.close(); // sends `close` after the backlog
    }
    this.#flush();
    this.#wakeAll();
    await this.ready;
  }

  /**
   * Says that no more input will come. During a `restart()`, the new child
   * is closed once it has the items submitted before this call.
   */
  override close(): void {
    if (this.#holding) this.#closeHeld = true;
    super.close();
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
