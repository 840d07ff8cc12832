/**
 * The events a pool run reports through `onEvent`, as the original's
 * worker callback did: each is delivered before the run settles.
 *
 * @module
 */
import type { PersistentWorker } from "../persistent.ts";
import type { TargetArgs } from "../types.ts";

/**
 * One event of a pool run.
 *
 * - `enqueued`: an item was handed to `worker` (a retried item again).
 * - `finished`: an item ended in `worker`, with its `result` or its `error`
 *   (its own, its deadline's, or its third worker's death).
 * - `idle`: `worker` has nothing to do and nothing more will come for it
 *   now.
 * - `died`: `worker` ended during the run (it is restarted in place if it
 *   may be); `error` is why.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import type { PoolEvent } from "jsr:@x/pyworkers";
 *
 * function log(event: PoolEvent<[number], number>): void {
 *   if (event.type === "finished" && event.error === undefined) {
 *     console.log(event.args, "->", event.result);
 *   }
 * }
 * console.log(typeof log); // function
 * ```
 */
export type PoolEvent<A extends unknown[] = unknown[], R = unknown> =
  | {
    readonly type: "enqueued";
    readonly worker: PersistentWorker<A, R>;
    readonly args: Partial<TargetArgs<A>>;
  }
  | {
    readonly type: "finished";
    readonly worker: PersistentWorker<A, R>;
    readonly args: Partial<TargetArgs<A>>;
    readonly result?: R;
    readonly error?: Error;
  }
  | { readonly type: "idle"; readonly worker: PersistentWorker<A, R> }
  | {
    readonly type: "died";
    readonly worker: PersistentWorker<A, R>;
    readonly error: Error | undefined;
  };
