/**
 * How a process carries persistent items: each item's arguments are
 * serialized once, when the caller submits it (so they are captured then,
 * and their size and clonability are known), and an `items` frame carries
 * those bytes as they are, without serializing or copying them again.
 *
 * ```
 * frame payload: ITEMS_TAG | u32 header length | header | args bytes of item 0 | of item 1 | ...
 * header: node:v8 of [{ seq, call, bytes }, ...]
 * ```
 *
 * Every other frame is a plain node:v8 message, whose first byte is 0xff
 * (the serializer's version tag), so the tag tells the two apart.
 *
 * @module
 */
import type { Item } from "./messages.ts";
import { deserializeMessage, serializeMessage } from "./v8.ts";

/** The first byte of an `items` frame. */
export const ITEMS_TAG = 1;

/** An item whose arguments a process transport has serialized at submit. */
export interface SerializedItem extends Item {
  readonly args: Uint8Array;
}

/** The parts of one `items` frame's payload (the argument bytes are not copied). */
export function encodeItems(items: readonly SerializedItem[]): Uint8Array[] {
  const header = serializeMessage(
    items.map((item) => ({
      seq: item.seq,
      call: item.call,
      bytes: item.args.length,
    })),
  );
  const prefix = new Uint8Array(5);
  prefix[0] = ITEMS_TAG;
  new DataView(prefix.buffer).setUint32(1, header.length);
  return [prefix, header, ...items.map((item) => item.args)];
}

/** Whether a frame's payload is an `items` frame. */
export function isItemsFrame(payload: Uint8Array): boolean {
  return payload[0] === ITEMS_TAG;
}

/** The items of an `items` frame, their arguments deserialized. */
export function decodeItems(payload: Uint8Array): Item[] {
  const view = new DataView(
    payload.buffer,
    payload.byteOffset,
    payload.byteLength,
  );
  const headerLength = view.getUint32(1);
  let offset = 5 + headerLength;
  const header = deserializeMessage<
    { seq: number; call: boolean; bytes: number }[]
  >(payload.subarray(5, offset));
  return header.map(({ seq, call, bytes }) => {
    // A copy: node:v8's deserializer misreads typed arrays in a view that
    // does not start its buffer.
    const args = deserializeMessage<unknown[]>(
      payload.slice(offset, offset + bytes),
    );
    offset += bytes;
    return { seq, call, args };
  });
}
