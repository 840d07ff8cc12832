/**
 * One item of a pool run, from the moment it is read from the input until
 * it has a result or fails for good. A dead worker's items go back to the
 * run as the same tasks, so what an item has been through travels with it.
 *
 * @module
 */

/** One item of a pool run. */
export interface Task {
  /** Its position in the input, from 0 (the ordered `imap` yields by it). */
  readonly index: number;
  /** The arguments it runs with. */
  readonly args: unknown[];
  /** The run it belongs to (a run that ended early ignores its late outcome). */
  readonly owner: object;
  /** Workers that died while it was the item running in them. */
  deaths: number;
  /** Sent alone, never in a chunk: its chunk failed as a whole (a worker died in it). */
  single: boolean;
  /** When it became the next item its worker runs (ms, `performance.now()`); 0 before. */
  since: number;
}
