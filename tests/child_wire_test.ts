/**
 * How the parent reads a child's frames (_backend/child_wire.ts): the
 * results of one read are gathered into one message, in order with the
 * child's other messages.
 */
import assert from "node:assert/strict";
import { ResultBatch } from "../_backend/child_wire.ts";
import { encodeResultFrame } from "../_protocol/items.ts";
import { serializeMessage } from "../_protocol/v8.ts";
import type { ChildMessage } from "../_protocol/messages.ts";

/** A result's frame payload (without its length), as the reader hands it. */
function resultPayload(seq: number, value: unknown): Uint8Array {
  return encodeResultFrame({ seq, ok: true, value })!.slice(4);
}

Deno.test("ResultBatch.add() gathers consecutive results into one message, delivered before any other frame", () => {
  const got: ChildMessage[] = [];
  const batch = new ResultBatch((message) => got.push(message));
  // Views into one buffer, reused after each call, as a read buffer is.
  const buffer = new Uint8Array(64);
  const view = (payload: Uint8Array): Uint8Array => {
    buffer.set(payload);
    return buffer.subarray(0, payload.length);
  };
  assert.equal(batch.add(view(resultPayload(1, 10))), true);
  assert.equal(batch.add(view(resultPayload(2, "b"))), true);
  assert.equal(got.length, 0);
  const done = serializeMessage({ t: "uncaught", error: "x" });
  assert.equal(batch.add(done), false);
  assert.deepEqual(got, [{
    t: "results",
    results: [{ seq: 1, ok: true, value: 10 }, {
      seq: 2,
      ok: true,
      value: "b",
    }],
  }]);
  assert.equal(batch.add(view(resultPayload(3, null))), true);
  batch.flush();
  batch.flush();
  assert.deepEqual(got.slice(1), [{
    t: "results",
    results: [{ seq: 3, ok: true, value: null }],
  }]);
});
