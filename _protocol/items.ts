/**
 * How a process carries persistent items and their results. Items: each item's arguments are
 * serialized once, when the caller submits it (so they are captured then,
 * and their size and clonability are known), and an `items` frame carries
 * those bytes as they are, without serializing or copying them again.
 * Arguments that are all primitives (immutable) need no capture: they
 * travel in the frame's header, written once for the whole batch.
 *
 * ```
 * frame payload: ITEMS_TAG | u32 header length | header | args bytes of each serialized item, in order
 * header: u32 count, then per item: f64 seq | u8 flags (CALL, BYTES) |
 *   BYTES: u32 length of its serialized args
 *   else:  u8 argc, then per arg: u8 kind | f64 (number) or u32 length + UTF-8 (string, bigint)
 * ```
 *
 * The header is written by hand, not with node:v8: each node:v8 serializer
 * holds what it wrote until two major collections have passed (see v8.ts),
 * and one per batch of tiny items grew the heap between them. A string
 * that UTF-8 cannot carry (a lone surrogate) sends its item serialized.
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

/** The value of a kind that carries no bytes. */
function constantOf(kind: number | undefined): boolean | null | undefined {
  return kind === TRUE
    ? true
    : kind === FALSE
    ? false
    : kind === NULL
    ? null
    : undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Header flag: a `call()` item. */
const CALL = 1;
/** Header flag: the item's arguments are serialized bytes, after the header. */
const BYTES = 2;
/** Header flag: a pool's chunk (its arguments are one list per item). */
const CHUNK = 4;
/** An argument kind of the header (besides the result kinds above). */
const BIGINT = 6;

/** Whether every argument can be written into the header by hand. */
function handEncodable(args: readonly unknown[]): boolean {
  if (args.length > 255) return false;
  for (const arg of args) {
    switch (typeof arg) {
      case "string":
        if (!arg.isWellFormed()) return false;
        break;
      case "object":
        if (arg !== null) return false;
        break;
      case "function":
      case "symbol":
        return false;
    }
  }
  return true;
}

/** Writes the header by hand (see the module's doc). */
class HeaderWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(capacity: number) {
    this.#bytes = new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  u8(value: number): void {
    this.#bytes[this.#at++] = value;
  }

  u32(value: number): void {
    this.#view.setUint32(this.#at, value);
    this.#at += 4;
  }

  f64(value: number): void {
    this.#view.setFloat64(this.#at, value);
    this.#at += 8;
  }

  text(value: string): void {
    const { written } = encoder.encodeInto(
      value,
      this.#bytes.subarray(this.#at + 4),
    );
    this.u32(written);
    this.#at += written;
  }

  arg(value: unknown): void {
    switch (typeof value) {
      case "number":
        this.u8(NUMBER);
        this.f64(value);
        return;
      case "string":
        this.u8(STRING);
        this.text(value);
        return;
      case "bigint":
        this.u8(BIGINT);
        this.text(value.toString());
        return;
      case "boolean":
        this.u8(value ? TRUE : FALSE);
        return;
      case "undefined":
        this.u8(UNDEFINED);
        return;
      default:
        this.u8(NULL); // handEncodable() let nothing else through
    }
  }

  get written(): Uint8Array {
    return this.#bytes.subarray(0, this.#at);
  }
}

/** The most bytes `arg` takes in the header. */
function maxArgBytes(arg: unknown): number {
  if (typeof arg === "string") return 5 + arg.length * 3;
  if (typeof arg === "bigint") return 5 + arg.toString().length;
  return 9;
}

/**
 * The parts of one `items` frame's payload (the argument bytes are not
 * copied). An item's `args` are its serialized bytes, or an array of
 * primitives.
 */
export function encodeItems(items: readonly Item[]): Uint8Array[] {
  const blobs: Uint8Array[] = [];
  // Items serialized here, by index (made at the first: most batches have
  // none, and an object per item was most of this function's garbage).
  let serialized: (Uint8Array | undefined)[] | undefined;
  let capacity = 4;
  for (let i = 0; i < items.length; i++) {
    const args = items[i]!.args;
    let bytes = args instanceof Uint8Array ? args : undefined;
    if (bytes === undefined && !handEncodable(args as unknown[])) {
      bytes = serializeMessage(args);
      (serialized ??= [])[i] = bytes;
    }
    capacity += 14;
    if (bytes !== undefined) blobs.push(bytes);
    else for (const arg of args as unknown[]) capacity += maxArgBytes(arg);
  }
  const header = new HeaderWriter(capacity);
  header.u32(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const bytes = item.args instanceof Uint8Array ? item.args : serialized?.[i];
    header.f64(item.seq);
    header.u8(
      (item.call ? CALL : 0) | (item.chunk ? CHUNK : 0) |
        (bytes === undefined ? 0 : BYTES),
    );
    if (bytes !== undefined) {
      header.u32(bytes.length);
      continue;
    }
    const args = item.args as unknown[];
    header.u8(args.length);
    for (const arg of args) header.arg(arg);
  }
  const written = header.written;
  const prefix = new Uint8Array(5);
  prefix[0] = ITEMS_TAG;
  new DataView(prefix.buffer).setUint32(1, written.length);
  return [prefix, written, ...blobs];
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
  let at = 5;
  let offset = 5 + view.getUint32(1);
  const text = (): string => {
    const length = view.getUint32(at);
    at += 4 + length;
    return decoder.decode(payload.subarray(at - length, at));
  };
  const items: Item[] = [];
  const count = view.getUint32(at);
  at += 4;
  for (let i = 0; i < count; i++) {
    const seq = view.getFloat64(at);
    const flags = payload[at + 8]!;
    at += 9;
    const call = (flags & CALL) !== 0;
    const chunk = (flags & CHUNK) !== 0;
    if ((flags & BYTES) !== 0) {
      const length = view.getUint32(at);
      at += 4;
      // A copy: node:v8's deserializer misreads typed arrays in a view that
      // does not start its buffer.
      const args = deserializeMessage<unknown[]>(
        payload.slice(offset, offset + length),
      );
      offset += length;
      items.push(chunk ? { seq, call, chunk, args } : { seq, call, args });
      continue;
    }
    const args: unknown[] = new Array(payload[at++]!);
    for (let a = 0; a < args.length; a++) {
      const kind = payload[at++];
      if (kind === NUMBER) {
        args[a] = view.getFloat64(at);
        at += 8;
      } else if (kind === STRING) args[a] = text();
      else if (kind === BIGINT) args[a] = BigInt(text());
      else args[a] = constantOf(kind);
    }
    items.push(chunk ? { seq, call, chunk, args } : { seq, call, args });
  }
  return items;
}

/** Where {@linkcode encodeResultFrame} encodes when asked to reuse a buffer. */
let scratch = new Uint8Array(1024);
let scratchView = new DataView(scratch.buffer);
/**
 * The shared buffer's frames of fixed length, as views made once: a view
 * per result cost as much as the rest of its encoding.
 */
let numberFrame = scratch.subarray(0, 22);
let constantFrame = scratch.subarray(0, 14);

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
  const out = !reuse
    ? new Uint8Array(4 + length)
    : kind === NUMBER
    ? numberFrame
    : constantFrame;
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
    numberFrame = scratch.subarray(0, 22);
    constantFrame = scratch.subarray(0, 14);
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
  const seq = readFloat64(payload, 1);
  const kind = payload[9];
  const value = kind === NUMBER
    ? readFloat64(payload, 10)
    : kind === STRING
    ? decoder.decode(payload.subarray(10))
    : constantOf(kind);
  return { seq, ok: true, value };
}

/** Eight bytes for {@linkcode readFloat64}: a `DataView` per frame costs more. */
const float64Bytes = new Uint8Array(8);
const float64View = new DataView(float64Bytes.buffer);

/** The big-endian float64 at `at` in `bytes`. */
function readFloat64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) float64Bytes[i] = bytes[at + i]!;
  return float64View.getFloat64(0);
}
