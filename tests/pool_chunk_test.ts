/** The automatic chunk size of a pool run (an internal, tested on purpose). */
import assert from "node:assert/strict";
import { chunkCap, MAX_CHUNK, timedChunk } from "../_pool/chunk.ts";
import {
  countLists,
  listAt,
  packLists,
  packValues,
} from "../_protocol/chunk_pack.ts";

Deno.test("chunkCap() follows Python's Pool.map rule, capped", () => {
  assert.equal(chunkCap(100, 2, MAX_CHUNK), 13); // ceil(100 / 8)
  assert.equal(chunkCap(1, 4, MAX_CHUNK), 1);
  assert.equal(chunkCap(10_000_000, 2, MAX_CHUNK), MAX_CHUNK);
  assert.equal(chunkCap(undefined, 2, 256), 256);
  assert.equal(chunkCap(0, 0, 256), 1);
});

Deno.test("timedChunk() starts at 1 and sizes chunks to about 4 ms of work", () => {
  assert.equal(timedChunk(undefined, 4096), 1);
  assert.equal(timedChunk(1000, 4096), 1); // a 1 s item goes alone
  assert.equal(timedChunk(0.01, 4096), 400);
  assert.equal(timedChunk(0.0001, 4096), 4096);
  assert.equal(timedChunk(0, 4096), 4096);
});

Deno.test("packLists() packs numbers only, and listAt() gives each item back", () => {
  const packed = packLists([[1, 2], [3, -0], [NaN, 4]]);
  assert.ok(!Array.isArray(packed));
  assert.equal(countLists(packed), 3);
  assert.deepEqual([0, 1, 2].map((i) => listAt(packed, i)), [
    [1, 2],
    [3, -0],
    [NaN, 4],
  ]);
  for (const lists of [[[1], ["a"]], [[1], [1, 2]], [[]], [[1n]]]) {
    assert.equal(packLists(lists as unknown[][]), lists);
  }
  assert.ok(packValues([1, 2.5]) instanceof Float64Array);
  assert.deepEqual(packValues([1, "a"]), [1, "a"]);
});
