/**
 * How values and errors cross a worker boundary.
 *
 * Values use structured-clone semantics everywhere: `postMessage` for threads
 * and `node:v8` (the same V8 serializer) for processes and sockets. Errors a
 * target throws are encoded explicitly, because the clone algorithm drops
 * their class and own properties: we keep `name`, `message`, `stack`, `cause`
 * and cloneable own properties, and rebuild the library's error classes as
 * real instances on the other side.
 *
 * @module
 */
import { DefaultDeserializer, serialize } from "node:v8";
import {
  WorkerClosedError,
  WorkerDiedError,
  WorkerTerminatedError,
} from "./errors.ts";

const LIBRARY_ERRORS: Record<string, { prototype: Error }> = {
  WorkerTerminatedError,
  WorkerDiedError,
  WorkerClosedError,
};

const BUILTIN_ERRORS: Record<string, { prototype: Error }> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};

/** An error flattened into cloneable data. */
export interface EncodedError {
  readonly kind: "error";
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly cause?: Encoded;
  readonly props: Record<string, unknown>;
}

/** A thrown value that is not an Error. */
export interface EncodedValue {
  readonly kind: "value";
  readonly value: unknown;
}

/** A thrown value in a form that survives structured cloning. */
export type Encoded = EncodedError | EncodedValue;

/**
 * Why `value` cannot be structured-cloned, or undefined if it can.
 * Primitives are answered without cloning (only symbols fail); objects are
 * cloned once to find out.
 */
export function cloneError(value: unknown): unknown {
  const type = typeof value;
  if (type === "symbol") {
    return new DOMException(
      `${String(value)} could not be cloned`,
      "DataCloneError",
    );
  }
  if (type !== "object" && type !== "function") return undefined;
  if (value === null) return undefined;
  try {
    structuredClone(value);
    return undefined;
  } catch (error) {
    return error;
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
    return error;
  }
}

/** Whether `value` can cross every boundary (used for error properties). */
function cloneable(value: unknown): boolean {
  return cloneError(value) === undefined && serializeError(value) === undefined;
}

/** Reads a property that may be a throwing getter or behind a proxy. */
function read(object: object, key: PropertyKey): unknown {
  try {
    return (object as Record<PropertyKey, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** A description of any value that never throws. */
function describe(value: unknown): string {
  try {
    return Deno.inspect(value);
  } catch {
    try {
      return String(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

/**
 * Flattens anything a target threw into cloneable data. Never throws: an
 * error whose getters throw, or a proxy, is described as well as it can be.
 */
export function encodeError(thrown: unknown, depth = 0): Encoded {
  try {
    if (!(thrown instanceof Error)) {
      return {
        kind: "value",
        value: cloneable(thrown) ? thrown : describe(thrown),
      };
    }
    const props: Record<string, unknown> = {};
    for (const key of Object.keys(thrown)) {
      if (key === "cause" || key === "name" || key === "message") continue;
      const value = read(thrown, key);
      if (cloneable(value)) props[key] = value;
    }
    const stack = read(thrown, "stack");
    const hasCause = (() => {
      try {
        return "cause" in thrown;
      } catch {
        return false;
      }
    })();
    return {
      kind: "error",
      name: String(read(thrown, "name") ?? "Error"),
      message: String(read(thrown, "message") ?? ""),
      stack: typeof stack === "string" ? stack : undefined,
      props,
      ...(hasCause && depth < 16
        ? { cause: encodeError(read(thrown, "cause"), depth + 1) }
        : {}),
    };
  } catch (error) {
    return {
      kind: "error",
      name: "Error",
      message: `The target threw a value that could not be described: ${
        describe(error)
      }`,
      stack: undefined,
      props: {},
    };
  }
}

/** Rebuilds what {@linkcode encodeError} flattened. */
export function decodeError(encoded: Encoded): unknown {
  if (encoded.kind === "value") return encoded.value;
  const ctor = LIBRARY_ERRORS[encoded.name] ?? BUILTIN_ERRORS[encoded.name] ??
    Error;
  const error = Object.create(ctor.prototype) as Error;
  const define = (key: string, value: unknown) =>
    Object.defineProperty(error, key, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  define("message", encoded.message);
  if (encoded.name !== ctor.prototype.name) define("name", encoded.name);
  else if (LIBRARY_ERRORS[encoded.name]) define("name", encoded.name);
  define("stack", encoded.stack);
  if (encoded.cause !== undefined) define("cause", decodeError(encoded.cause));
  Object.assign(error, encoded.props);
  return error;
}

/** Wraps a thrown non-Error value so that `worker.error` is always an Error. */
export function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  let shown: string;
  try {
    shown = Deno.inspect(thrown);
  } catch {
    shown = String(thrown);
  }
  return new Error(`Worker target threw a non-Error value: ${shown}`, {
    cause: thrown,
  });
}

/**
 * Finds which part of a start or item message cannot be sent and returns a
 * `TypeError` naming it. Used after the whole message failed, so the cost
 * is paid only then. `check` is the kind's test ({@linkcode cloneError} for
 * threads, {@linkcode serializeError} for processes).
 */
export function unsendableError(
  parts: {
    args: readonly unknown[];
    initState?: unknown;
    userid?: unknown;
  },
  what: string,
  original: unknown,
  check: (value: unknown) => unknown = cloneError,
): TypeError {
  const culprits: [string, unknown][] = [
    ...parts.args.map((arg, i): [string, unknown] => [`argument ${i}`, arg]),
    ["initState", parts.initState],
    ["userid", parts.userid],
  ];
  for (const [name, value] of culprits) {
    const error = check(value);
    if (error !== undefined) {
      return new TypeError(
        `Cannot send ${name} to ${what} as it cannot be cloned: ${
          (error as Error)?.message ?? error
        }`,
        { cause: error },
      );
    }
  }
  return new TypeError(
    `Cannot send the arguments to ${what}: ${
      (original as Error)?.message ?? original
    }`,
    { cause: original },
  );
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
  const deserializer = new ExactDeserializer(bytes);
  deserializer.readHeader();
  return deserializer.readValue() as T;
}
