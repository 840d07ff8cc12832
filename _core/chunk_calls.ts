/**
 * The one seam a pool needs beyond a persistent worker's public methods:
 * a chunk call, one item whose arguments are many items' argument lists,
 * which the child runs as items of their own and answers in one message
 * (see `Item.chunk`). Persistent workers register how they submit one
 * (they own the private state); the pool calls it. Not public API.
 *
 * @module
 */
import type { ChunkResult } from "../_protocol/messages.ts";
import type { ChunkArgs } from "../_protocol/chunk_pack.ts";

/** Submits a chunk to a persistent worker; resolves with the items' values and failures. */
export type ChunkCaller = (
  worker: object,
  lists: ChunkArgs,
) => Promise<ChunkResult>;

let caller: ChunkCaller | undefined;

/** Registers how persistent workers submit a chunk (persistent.ts, once). */
export function setChunkCaller(submit: ChunkCaller): void {
  caller = submit;
}

/**
 * Runs `lists` as one chunk in a persistent worker: like `call()`, its
 * promise rejects if the chunk as a whole failed (its worker ended, a
 * value could not be sent), else resolves with the items' values and failures.
 */
export function callChunk(
  worker: object,
  lists: ChunkArgs,
): Promise<ChunkResult> {
  return caller!(worker, lists);
}
