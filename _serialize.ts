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
import { deserialize, serialize } from "node:v8";
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

function cloneable(value: unknown): boolean {
  return cloneError(value) === undefined;
}

/** Flattens anything a target threw into cloneable data. */
export function encodeError(thrown: unknown, depth = 0): Encoded {
  if (!(thrown instanceof Error)) {
    return {
      kind: "value",
      value: cloneable(thrown) ? thrown : String(thrown),
    };
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (key === "cause" || key === "name" || key === "message") continue;
    const value = (thrown as unknown as Record<string, unknown>)[key];
    if (cloneable(value)) props[key] = value;
  }
  const encoded: EncodedError = {
    kind: "error",
    name: thrown.name,
    message: thrown.message,
    stack: thrown.stack,
    props,
    ...("cause" in thrown && depth < 16
      ? { cause: encodeError(thrown.cause, depth + 1) }
      : {}),
  };
  return encoded;
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
 * Finds which of `args` cannot be cloned and returns a `TypeError` naming it.
 * Used after a whole message failed to clone, so the cost is paid only then.
 */
export function unclonableArgumentError(
  args: readonly unknown[],
  what: string,
  original: unknown,
): TypeError {
  for (let i = 0; i < args.length; i++) {
    const error = cloneError(args[i]);
    if (error !== undefined) {
      return new TypeError(
        `Cannot send argument ${i} to ${what} as it cannot be cloned: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
  return new TypeError(
    `Cannot send the arguments to ${what} as they cannot be cloned: ${
      (original as Error)?.message ?? original
    }`,
    { cause: original },
  );
}

/** Serializes one message with the V8 serializer (structured-clone semantics). */
export function serializeMessage(message: unknown): Uint8Array {
  return serialize(message);
}

/** Inverse of {@linkcode serializeMessage}. */
export function deserializeMessage<T>(bytes: Uint8Array): T {
  return deserialize(bytes) as T;
}
