/**
 * How a process carries persistent items and their results. Items: each item's arguments are
 * serialized once, when the caller submits it (so they are captured then,
 * and their size and clonability are known), and an `items` frame carries
 * those bytes as they are, without serializing or copying them again.
 * Arguments that are all primitives (immutable) need no capture: they
 * travel in the frame's header, serialized once for the whole batch.
 *
 * ```
 * frame payload: ITEMS_TAG | u32 header length | header | args bytes of each serialized item, in order
 * header: node:v8 of [{ seq, call, args } or { seq, call, bytes }, ...]
 * ```
 *
 * Results: each goes out as its item finishes, one frame each, so their
 * encoding is on the per-item path: a result whose value is a number, a
 * boolean, null, undefined or a well-formed string is encoded by hand (a
 * node:v8 message costs ~15 µs to write and ~6 µs to read in Deno, more
 * than the rest of an item's trip); any other goes as a node:v8 message.
 *
 * ```
 * frame payload: RESULT_TAG | f64 seq | value kind | value (f64 or UTF-8)
 * ```
 *
 * Every other frame is a plain node:v8 message, whose first byte is 0xff
 * (the serializer's version tag), so the tags tell them apart.
 *
 * @module
 */
import type { Item, ItemResult } from "./messages.ts";
import { deserializeMessage, serializeMessage } from "./v8.ts";

/** The first byte of an `items` frame. */
export const ITEMS_TAG = 1;
/** The first byte of a hand-encoded `results` frame of one item. */
export const RESULT_TAG = 2;

const NUMBER = 0;
const STRING = 1;
const TRUE = 2;
const FALSE = 3;
const NULL = 4;
const UNDEFINED = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One item in a frame's header: its primitive arguments, or the size of their bytes. */
type HeaderEntry =
  | { seq: number; call: boolean; args: readonly unknown[] }
  | { seq: number; call: boolean; bytes: number };

/**
 * The parts of one `items` frame's payload (the argument bytes are not
 * copied). An item's `args` are its serialized bytes, or an array of
 * primitives.
 */
export function encodeItems(items: readonly Item[]): Uint8Array[] {
  const blobs: Uint8Array[] = [];
  const entries = items.map((item): HeaderEntry => {
    if (!(item.args instanceof Uint8Array)) {
      return { seq: item.seq, call: item.call, args: item.args };
    }
    blobs.push(item.args);
    return { seq: item.seq, call: item.call, bytes: item.args.length };
  });
  const header = serializeMessage(entries);
  const prefix = new Uint8Array(5);
  prefix[0] = ITEMS_TAG;
  new DataView(prefix.buffer).setUint32(1, header.length);
  return [prefix, header, ...blobs];
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
  const header = deserializeMessage<HeaderEntry[]>(
    payload.subarray(5, offset),
  );
  return header.map((entry) => {
    if ("args" in entry) return entry;
    // A copy: node:v8's deserializer misreads typed arrays in a view that
    // does not start its buffer.
    const args = deserializeMessage<unknown[]>(
      payload.slice(offset, offset + entry.bytes),
    );
    offset += entry.bytes;
    return { seq: entry.seq, call: entry.call, args };
  });
}

/** Where {@linkcode encodeResultFrame} encodes when asked to reuse a buffer. */
let scratch = new Uint8Array(1024);
let scratchView = new DataView(scratch.buffer);

/**
 * One successful result with a primitive value, encoded by hand as a whole
 * frame (its 4-byte length first: one allocation on the per-item path);
 * undefined for any other result (send it with node:v8).
 *
 * @param reuse Encode into a buffer shared by every call (no allocation):
 * the frame is valid until the next call, for a caller that copies it at
 * once (the sender thread's ring).
 */
export function encodeResultFrame(
  result: ItemResult,
  reuse = false,
): Uint8Array | undefined {
  if (!result.ok) return undefined;
  const value = result.value;
  let kind: number;
  let body: Uint8Array | undefined;
  switch (typeof value) {
    case "number":
      kind = NUMBER;
      break;
    case "string":
      // A lone surrogate would not survive UTF-8: node:v8 keeps it.
      if (!value.isWellFormed()) return undefined;
      kind = STRING;
      if (reuse) return encodeStringInto(result.seq, value);
      body = encoder.encode(value);
      break;
    case "boolean":
      kind = value ? TRUE : FALSE;
      break;
    case "undefined":
      kind = UNDEFINED;
      break;
    default:
      if (value !== null) return undefined;
      kind = NULL;
  }
  const length = 10 + (kind === NUMBER ? 8 : body?.length ?? 0);
  const out = reuse
    ? scratch.subarray(0, 4 + length)
    : new Uint8Array(4 + length);
  const view = reuse ? scratchView : new DataView(out.buffer);
  view.setUint32(0, length);
  out[4] = RESULT_TAG;
  view.setFloat64(5, result.seq);
  out[13] = kind;
  if (kind === NUMBER) view.setFloat64(14, value as number);
  else if (body !== undefined) out.set(body, 14);
  return out;
}

/** A string result's frame, encoded into the shared buffer (grown to fit). */
function encodeStringInto(seq: number, value: string): Uint8Array {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (scratch.length < 14 + value.length * 3) {
    scratch = new Uint8Array(14 + value.length * 3);
    scratchView = new DataView(scratch.buffer);
  }
  const { written } = encoder.encodeInto(value, scratch.subarray(14));
  scratchView.setUint32(0, 10 + written);
  scratch[4] = RESULT_TAG;
  scratchView.setFloat64(5, seq);
  scratch[13] = STRING;
  return scratch.subarray(0, 14 + written);
}

/** Whether a frame's payload is a hand-encoded result. */
export function isResultFrame(payload: Uint8Array): boolean {
  return payload[0] === RESULT_TAG;
}

/** Inverse of {@linkcode encodeResultFrame}, given the frame's payload. */
export function decodeResult(payload: Uint8Array): ItemResult {
  const view = new DataView(
    payload.buffer,
    payload.byteOffset,
    payload.byteLength,
  );
  const seq = view.getFloat64(1);
  const kind = payload[9];
  const value = kind === NUMBER
    ? view.getFloat64(10)
    : kind === STRING
    ? decoder.decode(payload.subarray(10))
    : kind === TRUE
    ? true
    : kind === FALSE
    ? false
    : kind === NULL
    ? null
    : undefined;
  return { seq, ok: true, value };
}
