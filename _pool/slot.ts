/**
 * One worker of a pool, as the pool sees it: the items it was handed and
 * has not answered (in the order it runs them), whether it can take more,
 * and the watch on its current core. A restart gives the worker a new core,
 * so the watch is renewed after each one.
 *
 * @module
 */
import { coreOf } from "../_core/abstract_worker.ts";
import type { ItemOutcome } from "../_core/lifecycle.ts";
import type { PersistentWorker } from "../persistent.ts";
import type { Task } from "./task.ts";

/**
 * How a failed item's worker classified it (keyed by the error object the
 * item's promise rejects with: the persistent worker hands the same object
 * to its observers and to the promise).
 */
export type Classified = {
  readonly by: "item" | "worker";
  readonly ran: boolean;
};

/** Where a slot stands. */
export type SlotState =
  /** Takes items. */
  | "ready"
  /** Being renewed in place; takes items once ready. */
  | "restarting"
  /** Its host left: closed, takes no more items, finishes those it has, then is dead. */
  | "draining"
  /** Gone for good (restarts exhausted, or it could not be stopped). */
  | "dead";

/** What a slot tells its pool. */
export interface SlotEvents {
  /** The slot's worker has finished (died, was stopped, or closed). */
  finished(slot: Slot): void;
  /** The slot's worker (its current child) is ready: its items start running. */
  ready(slot: Slot): void;
}

/** One worker of a pool. */
export class Slot {
  /** The worker. */
  readonly worker: PersistentWorker;
  state: SlotState = "ready";
  /**
   * Calls handed to the worker and not yet answered, in the order it runs
   * them: an item alone, or a chunk's items (one entry for the chunk).
   */
  readonly #calls: Set<Task | Task[]> = new Set();
  /** Items in `#calls`. */
  #load = 0;
  /** Its host left the pool (`addHosts`): it is never restarted again. */
  retired = false;
  /** Restarts after deaths during the current run. */
  restarts = 0;
  /** A function input gave this worker `undefined`: it gets no more new items this run. */
  exhausted = false;
  /** The `idle` event was sent and no item was handed since. */
  idle = false;
  /** The item stopped for overrunning its deadline, until its worker's end is seen. */
  timedOut: Task | undefined;
  /** The pool stops this worker (deadline, abort, close): its end is no death to heal. */
  stopping = false;
  /** Measured time per item of this worker (ms), for automatic chunks. */
  perItem: number | undefined;
  /** When its last call was answered (`performance.now()`). */
  lastAnswer = 0;
  /** Whether the current child is ready (deadlines count from then at the earliest). */
  started = false;
  /** The deadline timer, while one is armed. */
  timer: ReturnType<typeof setTimeout> | undefined;
  readonly #classified = new WeakMap<Error, Classified>();
  readonly #events: SlotEvents;
  #detach: (() => void) | undefined;

  constructor(worker: PersistentWorker, events: SlotEvents) {
    this.worker = worker;
    this.#events = events;
    this.watch();
  }

  /** Watches the worker's current core (again after each restart). */
  watch(): void {
    this.#detach?.();
    const core = coreOf(this.worker);
    this.started = false;
    core.ready.then(() => {
      if (coreOf(this.worker) !== core || !core.alive) return;
      this.started = true;
      this.#events.ready(this);
    }, () => {});
    this.#detach = core.observe({
      item: (outcome: ItemOutcome) => {
        if (!outcome.ok) {
          this.#classified.set(outcome.error, {
            by: outcome.by,
            ran: outcome.ran,
          });
        }
      },
      finished: () => {
        // Only the current core's end matters (a renewed worker has a new one).
        if (coreOf(this.worker) === core) this.#events.finished(this);
      },
    });
  }

  /** Stops watching (the pool lets the worker go). */
  unwatch(): void {
    this.#detach?.();
    this.#detach = undefined;
  }

  /** How the worker classified a failed item; undefined if it never took it. */
  classify(error: unknown): Classified | undefined {
    return error instanceof Error ? this.#classified.get(error) : undefined;
  }

  /** Items handed to the worker and not yet answered. */
  get load(): number {
    return this.#load;
  }

  /** Records a call handed to the worker. */
  add(call: Task | Task[]): void {
    this.#calls.add(call);
    this.#load += Array.isArray(call) ? call.length : 1;
  }

  /** Forgets an answered call; false if it was already let go of. */
  remove(call: Task | Task[]): boolean {
    if (!this.#calls.delete(call)) return false;
    this.#load -= Array.isArray(call) ? call.length : 1;
    return true;
  }

  /** Lets go of every call (a worker that could not be stopped); returns their items. */
  clear(): Task[] {
    const tasks = this.tasks();
    this.#calls.clear();
    this.#load = 0;
    return tasks;
  }

  /** The items handed and not answered, in order. */
  tasks(): Task[] {
    return [...this.#calls].flat();
  }

  /** The item the worker runs now (or next): the oldest unanswered. */
  head(): Task | undefined {
    for (const call of this.#calls) return Array.isArray(call) ? call[0] : call;
    return undefined;
  }

  /** Disarms the deadline timer. */
  disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
