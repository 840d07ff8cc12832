/**
 * How many items a pool sends a worker at once when the caller does not
 * say: Python's `Pool.map` rule (a quarter of each worker's share), capped
 * so that a worker never holds much more than its neighbours when the run
 * ends, and results stream back while a chunk runs (they do anyway: a
 * child sends each result as its item finishes).
 *
 * @module
 */

/** The largest automatic chunk. */
export const MAX_AUTO_CHUNK = 256;

/** The automatic chunk of an input whose length is not known (an iterator, a function). */
export const UNKNOWN_LENGTH_CHUNK = 16;

/**
 * The automatic chunk size for `length` items over `workers` workers.
 *
 * @param length The number of items, or undefined when not known.
 * @param workers The number of workers (at least 1 is assumed).
 */
export function autoChunk(length: number | undefined, workers: number): number {
  if (length === undefined) return UNKNOWN_LENGTH_CHUNK;
  // divmod(len, workers * 4), rounded up, as multiprocessing.Pool.map does.
  const chunk = Math.ceil(length / (Math.max(1, workers) * 4));
  return Math.min(MAX_AUTO_CHUNK, Math.max(1, chunk));
}
