/**
 * One pool run: reads the input, hands items to the workers in chunks,
 * and decides what each outcome means. An item's own failure is final; an
 * item its worker's end took goes back to the queue (first in line), and
 * the death is charged only to the item that was running, which fails for
 * good after 3; an item past its deadline stops its worker through the
 * ladder and fails alone. What `run`, `imap` and `imapUnordered` do with
 * the values is their sink's business.
 *
 * ```
 *  input ─▶ take ─▶ slot (calls) ─▶ worker.call() / chunk ─▶ answered ─▶ sink
 *             ▲                                         │
 *             └──────── retry queue ◀── worker ended ◀──┘
 * ```
 *
 * @module
 */
import { WorkerClosedError, WorkerDiedError } from "../errors.ts";
import { asError } from "../_protocol/error_codec.ts";
import type { PersistentWorker } from "../persistent.ts";
import { callChunk } from "../_core/chunk_calls.ts";
import { decodeError } from "../_protocol/error_codec.ts";
import type { ChunkResult } from "../_protocol/messages.ts";
import { packLists } from "../_protocol/chunk_pack.ts";
import { chunkCap, MAX_CALLS_CHUNK, MAX_CHUNK, timedChunk } from "./chunk.ts";
import type { PoolEvent } from "./events.ts";
import { type Input, inputOf, NONE, WAIT } from "./input.ts";
import type { Slot } from "./slot.ts";
import { StatsCounter } from "./stats.ts";
import type { Task } from "./task.ts";

/** Deaths an item may cause before it fails for good. */
export const MAX_DEATHS = 3;

/** How long an item past its deadline gets to stop on its own (its `ctx.signal`) before it is forced. */
export const DEADLINE_GRACE_MS = 1000;

/** What a run needs of its pool. */
export interface RunHost {
  /** The pool's slots (a live list: workers added during the run join it). */
  readonly slots: readonly Slot[];
  /** Restarts per worker per run after deaths. */
  readonly maxRestarts: number;
  /** Renews a slot's worker in place; resolves once it takes items again (or is dead). */
  heal(slot: Slot): Promise<void>;
  /** Hands a slot to the pool's current run, if any (a late outcome freed it). */
  kick(slot: Slot): void;
}

/** Where a run's outcomes go. */
export interface Sink {
  /** An item's value. */
  value(task: Task, value: unknown): void;
  /** An item that failed for good. */
  failure(task: Task, error: Error): void;
  /** Whether the run may read another item of the input now (`read` so far). */
  admit(read: number): boolean;
}

/** The per-run options, already checked. */
export interface RunSettings {
  readonly onEvent: ((event: PoolEvent) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  readonly timeout: number | undefined;
  readonly chunkSize: number | undefined;
}

/** Why a run ended early, when not by its signal. */
export class RunStopped extends Error {
  /** Items done when it stopped, and items not done it knows of. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RunStopped";
  }
}

/** One run of a pool. */
export class Run {
  readonly #host: RunHost;
  readonly #sink: Sink;
  readonly #settings: RunSettings;
  readonly #input: Input<PersistentWorker>;
  /** The chunk size the caller chose, if any. */
  readonly #fixedChunk: number | undefined;
  /** The largest automatic chunk of this run. */
  readonly #chunkCap: number;
  /**
   * Whether items have a deadline (else their start times are not
   * tracked). Then each item is a call of its own (its deadline counts
   * from its own start); else items travel in chunk calls.
   */
  readonly #timed: boolean;
  /** Items to run again (their worker ended before answering), first in line. */
  #retry: Task[] = [];
  #index = 0;
  /** Items read and not yet ended for good. */
  #outstanding = 0;
  #settled = false;
  #aborted = false;
  /**
   * The input threw: no more is read, the items taken run to their end,
   * and then the run rejects with this.
   */
  #halted: RunStopped | undefined;
  /** Stops in progress (deadline, abort): the run settles after them. */
  readonly #stopping = new Set<Promise<unknown>>();
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  readonly #unlisten: () => void;
  /** Resolves when every item has ended; rejects if the run stopped early. */
  readonly done: Promise<void>;
  /** Counters, readable during the run. */
  readonly stats: StatsCounter<PersistentWorker> = new StatsCounter();

  constructor(
    host: RunHost,
    input: unknown,
    settings: RunSettings,
    sink: Sink,
  ) {
    this.#host = host;
    this.#sink = sink;
    this.#settings = settings;
    this.#input = inputOf(input, (error) => {
      if (error !== undefined) this.#halt(error);
      this.kickAll();
    });
    this.#timed = settings.timeout !== undefined;
    this.#fixedChunk = settings.chunkSize;
    this.#chunkCap = chunkCap(
      this.#input.length,
      host.slots.length,
      this.#timed ? MAX_CALLS_CHUNK : MAX_CHUNK,
    );
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {});
    const signal = settings.signal;
    const onAbort = () => this.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#unlisten = () => signal?.removeEventListener("abort", onAbort);
  }

  /** Items read from the input so far. */
  get read(): number {
    return this.#index;
  }

  /** Whether the run has ended. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Whether the run ended by its signal. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Starts handing out items. */
  start(): void {
    if (this.#settings.signal?.aborted) {
      this.abort(this.#settings.signal.reason);
      return;
    }
    this.kickAll();
  }

  /** Fills every slot that takes items, then sees whether the run is over. */
  kickAll(): void {
    for (const slot of this.#host.slots) this.#fill(slot);
    this.#check();
  }

  /** Fills one slot, then sees whether the run is over. */
  kick(slot: Slot): void {
    this.#fill(slot);
    this.#check();
  }

  /** Whether events are wanted (else none is even built: this runs per item). */
  get #listening(): boolean {
    return this.#settings.onEvent !== undefined && !this.#settled;
  }

  #emit(event: PoolEvent): void {
    const onEvent = this.#settings.onEvent;
    if (onEvent === undefined || this.#settled) return;
    try {
      onEvent(event);
    } catch (error) {
      // As when the input throws: nothing more is read, what was taken
      // ends (its events still delivered), then the run rejects.
      this.#halt(error, "its onEvent threw");
    }
  }

  /** The chunk size for `slot` now. */
  #chunkOf(slot: Slot): number {
    if (this.#fixedChunk !== undefined) return this.#fixedChunk;
    // Single calls are batched per message anyway: only the count matters.
    if (this.#timed) return this.#chunkCap;
    return timedChunk(slot.perItem, this.#chunkCap);
  }

  /** Hands a slot items until it holds two chunks (refilled once one is left). */
  #fill(slot: Slot): void {
    if (
      this.#settled || this.#aborted || slot.state !== "ready" ||
      !slot.worker.isAlive()
    ) return;
    const chunk = this.#chunkOf(slot);
    const single = this.#timed || chunk === 1;
    // Singles up to two chunks' worth, and, one item per call, about as
    // many as a chunk would time (fast items need a deep pipeline); chunk
    // calls while at most one is in flight, each full (a remainder would
    // be a small call of its own).
    const cap = chunk === 1 && !this.#timed
      ? 2 * timedChunk(slot.perItem, MAX_CALLS_CHUNK)
      : chunk * 2;
    // Refilled once half of it is left (not after every answer: items sent
    // in one turn travel in one message).
    if (slot.load > cap / 2) return;
    while (single ? slot.load < cap : slot.load <= chunk) {
      if (single) {
        const task = this.#take(slot);
        if (task === undefined) break;
        this.#submit(slot, task);
      } else {
        const batch: Task[] = [];
        while (batch.length < chunk) {
          const task = this.#take(slot);
          if (task === undefined) break;
          if (task.single) {
            // It goes alone: after the batch, or now if the batch is empty.
            if (batch.length === 0) batch.push(task);
            else this.#retry.unshift(task);
            break;
          }
          batch.push(task);
        }
        if (batch.length === 0) break;
        if (batch.length === 1) this.#submit(slot, batch[0]!);
        else this.#submitChunk(slot, batch);
      }
      if (this.#settled) return;
    }
    if (
      slot.load === 0 && !slot.idle && this.#retry.length === 0 &&
      (slot.exhausted || this.#inputDone())
    ) {
      slot.idle = true;
      this.#emit({ type: "idle", worker: slot.worker });
    }
  }

  /** Hands `batch` to the worker as one chunk call (one message each way). */
  #submitChunk(slot: Slot, batch: Task[]): void {
    slot.idle = false;
    const lists: unknown[][] = new Array(batch.length);
    slot.add(batch);
    for (let i = 0; i < batch.length; i++) {
      const task = batch[i]!;
      lists[i] = task.args;
      if (this.#listening) {
        this.#emit({
          type: "enqueued",
          worker: slot.worker,
          args: task.args as never,
        });
      }
    }
    const sent = performance.now();
    callChunk(slot.worker, packLists(lists)).then(
      (result) => this.#chunkAnswered(slot, batch, sent, result),
      () => this.#chunkFailed(slot, batch),
    );
  }

  /**
   * Learns the worker's pace: from the time the child took for a chunk,
   * or, for a single call, from the time since the later of its sending
   * and the previous answer (the child runs calls in order).
   */
  #measure(slot: Slot, count: number, sent: number, ms?: number): void {
    const now = performance.now();
    const perItem = (ms ?? now - Math.max(sent, slot.lastAnswer)) / count;
    slot.lastAnswer = now;
    slot.perItem = slot.perItem === undefined
      ? perItem
      : 0.75 * slot.perItem + 0.25 * perItem;
  }

  #chunkAnswered(
    slot: Slot,
    batch: Task[],
    sent: number,
    result: ChunkResult,
  ): void {
    this.#measure(slot, batch.length, sent, result.ms);
    if (!slot.remove(batch)) return; // let go of already (a stuck worker)
    if (batch[0]!.owner !== this || this.#settled) {
      // A late answer of an earlier run: it freed room for the current one.
      this.#host.kick(slot);
      return;
    }
    const failed = result.failed.length === 0
      ? undefined
      : new Map(result.failed);
    for (let i = 0; i < batch.length; i++) {
      const task = batch[i]!;
      const error = failed?.get(i);
      if (error === undefined) this.#succeeded(slot, task, result.values[i]);
      else this.#fail(slot, task, asError(decodeError(error)));
      if (this.#settled) return;
    }
    this.kick(slot);
  }

  /**
   * A chunk failed as a whole: its worker ended in it, or its values
   * could not be sent. Which item was running is not known, so no death
   * is charged; its items run again, each alone (a poison item then kills
   * only on its own account).
   */
  #chunkFailed(slot: Slot, batch: Task[]): void {
    if (!slot.remove(batch)) return;
    if (batch[0]!.owner !== this || this.#settled) {
      this.#host.kick(slot);
      return;
    }
    for (const task of batch) {
      if (this.#aborted) {
        this.#outstanding--;
      } else {
        task.single = true;
        this.#requeue(task);
      }
    }
    this.kickAll();
  }

  #succeeded(slot: Slot, task: Task, value: unknown): void {
    this.#outstanding--;
    this.stats.doneIn(slot.worker);
    if (this.#listening) {
      this.#emit({
        type: "finished",
        worker: slot.worker,
        args: task.args as never,
        result: value,
      });
    }
    this.#sink.value(task, value);
  }

  #inputDone(): boolean {
    if (this.#halted !== undefined) return true;
    return this.#input.done(() =>
      this.#host.slots.every((slot) =>
        slot.exhausted || slot.state === "dead" || slot.state === "draining"
      )
    );
  }

  /** The next item for `slot`: a retry first, else a new one if admitted. */
  #take(slot: Slot): Task | undefined {
    if (this.#retry.length > 0) return this.#retry.shift();
    for (;;) {
      if (
        slot.exhausted || this.#settled || this.#halted !== undefined ||
        !this.#sink.admit(this.#index)
      ) {
        return undefined;
      }
      let taken;
      try {
        taken = this.#input.take(slot.worker);
      } catch (error) {
        this.#halt(error);
        return undefined;
      }
      if (taken === WAIT) return undefined;
      if (taken === NONE) {
        slot.exhausted = true;
        return undefined;
      }
      const task: Task = {
        index: this.#index++,
        args: taken as unknown[],
        owner: this,
        deaths: 0,
        single: false,
        since: 0,
      };
      this.#outstanding++;
      if (Array.isArray(taken)) return task;
      this.#fail(
        undefined,
        task,
        new TypeError(
          `Cannot run item ${task.index} as its arguments ${
            Deno.inspect(taken)
          } are not an array`,
        ),
      );
    }
  }

  #submit(slot: Slot, task: Task): void {
    slot.idle = false;
    if (this.#timed && slot.load === 0) task.since = performance.now();
    slot.add(task);
    const sent = this.#timed ? 0 : performance.now();
    if (this.#listening) {
      this.#emit({
        type: "enqueued",
        worker: slot.worker,
        args: task.args as never,
      });
    }
    slot.worker.call(...(task.args as never[])).then(
      (value) => {
        if (!this.#timed) this.#measure(slot, 1, sent);
        this.#answered(slot, task, true, value);
      },
      (error) => this.#answered(slot, task, false, error),
    );
    if (this.#timed) this.#arm(slot);
  }

  #answered(slot: Slot, task: Task, ok: boolean, value: unknown): void {
    if (!slot.remove(task)) return; // let go of already (a stuck worker)
    if (this.#timed) {
      // The next item starts now: its deadline counts from here.
      const head = slot.head();
      if (head !== undefined && head.since === 0) {
        head.since = performance.now();
      }
    }
    if (task.owner !== this || this.#settled) {
      // A late answer of an earlier run: it freed room for the current one.
      this.#host.kick(slot);
      return;
    }
    if (slot.timedOut === task) {
      // Past its deadline it fails, whatever it did during the grace (a
      // late value is discarded); its worker is being stopped and renewed.
      slot.timedOut = undefined;
      this.#timedOut(slot, task);
      this.kick(slot);
      return;
    }
    if (ok) {
      this.#succeeded(slot, task, value);
      if (this.#timed) this.#arm(slot);
      this.kick(slot);
      return;
    }
    const error = asError(value);
    const classified = slot.classify(error);
    if (classified === undefined) {
      // Refused before it reached the worker: a closed or dead worker
      // never took it (run it elsewhere); else its arguments were refused.
      if (error instanceof WorkerClosedError || !slot.worker.isAlive()) {
        this.#requeue(task);
      } else this.#fail(slot, task, error);
    } else if (this.#aborted) {
      this.#outstanding--; // cancelled with the run
    } else if (classified.by === "item") {
      this.#fail(slot, task, error);
    } else if (classified.ran && !slot.stopping) {
      // A death is charged only to the item that was running.
      task.deaths++;
      if (task.deaths >= MAX_DEATHS) {
        this.#fail(
          slot,
          task,
          new WorkerDiedError(
            `Item ${task.index} ${
              Deno.inspect(task.args)
            } failed for good as the ${MAX_DEATHS} workers running it died; the last: ${error.message}`,
            { cause: error, reason: "poison item" },
          ),
        );
      } else this.#requeue(task);
    } else this.#requeue(task);
    if (this.#retry.length > 0) this.kickAll();
    else this.kick(slot);
  }

  #requeue(task: Task): void {
    task.since = 0;
    this.stats.retried++;
    this.#retry.push(task);
  }

  #fail(slot: Slot | undefined, task: Task, error: Error): void {
    this.#outstanding--;
    this.stats.failedIn(slot?.worker);
    if (slot !== undefined) {
      this.#emit({
        type: "finished",
        worker: slot.worker,
        args: task.args as never,
        error,
      });
    }
    this.#sink.failure(task, error);
  }

  #timedOut(slot: Slot, task: Task): void {
    this.stats.timedOut++;
    this.#fail(
      slot,
      task,
      new DOMException(
        `Item ${task.index} ${
          Deno.inspect(task.args)
        } overran its deadline of ${this.#settings.timeout} ms in ${
          slot.worker.name ?? "its worker"
        }`,
        "TimeoutError",
      ),
    );
  }

  /** Arms the slot's deadline timer for its running item, if this run has a deadline. */
  #arm(slot: Slot): void {
    const timeout = this.#settings.timeout;
    if (timeout === undefined || slot.timer !== undefined || this.#settled) {
      return;
    }
    const head = slot.head();
    if (
      head === undefined || head.owner !== this || slot.stopping ||
      !slot.started
    ) return;
    const left = head.since + timeout - performance.now();
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.#deadline(slot);
    }, Math.max(0, Math.min(left, 2 ** 31 - 1)));
  }

  #deadline(slot: Slot): void {
    if (this.#settled || this.#aborted || slot.stopping) return;
    const head = slot.head();
    if (head === undefined || head.owner !== this) return;
    if (performance.now() - head.since >= this.#settings.timeout!) {
      this.#expire(slot, head);
    } else this.#arm(slot);
  }

  /** Stops a worker whose running item overran: through the ladder. */
  #expire(slot: Slot, task: Task): void {
    slot.timedOut = task;
    this.#stop(slot, DEADLINE_GRACE_MS, () => {
      // It could not be stopped (a thread busy in synchronous code): let
      // it go, and run what it held elsewhere.
      const held = slot.clear();
      for (const other of held) {
        if (other.owner !== this || this.#settled) continue;
        if (other === task) this.#timedOut(slot, task);
        else this.#requeue(other);
      }
      slot.timedOut = undefined;
      this.kickAll();
    });
  }

  /**
   * Stops a slot's worker through the ladder. Its end comes back through
   * `slotFinished` (then it is healed); `stuck` runs if it could not be
   * stopped, after which the slot is dead.
   */
  #stop(slot: Slot, grace: number, stuck: () => void): void {
    slot.stopping = true;
    slot.disarm();
    const stopped = slot.worker.terminate({ timeout: grace }).then(
      (dead) => {
        if (dead) return;
        slot.state = "dead";
        slot.unwatch();
        this.#emit({
          type: "died",
          worker: slot.worker,
          error: new WorkerDiedError(
            `${
              slot.worker.name ?? "A worker"
            } could not be stopped (busy in synchronous code) and was let go`,
            { reason: "could not be stopped" },
          ),
        });
        stuck();
      },
    );
    this.#track(stopped);
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => {
      this.#stopping.delete(tracked);
      this.#check();
    });
    this.#stopping.add(tracked);
  }

  /** The slot's worker is ready: its running item's deadline counts from now at the latest. */
  slotReady(slot: Slot): void {
    const head = slot.head();
    if (head !== undefined) head.since = performance.now();
    this.#arm(slot);
    this.kick(slot);
  }

  /** The slot's worker ended during this run: heal it in place if it may be. */
  slotFinished(slot: Slot): void {
    slot.disarm();
    if (!slot.stopping && !this.#settled) {
      this.#emit({
        type: "died",
        worker: slot.worker,
        error: slot.worker.error,
      });
    } else if (slot.timedOut !== undefined && !this.#settled) {
      this.#emit({
        type: "died",
        worker: slot.worker,
        error: slot.worker.error,
      });
    }
    if (!slot.stopping) slot.restarts++;
    if (slot.restarts > this.#host.maxRestarts) {
      slot.state = "dead";
    } else {
      // Not tracked: a run whose items have all ended settles without
      // waiting for a restart (a host that never answers would hold it for
      // every try: trial 7); a restarting worker still counts as live
      // while items remain.
      this.#host.heal(slot).finally(() => this.#check());
    }
    // After the lost items' promises (queued already) have gone back.
    queueMicrotask(() => this.#check());
  }

  /** Ends the run by its signal: queued items are dropped, running ones stopped. */
  abort(reason: unknown): void {
    if (this.#settled || this.#aborted) return;
    this.#aborted = true;
    this.#input.stop();
    this.#outstanding -= this.#retry.length;
    this.#retry = [];
    for (const slot of this.#host.slots) {
      if (slot.state !== "ready" && slot.state !== "draining") continue;
      if (!slot.tasks().some((task) => task.owner === this)) continue;
      this.#stop(slot, DEADLINE_GRACE_MS, () => {
        for (const task of slot.clear()) {
          if (task.owner === this) this.#outstanding--;
        }
      });
    }
    this.#abortReason = reason;
    this.#check();
  }

  #abortReason: unknown;

  /**
   * Ends the run early with a {@linkcode RunStopped} (the pool is going
   * away, `reason` says how): every item taken and not ended fails as not
   * done; the run rejects once `until` (the workers' end) has settled.
   */
  stop(reason: string, until?: Promise<unknown>): void {
    if (this.#settled) return;
    const left = this.#retry.splice(0);
    for (const slot of this.#host.slots) {
      for (const task of slot.tasks()) if (task.owner === this) left.push(task);
    }
    const message = this.#notDone(left, reason);
    // Settled now (late answers are ignored), rejected once nothing runs.
    this.#settle();
    // Aborted already: it ends by its signal, as it would have.
    const error = this.#aborted ? this.#abortReason : new RunStopped(message);
    if (until === undefined) this.#reject(error);
    else until.finally(() => this.#reject(error)).catch(() => {});
  }

  /** Ends the run quietly: no more items are read; those running finish unheard. */
  cancel(): void {
    if (this.#settled) return;
    this.#settle();
    this.#resolve();
  }

  #check(): void {
    if (this.#settled) return;
    if (this.#aborted) {
      if (this.#stopping.size === 0) {
        this.#settle();
        this.#reject(this.#abortReason);
      }
      return;
    }
    if (
      this.#outstanding === 0 && this.#retry.length === 0 &&
      this.#stopping.size === 0 && this.#inputDone()
    ) {
      this.#settle();
      if (this.#halted === undefined) this.#resolve();
      else this.#reject(this.#halted);
      return;
    }
    const live = this.#host.slots.some((slot) =>
      slot.state === "restarting" ||
      ((slot.state === "ready" || slot.state === "draining") &&
        slot.worker.isAlive())
    );
    if (!live && this.#stopping.size === 0) {
      this.#fatal(
        this.#notDone(this.#retry.splice(0), "no worker of the pool is left"),
      );
    }
  }

  /** Fails each of `left` as not done, as `reason` says; returns the run's message. */
  #notDone(left: Task[], reason: string): string {
    for (const task of left) {
      this.#fail(
        undefined,
        task,
        new WorkerClosedError(
          `Item ${task.index} ${
            Deno.inspect(task.args)
          } was not done as ${reason}`,
        ),
      );
    }
    return `Cannot finish the run as ${reason}: ${this.stats.done} items done, ${left.length} not done${
      this.#inputDone() ? "" : ", and the rest of the input not read"
    }`;
  }

  /**
   * The input (or onEvent) threw: stops reading it. The items taken still run (each
   * ends as a result or a failure), and the run rejects once they have
   * ended, so nothing of it runs after it settles.
   */
  #halt(cause: unknown, what = "its input threw"): void {
    if (this.#settled || this.#halted !== undefined) return;
    this.#halted = new RunStopped(
      `Cannot go on with the run as ${what}: ${asError(cause).message}`,
      { cause },
    );
    this.#input.stop();
  }

  #fatal(message: string, cause?: unknown): void {
    if (this.#settled) return;
    this.#settle();
    this.#reject(
      new RunStopped(
        cause === undefined ? message : `${message}: ${asError(cause).message}`,
        cause === undefined ? {} : { cause },
      ),
    );
  }

  #settle(): void {
    this.#settled = true;
    this.#unlisten();
    this.#input.stop();
    this.stats.end();
    for (const slot of this.#host.slots) slot.disarm();
  }
}
