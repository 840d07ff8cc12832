/**
 * The child side of every worker: runs the target once, or (persistent)
 * once per input item, and reports to the parent. Thread and process
 * bootstraps differ only in how messages travel, so they both hand their
 * messages to a {@linkcode ChildRuntime}.
 *
 * @module
 */
import { WorkerTerminatedError } from "./errors.ts";
import { cloneError, encodeError } from "./_serialize.ts";
import { loadTarget } from "./_target.ts";
import type { WorkerContext, WorkerId, WorkerInfo } from "./_types.ts";
import type {
  ChildMessage,
  Item,
  ItemResult,
  ParentMessage,
  StartMessage,
} from "./_wire.ts";

/** How a child sends to its parent. `send` throws at once if a value cannot be cloned. */
export interface ChildTransport {
  send(message: ChildMessage): void;
}

/** Results are sent in batches: when this many are waiting, or the queue is empty, or after FLUSH_MS. */
const FLUSH_ITEMS = 64;
const FLUSH_MS = 5;

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
  #pending: ItemResult[] = [];
  #pendingSince = 0;
  #count = 0;
  readonly context: WorkerContext;

  readonly #poll: (() => boolean) | undefined;
  #polledAt = 0;

  /**
   * @param poll Asks whether a stop was requested out of band, when the
   * flag alone cannot tell (a process child reads its control file: see
   * _process_bootstrap.ts). Called at most once per millisecond.
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
    this.#finish(outcome);
  }

  async #loop(fn: (...args: unknown[]) => unknown): Promise<number> {
    const defaults = this.#start.args;
    for (;;) {
      this.#throwIfTerminated();
      const item = this.#queue.shift();
      if (item === undefined) {
        this.#flush();
        if (this.#closed) return this.#count;
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
        continue;
      }
      // As in the original: the item's arguments replace the leading defaults.
      const args = [...item.args, ...defaults.slice(item.args.length)];
      try {
        const value = await fn(...args, this.context);
        this.#result({ seq: item.seq, ok: true, value });
      } catch (error) {
        if (!item.call || this.terminated) throw error;
        this.#result({ seq: item.seq, ok: false, error: encodeError(error) });
      }
      this.#count++;
      if (
        this.#queue.length === 0 || this.#pending.length >= FLUSH_ITEMS ||
        performance.now() - this.#pendingSince >= FLUSH_MS
      ) this.#flush();
    }
  }

  #result(result: ItemResult): void {
    if (this.#pending.length === 0) this.#pendingSince = performance.now();
    this.#pending.push(result);
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const results = this.#pending;
    this.#pending = [];
    try {
      this.#transport.send({ t: "results", results });
    } catch {
      // One value could not be cloned: send them one by one and turn the
      // culprits into errors.
      for (const result of results) {
        try {
          this.#transport.send({ t: "results", results: [result] });
        } catch (error) {
          this.#transport.send({
            t: "results",
            results: [{
              seq: result.seq,
              ok: false,
              error: encodeError(
                this.#unclonable("the result of an item", error),
              ),
            }],
          });
        }
      }
    }
  }

  #unclonable(what: string, error: unknown): TypeError {
    const who = this.#start.name ?? JSON.stringify(this.context.worker.id);
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
      this.#transport.send(done(outcome, state, true));
      return;
    } catch {
      // Something could not be cloned: find out what, and report that instead.
    }
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
    this.#transport.send(
      done(outcome, stateError === undefined ? state : undefined, !stateError),
    );
  }
}

function done(
  outcome: Outcome,
  userState: unknown,
  stateSent: boolean,
): ChildMessage {
  return outcome.ok
    ? { t: "done", ok: true, value: outcome.value, userState, stateSent }
    : {
      t: "done",
      ok: false,
      error: encodeError(outcome.error),
      userState,
      stateSent,
    };
}
