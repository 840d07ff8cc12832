/**
 * How long a pool waits before it tries again to restart a worker whose
 * restart failed (a remote worker whose host cannot be reached, mostly):
 * exponential, from {@linkcode BACKOFF_MS} doubling up to
 * {@linkcode MAX_BACKOFF_MS}, each wait drawn between half and all of it
 * (so that the workers of a host that went away do not knock all at once
 * when it comes back). The number of tries is the pool's `maxRestarts`.
 *
 * @module
 */

/** The wait before the second try, at most (ms); it doubles with each failure. */
export const BACKOFF_MS = 100;

/** The longest wait between two tries (ms). */
export const MAX_BACKOFF_MS = 2000;

/**
 * The wait after the `failures`th failed restart in a row (1 for the first).
 *
 * @param failures Failed restarts in a row so far (>= 1).
 * @param random A number in [0, 1): `Math.random` by default.
 */
export function backoffMs(
  failures: number,
  random: () => number = Math.random,
): number {
  const full = Math.min(
    MAX_BACKOFF_MS,
    BACKOFF_MS * 2 ** Math.max(0, failures - 1),
  );
  return full / 2 + random() * (full / 2);
}

/**
 * Waits that end early, all at once, when their owner goes away (a pool
 * closing), so that no timer outlives it.
 */
export class Pauses {
  readonly #wakes = new Set<() => void>();

  /** Resolves after `ms`, or at once after {@linkcode Pauses.wakeAll}. */
  pause(ms: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const wake = (): void => {
      clearTimeout(timer);
      this.#wakes.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    this.#wakes.add(wake);
    return promise;
  }

  /** Ends every pending wait now. */
  wakeAll(): void {
    for (const wake of [...this.#wakes]) wake();
  }
}
