/**
 * How many items a pool sends a worker at once when the caller does not
 * say. Two limits, the smaller wins:
 *
 * - Python's `Pool.map` rule: a quarter of each worker's share of an input
 *   of known length (so that workers end together), capped;
 * - time: a chunk should take about {@linkcode TARGET_CHUNK_MS}, measured
 *   from the worker's answers (a worker starts with chunks of 1 and grows
 *   them as it answers), so long items still stream back one by one while
 *   tiny ones travel thousands per message.
 *
 * @module
 */

/** The largest automatic chunk sent as one chunk call (no deadlines). */
export const MAX_CHUNK = 16384;

/** The largest automatic chunk of single calls (a run with deadlines). */
export const MAX_CALLS_CHUNK = 256;

/** About how long an automatic chunk should take to run (ms). */
export const TARGET_CHUNK_MS = 4;

/**
 * The cap of a run's automatic chunks: Python's rule (`ceil(length /
 * (workers * 4))`) for an input of known length, `max` otherwise.
 *
 * @param length The number of items, or undefined when not known.
 * @param workers The number of workers (at least 1 is assumed).
 * @param max The largest chunk.
 */
export function chunkCap(
  length: number | undefined,
  workers: number,
  max: number,
): number {
  if (length === undefined) return max;
  const chunk = Math.ceil(length / (Math.max(1, workers) * 4));
  return Math.min(max, Math.max(1, chunk));
}

/**
 * A worker's next automatic chunk: about {@linkcode TARGET_CHUNK_MS} of
 * items at its measured pace, at least 1, at most `cap`; 1 until measured.
 *
 * @param perItemMs The worker's measured time per item, if any yet.
 * @param cap The run's cap.
 */
export function timedChunk(perItemMs: number | undefined, cap: number): number {
  if (perItemMs === undefined) return 1;
  if (perItemMs <= 0) return cap;
  return Math.min(cap, Math.max(1, Math.floor(TARGET_CHUNK_MS / perItemMs)));
}
