/**
 * The counters of a pool run, kept as items end and read at any time
 * (`pool.stats`), during the run and after it.
 *
 * @module
 */

/** One worker's share of a run. */
export interface WorkerStats<W> {
  /** The worker. */
  readonly worker: W;
  /** Items it finished with a value. */
  readonly done: number;
  /** Items that failed in it (their own error or their deadline). */
  readonly failed: number;
}

/** What a pool run has done so far. */
export interface PoolStats<W> {
  /** Whether the run is still going. */
  readonly running: boolean;
  /** Items finished with a value. */
  readonly done: number;
  /** Items failed for good (their own error, a deadline, 3 deaths, no worker left). */
  readonly failed: number;
  /** Times an item went back to the queue as its worker died or was stopped. */
  readonly retried: number;
  /** Items failed by their deadline (also counted in `failed`). */
  readonly timedOut: number;
  /** Milliseconds since the run started (until it ended, once it has). */
  readonly elapsed: number;
  /** Items done per second over `elapsed`. */
  readonly throughput: number;
  /** Each worker's counts, in the pool's order. */
  readonly workers: readonly WorkerStats<W>[];
}

/** Mutable counters behind a {@linkcode PoolStats}. */
export class StatsCounter<W> {
  done = 0;
  failed = 0;
  retried = 0;
  timedOut = 0;
  readonly #started = performance.now();
  #ended: number | undefined;
  readonly #perWorker = new Map<W, { done: number; failed: number }>();

  /** The last worker counted, and its counts (items come in runs from one worker). */
  #lastWorker: W | undefined;
  #lastCounts: { done: number; failed: number } | undefined;

  /** Counts an item done in `worker`. */
  doneIn(worker: W): void {
    this.done++;
    if (worker !== this.#lastWorker) {
      this.#lastWorker = worker;
      this.#lastCounts = this.#of(worker);
    }
    this.#lastCounts!.done++;
  }

  /** Counts an item failed in `worker` (none: it never ran). */
  failedIn(worker: W | undefined): void {
    this.failed++;
    if (worker !== undefined) this.#of(worker).failed++;
  }

  /** Stops the clock. */
  end(): void {
    this.#ended ??= performance.now();
  }

  #of(worker: W): { done: number; failed: number } {
    let counts = this.#perWorker.get(worker);
    if (counts === undefined) {
      counts = { done: 0, failed: 0 };
      this.#perWorker.set(worker, counts);
    }
    return counts;
  }

  /** A frozen copy, listing `workers` in order. */
  snapshot(workers: readonly W[]): PoolStats<W> {
    const elapsed = (this.#ended ?? performance.now()) - this.#started;
    return Object.freeze({
      running: this.#ended === undefined,
      done: this.done,
      failed: this.failed,
      retried: this.retried,
      timedOut: this.timedOut,
      elapsed,
      throughput: elapsed > 0 ? this.done / (elapsed / 1000) : 0,
      workers: Object.freeze(workers.map((worker) => {
        const counts = this.#perWorker.get(worker);
        return Object.freeze({
          worker,
          done: counts?.done ?? 0,
          failed: counts?.failed ?? 0,
        });
      })),
    });
  }
}
