/**
 * The child side of every worker: runs the target once, or (persistent)
 * once per input item, and reports to the parent. Thread and process
 * bootstraps differ only in how messages travel, so they both hand their
 * messages to a {@linkcode ChildRuntime}.
 *
 * @module
 */
import { WorkerTerminatedError } from "../errors.ts";
import { type Encoded, encodeError } from "../_protocol/error_codec.ts";
import { loadTarget } from "./load_target.ts";
import {
  type ChunkArgs,
  countLists,
  listAt,
  type PackedLists,
} from "../_protocol/chunk_pack.ts";
import type { WorkerContext, WorkerId, WorkerInfo } from "../types.ts";
import type {
  ChildMessage,
  ChunkResult,
  Item,
  ItemResult,
  ParentMessage,
  StartMessage,
} from "../_protocol/messages.ts";

/** How a child sends to its parent. `send` throws at once if a value cannot be cloned. */
export interface ChildTransport {
  send(message: ChildMessage): void;
  /** Why a value cannot be sent this way, or undefined. */
  cloneError(value: unknown): unknown;
  /**
   * Undefined when everything sent has left this process; else resolves
   * once it has (a process's socket writer with frames still queued).
   */
  pending?(): Promise<void> | undefined;
  /**
   * Returns once everything sent has left this process (bounded). Called
   * before an item when the one before it awaited (see `#loop`).
   */
  flush?(): void;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown })?.then === "function";
}

/**
 * The most items of a chunk run between two reads of the poll's clock
 * (see `#runChunk`): it bounds how long a stop waits when fast items turn
 * slow.
 */
const POLL_STRIDE = 32;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Runs one worker's target inside the child. */
export class ChildRuntime {
  readonly #start: StartMessage;
  readonly #flag: Int32Array;
  readonly #transport: ChildTransport;
  readonly #controller = new AbortController();
  /**
   * Whether `#controller` was aborted: read per item, where the signal's
   * `aborted` getter (a Web IDL brand check) cost more than the item.
   */
  #aborted = false;
  readonly #queue: Item[] = [];
  #closed = false;
  #wake: (() => void) | undefined;
  /** Set when an enqueued item's value could not be sent: the worker ends with it. */
  #fatal: Error | undefined;
  #count = 0;
  readonly context: WorkerContext;

  readonly #poll: (() => boolean) | undefined;
  #polledAt = 0;

  /**
   * @param poll Asks whether a stop was requested out of band, when the
   * flag alone cannot tell (a process child reads its control file: see
   * _child/process_entry.ts). Called at most once per millisecond.
   */
  constructor(
    start: StartMessage,
    flag: Int32Array,
    transport: ChildTransport,
    ids: { host: string; pid: number; tid: number },
    poll?: () => boolean,
  ) {
    this.#start = start;
    this.#flag = flag;
    this.#poll = poll;
    this.#transport = transport;
    const id: WorkerId = [ids.host, ids.pid, ids.tid];
    const worker: WorkerInfo = {
      host: ids.host,
      pid: ids.pid,
      tid: ids.tid,
      id,
      name: start.name,
      userid: start.userid,
    };
    this.context = {
      signal: this.#controller.signal,
      throwIfTerminated: (): void => this.#throwIfTerminated(),
      userState: start.initState,
      worker,
    };
  }

  /** Whether termination was requested: by message, flag or poll. */
  get terminated(): boolean {
    if (this.#aborted || Atomics.load(this.#flag, 0) !== 0) return true;
    if (this.#poll === undefined) return false;
    // Date.now() is the cheapest clock (~40 ns; performance.now() ~95 ns),
    // and its millisecond ticks are the polling rate we want.
    const now = Date.now();
    if (now === this.#polledAt) return false;
    this.#polledAt = now;
    if (!this.#poll()) return false;
    Atomics.store(this.#flag, 0, 1);
    return true;
  }

  /** Items received and not yet started (persistent workers). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Handles a message from the parent (after `start`). */
  receive(message: ParentMessage): void {
    if (message.t === "items") this.#queue.push(...message.items);
    else if (message.t === "close") this.#closed = true;
    else if (message.t === "terminate") this.requestTerminate();
    this.#wake?.();
  }

  /** Aborts `ctx.signal`: a graceful stop was requested. */
  requestTerminate(): void {
    Atomics.store(this.#flag, 0, 1);
    if (!this.#aborted) {
      this.#aborted = true;
      this.#controller.abort(new WorkerTerminatedError());
    }
    this.#wake?.();
  }

  #throwIfTerminated(): void {
    if (this.terminated) {
      this.requestTerminate();
      throw this.#controller.signal.reason;
    }
  }

  /** Runs the target to completion and sends `done`. */
  async run(): Promise<void> {
    let outcome: Outcome;
    try {
      const fn = await loadTarget(this.#start.target);
      this.#throwIfTerminated();
      outcome = {
        ok: true,
        value: this.#start.persistent
          ? await this.#loop(fn)
          : await fn(...this.#start.args, this.context),
      };
    } catch (error) {
      outcome = { ok: false, error };
    }
    this.#finish(outcome);
  }

  async #loop(fn: (...args: unknown[]) => unknown): Promise<number> {
    const defaults = this.#start.args;
    /** Whether the last item awaited (its target is async). */
    let awaited = false;
    for (;;) {
      this.#throwIfTerminated();
      const item = this.#queue.shift();
      if (item === undefined) {
        if (this.#closed) return this.#count;
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
        continue;
      }
      if (item.chunk) {
        awaited = await this.#runChunk(fn, item, awaited);
        continue;
      }
      // As in the original: the item's arguments replace the leading defaults.
      const itemArgs = item.args as readonly unknown[];
      // Usually there is no default left to add: no copy then.
      const args = itemArgs.length >= defaults.length
        ? itemArgs
        : [...itemArgs, ...defaults.slice(itemArgs.length)];
      // A transport that sends from another thread (a persistent process
      // child's sender) lets the next item run while earlier results are
      // still on their way: they leave within a millisecond whatever that
      // item does. An async item can tell the world it started within
      // microseconds (and be killed for it), so after one that awaited,
      // earlier results must have left before the next starts.
      if (awaited) this.#transport.flush?.();
      awaited = false;
      try {
        let value = fn(...args, this.context);
        if (isThenable(value)) {
          awaited = true;
          value = await value;
        }
        this.#send({ seq: item.seq, ok: true, value }, item.call);
      } catch (error) {
        if (
          (this.#fatal !== undefined && error === this.#fatal) ||
          !item.call || this.terminated
        ) throw error;
        this.#send(
          { seq: item.seq, ok: false, error: this.#encode(error) },
          item.call,
        );
      }
      this.#count++;
      // Each result goes out as its item finishes, and must have left this
      // process before the next item runs: that item may block this thread
      // for minutes, exit, or be killed. A socket write leaves at once
      // while the socket has room, and resolves within a few microtasks,
      // so waiting here costs little (a transport with a sender thread has
      // nothing pending: see `flush` above).
      const pending = this.#transport.pending?.();
      if (pending !== undefined) await pending;
    }
  }

  /**
   * Runs a pool's chunk: each of its items as an item of its own (defaults,
   * context, its own failure), with one result for them all. Returns
   * whether the last item awaited.
   */
  async #runChunk(
    fn: (...args: unknown[]) => unknown,
    item: Item,
    awaited: boolean,
  ): Promise<boolean> {
    const defaults = this.#start.args;
    const lists = (item.args as readonly unknown[])[0] as ChunkArgs;
    const count = countLists(lists);
    // Values go straight into the packed form while all are numbers (no
    // array of them, no second pass); the array is made at the first other.
    const numbers = new Float64Array(count);
    let values: unknown[] | undefined;
    const failed: ChunkResult["failed"] = [];
    if (awaited) this.#transport.flush?.();
    let last = false;
    const context = this.context;
    const unary = !Array.isArray(lists) && lists.arity === 1 &&
      defaults.length <= 1;
    const argsOf = (itemArgs: unknown[]): unknown[] =>
      itemArgs.length >= defaults.length
        ? [...itemArgs, context]
        : [...itemArgs, ...defaults.slice(itemArgs.length), context];
    const start = performance.now();
    // A stop request ends the chunk (its items go back to the pool). The
    // flags are read before every item; the poll's clock (~80 ns here,
    // more than a tiny item) only every `stride` items: doubled while the
    // clock stands still, back to every item once it jumps.
    let stride = 1;
    let due = 1;
    for (let i = 0; i < count; i++) {
      if (i >= due) {
        const polledAt = this.#polledAt;
        this.#throwIfTerminated();
        const moved = this.#polledAt - polledAt;
        stride = moved === 0
          ? Math.min(stride * 2, POLL_STRIDE)
          : moved > 1
          ? 1
          : stride;
        due = i + stride;
      } else if (
        i > 0 && (this.#aborted || Atomics.load(this.#flag, 0) !== 0)
      ) {
        this.#throwIfTerminated();
      }
      last = false;
      try {
        // One packed number and no default after it: no array per item.
        let value = unary
          ? fn((lists as PackedLists).numbers[i], context)
          : fn(...argsOf(listAt(lists, i)));
        if (isThenable(value)) {
          last = true;
          value = await value;
        }
        if (values !== undefined) values[i] = value;
        else if (typeof value === "number") numbers[i] = value;
        else {
          values = Array.from(numbers.subarray(0, i)) as unknown[];
          values.length = count;
          values[i] = value;
        }
      } catch (error) {
        if (
          (this.#fatal !== undefined && error === this.#fatal) ||
          this.terminated
        ) throw error;
        failed.push([i, this.#encode(error)]);
      }
      this.#count++;
    }
    const unpacked = (): unknown[] => {
      const list = values ?? Array.from(numbers) as unknown[];
      for (const [i] of failed) delete list[i];
      return list;
    };
    const outcome: ChunkResult = {
      values: failed.length === 0 ? values ?? numbers : unpacked(),
      failed,
      ms: performance.now() - start,
    };
    this.#send({ seq: item.seq, ok: true, value: outcome }, true);
    const pending = this.#transport.pending?.();
    if (pending !== undefined) await pending;
    return last;
  }

  /** Encodes an error with what this transport can carry. */
  #encode(error: unknown): Encoded {
    const check = this.#transport.cloneError;
    return encodeError(error, (value) => check(value) === undefined);
  }

  /**
   * Sends one item's result. If its value cannot be sent: a call's caller
   * gets that error; an enqueued item ends the worker with it (thrown).
   */
  #send(result: ItemResult, call: boolean): void {
    try {
      this.#transport.send({ t: "results", results: [result] });
      return;
    } catch (error) {
      const failure = this.#unclonable("the result of an item", error);
      if (!call) {
        // Like an enqueued item that throws: the worker ends with it.
        this.#fatal = failure;
        throw failure;
      }
      this.#transport.send({
        t: "results",
        results: [{ seq: result.seq, ok: false, error: this.#encode(failure) }],
      });
    }
  }

  #who(): string {
    return this.#start.name ?? JSON.stringify(this.context.worker.id);
  }

  #unclonable(what: string, error: unknown): TypeError | RangeError {
    const who = this.#who();
    const detail = (error as Error)?.message ?? error;
    // A size limit is not a cloning problem: say which it was.
    return error instanceof RangeError
      ? new RangeError(
        `Cannot send ${what} of worker ${who} to its parent as it is too large: ${detail}`,
        { cause: error },
      )
      : new TypeError(
        `Cannot send ${what} of worker ${who} to its parent as it cannot be cloned: ${detail}`,
        { cause: error },
      );
  }

  #finish(outcome: Outcome): void {
    const state = this.context.userState;
    try {
      this.#transport.send(
        done(outcome, state, true, (error) => this.#encode(error)),
      );
      return;
    } catch {
      // Something could not be cloned: find out what, and report that instead.
    }
    const cloneError = this.#transport.cloneError;
    const stateError = cloneError(state);
    const valueError = outcome.ok ? cloneError(outcome.value) : undefined;
    if (valueError !== undefined) {
      outcome = {
        ok: false,
        error: this.#unclonable("the result", valueError),
      };
    } else if (stateError !== undefined && outcome.ok) {
      outcome = {
        ok: false,
        error: this.#unclonable("the user state", stateError),
      };
    }
    try {
      this.#transport.send(
        done(
          outcome,
          stateError === undefined ? state : undefined,
          !stateError,
          (error) => this.#encode(error),
        ),
      );
    } catch (error) {
      // Last resort: a message made only of strings always goes through.
      this.#transport.send({
        t: "done",
        ok: false,
        error: encodeError(
          new Error(
            `Worker ${this.#who()} could not report its outcome: ${
              String((error as Error)?.message ?? error)
            }`,
          ),
        ),
        userState: undefined,
        stateSent: false,
      });
    }
  }
}

function done(
  outcome: Outcome,
  userState: unknown,
  stateSent: boolean,
  encode: (error: unknown) => Encoded,
): ChildMessage {
  return outcome.ok
    ? { t: "done", ok: true, value: outcome.value, userState, stateSent }
    : {
      t: "done",
      ok: false,
      error: encode(outcome.error),
      userState,
      stateSent,
    };
}
