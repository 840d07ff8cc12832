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
import type { WorkerContext, WorkerId, WorkerInfo } from "../types.ts";
import type {
  ChildMessage,
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
}

/** Results are sent in batches: when this many are waiting, before the last queued item, or after FLUSH_MS. */
const FLUSH_ITEMS = 64;
const FLUSH_MS = 5;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown })?.then === "function";
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Runs one worker's target inside the child. */
export class ChildRuntime {
  readonly #start: StartMessage;
  readonly #flag: Int32Array;
  readonly #transport: ChildTransport;
  readonly #controller = new AbortController();
  readonly #queue: Item[] = [];
  #closed = false;
  #wake: (() => void) | undefined;
  #pending: { result: ItemResult; call: boolean }[] = [];
  #pendingCall = false;
  /** Set when an enqueued item's value could not be sent: the worker ends with it. */
  #fatal: Error | undefined;
  #pendingSince = 0;
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
    ids: { pid: number; tid: number },
    poll?: () => boolean,
  ) {
    this.#start = start;
    this.#flag = flag;
    this.#poll = poll;
    this.#transport = transport;
    const id: WorkerId = [start.host, ids.pid, ids.tid];
    const worker: WorkerInfo = {
      host: start.host,
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
    if (this.#controller.signal.aborted || Atomics.load(this.#flag, 0) !== 0) {
      return true;
    }
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
    if (!this.#controller.signal.aborted) {
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
    this.#flush();
    // An enqueued item whose value could not be sent came before whatever
    // ended the loop after it (unless that was a stop request).
    if (
      this.#fatal !== undefined && outcome.ok === false &&
      outcome.error !== this.#fatal &&
      !(outcome.error instanceof WorkerTerminatedError)
    ) outcome = { ok: false, error: this.#fatal };
    this.#finish(outcome);
  }

  async #loop(fn: (...args: unknown[]) => unknown): Promise<number> {
    const defaults = this.#start.args;
    for (;;) {
      this.#throwIfTerminated();
      const item = this.#queue.shift();
      if (item === undefined) {
        this.#flushOrFail();
        if (this.#closed) return this.#count;
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
        continue;
      }
      // Results wait in batches only while more items are queued and for at
      // most FLUSH_MS: never behind the last queued item (which may be slow,
      // or killed before they went out).
      // A call()'s result never waits: its caller is waiting for it.
      if (
        this.#pending.length > 0 &&
        (this.#pendingCall || this.#queue.length === 0 ||
          Date.now() - this.#pendingSince >= FLUSH_MS)
      ) this.#flushOrFail();
      // As in the original: the item's arguments replace the leading defaults.
      const args = [...item.args, ...defaults.slice(item.args.length)];
      try {
        let value = fn(...args, this.context);
        if (isThenable(value)) {
          this.#flushOrFail(); // the event loop may turn: let earlier results go
          value = await value;
        }
        this.#result({ seq: item.seq, ok: true, value }, item.call);
      } catch (error) {
        if (error === this.#fatal || !item.call || this.terminated) throw error;
        this.#result(
          { seq: item.seq, ok: false, error: this.#encode(error) },
          item.call,
        );
      }
      this.#count++;
      if (this.#pending.length >= FLUSH_ITEMS) this.#flushOrFail();
    }
  }

  #result(result: ItemResult, call: boolean): void {
    if (this.#pending.length === 0) this.#pendingSince = Date.now();
    this.#pending.push({ result, call });
    this.#pendingCall ||= call;
  }

  /** Encodes an error with what this transport can carry. */
  #encode(error: unknown): Encoded {
    const check = this.#transport.cloneError;
    return encodeError(error, (value) => check(value) === undefined);
  }

  /** Flushes; if an enqueued item's value could not be sent, ends the loop with that. */
  #flushOrFail(): void {
    this.#flush();
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingCall = false;
    try {
      this.#transport.send({
        t: "results",
        results: pending.map((p) => p.result),
      });
      return;
    } catch {
      // One value could not be sent: go one by one, below.
    }
    for (const { result, call } of pending) {
      try {
        this.#transport.send({ t: "results", results: [result] });
      } catch (error) {
        const failure = this.#unclonable("the result of an item", error);
        if (!call) {
          // Like an enqueued item that throws: the worker ends with it, and
          // the results after it are not delivered.
          this.#fatal = failure;
          return;
        }
        this.#transport.send({
          t: "results",
          results: [{
            seq: result.seq,
            ok: false,
            error: this.#encode(failure),
          }],
        });
      }
    }
  }

  #who(): string {
    return this.#start.name ?? JSON.stringify(this.context.worker.id);
  }

  #unclonable(what: string, error: unknown): TypeError {
    const who = this.#who();
    return new TypeError(
      `Cannot send ${what} of worker ${who} to its parent as it cannot be cloned: ${
        (error as Error)?.message ?? error
      }`,
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
