/**
 * How values cross a process boundary: V8-serialized messages
 * (`node:v8`, the serializer behind structured cloning), and naming what
 * could not be sent. Errors are encoded by _error_codec.ts first.
 *
 * @module
 */
import { DefaultDeserializer, DefaultSerializer } from "node:v8";

/**
 * `node:v8`'s `serialize()`, minus its leak. In Deno 2.8.2 a serializer is
 * never collected (denoland/deno#35074, fixed after 2.8.2 by #35132): its
 * native half holds a strong handle to its JS object, which holds the
 * native half, and V8's identity map inside keeps every object it wrote
 * alive, so each item's arguments and each batch's header stayed in the
 * heap for good (~11 MB per 100k tiny items). Dropping the JS object's
 * handle once the bytes are out leaves the native half unreachable: the
 * collector then frees it, its handle, and the values it wrote.
 */
function serialize(value: unknown): Uint8Array {
  const serializer = new DefaultSerializer();
  try {
    serializer.writeHeader();
    serializer.writeValue(value);
    return serializer.releaseBuffer();
  } finally {
    // The handle is a symbol-keyed own property (the only one).
    for (const key of Object.getOwnPropertySymbols(serializer)) {
      delete (serializer as unknown as Record<symbol, unknown>)[key];
    }
  }
}

/**
 * Why `value` cannot cross a process boundary (`node:v8`), or undefined.
 * Stricter than structured cloning in places: a `SharedArrayBuffer` or a
 * `WebAssembly.Module` clones to a thread but cannot leave the process.
 */
export function serializeError(value: unknown): unknown {
  const type = typeof value;
  if (type !== "object" && type !== "function" && type !== "symbol") {
    return undefined;
  }
  if (value === null) return undefined;
  try {
    serialize(value);
    return undefined;
  } catch (error) {
    // Deno's serializer names no value for a compiled module: say which.
    if (/wasm_module/.test(String((error as Error)?.message))) {
      return new TypeError(
        "#<WebAssembly.Module> could not be cloned: a compiled WebAssembly " +
          "module cannot leave its process",
        { cause: error },
      );
    }
    return error;
  }
}

/** The largest message that crosses a process boundary (a frame's limit). */
export const MAX_MESSAGE_BYTES = 1 << 30;

/**
 * Serializes one message with the V8 serializer (structured-clone
 * semantics). Throws a `RangeError` for a message over
 * {@linkcode MAX_MESSAGE_BYTES}.
 */
export function serializeMessage(message: unknown): Uint8Array {
  const bytes = serialize(message);
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot send ${bytes.length} bytes as the limit is ${MAX_MESSAGE_BYTES}`,
    );
  }
  return bytes;
}

/**
 * Gives every typed array its own buffer, as structured cloning does.
 * (`node:v8`'s default copies a misaligned one into Node's shared 8 KiB
 * Buffer pool, and its `.buffer` would expose unrelated memory.)
 */
class ExactDeserializer extends DefaultDeserializer {
  // Node's documented hook for host objects (typed arrays among them); its
  // types do not declare it.
  _readHostObject(): unknown {
    const view = (DefaultDeserializer.prototype as unknown as {
      _readHostObject(this: DefaultDeserializer): unknown;
    })._readHostObject.call(this);
    if (!ArrayBuffer.isView(view)) return view;
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
      .slice();
    const tag = Object.prototype.toString.call(view).slice(8, -1);
    if (tag === "DataView") return new DataView(bytes.buffer);
    const ctor = (globalThis as unknown as Record<string, unknown>)[tag] as {
      new (buffer: ArrayBuffer): ArrayBufferView;
    };
    return new ctor(bytes.buffer);
  }
}

/** Inverse of {@linkcode serializeMessage}. */
export function deserializeMessage<T>(bytes: Uint8Array): T {
  // node:v8's deserializer misreads typed arrays in a view that does not
  // start its buffer (a remote job's bytes follow the link's job header):
  // such a view is copied first.
  const deserializer = new ExactDeserializer(
    bytes.byteOffset === 0 ? bytes : bytes.slice(),
  );
  deserializer.readHeader();
  return deserializer.readValue() as T;
}
