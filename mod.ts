/**
 * **pyworkers for Deno**: run a function in a thread (Web Worker), a
 * process (`deno run` subprocess) or on a remote host, behind one `Worker`
 * interface, and stop any of them the same way: ask through an
 * `AbortSignal`, give a grace period, then force it.
 *
 * @example Threads and processes behind one interface
 * ```ts
 * import { ProcessWorker, ThreadWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const square = (x: number) => x ** 2;
 * const tw = new ThreadWorker({ target: square, args: [1] });
 * const pw = new ProcessWorker({ target: square, args: [2] });
 * await Promise.all([tw.wait(), pw.wait()]);
 * assert.deepEqual([tw.result, pw.result], [1, 4]);
 * ```
 *
 * @module
 */
export * from "./worker.ts";
export * from "./errors.ts";
export * from "./thread.ts";
export * from "./process.ts";
export * from "./persistent.ts";
export * from "./remote.ts";
export * from "./server/mod.ts";
export * from "./pool.ts";
