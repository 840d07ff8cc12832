/**
 * The memory a thread worker shares with its parent: one `Int32Array` over a
 * `SharedArrayBuffer`, in three slots. The parent sets {@linkcode STOP}; the
 * child marks when it runs its target's synchronous code, so that a forced
 * stop can tell a thread stuck in its target from one that is only slow to
 * answer (see _backend/busy_thread.ts).
 *
 * @module
 */

/** Set to 1 by the parent when termination is requested. */
export const STOP = 0;
/** 1 while the thread runs its target's synchronous code, else 0. */
export const IN_TARGET = 1;
/** How many times the thread has entered its target. */
export const ENTERED = 2;
/** The size of the shared buffer, in bytes. */
export const THREAD_FLAGS_BYTES = 12;
