/**
 * How errors cross a worker boundary, and the structured-clone check.
 *
 * The clone algorithm drops an error's class and own properties, so errors
 * a target throws are encoded explicitly: `name`, `message`, `stack`,
 * `cause`, an `AggregateError`'s `errors` and cloneable own properties, and
 * the library's error classes, the built-in ones, `Deno.errors.*` and
 * `DOMException` are rebuilt as real instances on the other side. This module has no
 * `node:v8`, so thread children load it cheaply; process serialization is in
 * v8.ts.
 *
 * @module
 */
import {
  WorkerClosedError,
  WorkerDiedError,
  WorkerTerminatedError,
} from "../errors.ts";

// Null prototypes: a child names the class, and a name such as
// "hasOwnProperty" must not find an Object.prototype member.
const LIBRARY_ERRORS: Record<string, { prototype: Error }> = Object.assign(
  Object.create(null),
  {
    WorkerTerminatedError,
    WorkerDiedError,
    WorkerClosedError,
  },
);

const BUILTIN_ERRORS: Record<string, { prototype: Error }> = Object.assign(
  Object.create(null),
  {
    Error,
    TypeError,
    RangeError,
    SyntaxError,
    ReferenceError,
    EvalError,
    URIError,
    AggregateError,
    // Newer than the lib types: present when this Deno defines it.
    ...("SuppressedError" in globalThis
      ? {
        SuppressedError: (globalThis as unknown as {
          SuppressedError: { prototype: Error };
        }).SuppressedError,
      }
      : {}),
  },
);

/**
 * The nearest built-in class in `error`'s prototype chain, when its name
 * does not say it (a `class ValidationError extends TypeError`).
 */
function builtinBase(error: Error, name: string): string | undefined {
  if (BUILTIN_ERRORS[name] !== undefined || LIBRARY_ERRORS[name]) {
    return undefined;
  }
  for (
    let proto = Object.getPrototypeOf(error);
    proto !== null && proto !== Error.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const [base, ctor] of Object.entries(BUILTIN_ERRORS)) {
      if (proto === ctor.prototype) return base;
    }
  }
  return undefined;
}

/** How deep causes and an `AggregateError`'s errors are followed. */
const MAX_DEPTH = 16;

/** An error flattened into cloneable data. */
export interface EncodedError {
  readonly kind: "error";
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly cause?: Encoded;
  /** An `AggregateError`'s `errors`. */
  readonly errors?: Encoded[];
  /** A `SuppressedError`'s `error` and `suppressed`. */
  readonly suppressed?: readonly [Encoded, Encoded];
  /** The nearest built-in class, for a subclass its name does not tell. */
  readonly base?: string;
  /**
   * The class to rebuild when its name does not tell: `"DOMException"` (whose
   * name is e.g. `"AbortError"`) or `"Deno.errors.<Name>"`.
   */
  readonly type?: string;
  readonly props: Record<string, unknown>;
}

/** Which of the classes that `name` alone cannot identify `error` is. */
function typeOf(error: Error): string | undefined {
  if (error instanceof DOMException) return "DOMException";
  const name = error.name;
  const denoError = DENO_ERRORS[name];
  if (denoError !== undefined && error instanceof denoError) {
    return `Deno.errors.${name}`;
  }
  return undefined;
}

/** `Deno.errors` by name, whatever this Deno release defines. */
const DENO_ERRORS: Record<string, abstract new () => Error> = Object.assign(
  Object.create(null),
  Deno.errors,
);

/** The `Deno.errors` class named `name`, or undefined (never one of Object.prototype's). */
export function denoErrorClass(
  name: string,
): (new (message?: string) => Error) | undefined {
  return DENO_ERRORS[name] as (new (message?: string) => Error) | undefined;
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

/** Whether an error property can cross every boundary (threads and processes). */
function cloneable(value: unknown): boolean {
  // node:v8 (processes) also refuses these, which structured cloning accepts.
  return cloneError(value) === undefined &&
    !(value instanceof SharedArrayBuffer) &&
    !(value instanceof WebAssembly.Module);
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
 * `canSend` tells which values the transport can carry as they are (a
 * process's `node:v8` refuses some that structured cloning accepts).
 */
export function encodeError(
  thrown: unknown,
  canSend: (value: unknown) => boolean = cloneable,
  depth = 0,
): Encoded {
  try {
    if (!(thrown instanceof Error)) {
      return {
        kind: "value",
        value: canSend(thrown) ? thrown : describe(thrown),
      };
    }
    const suppressedError = BUILTIN_ERRORS.SuppressedError !== undefined &&
      thrown instanceof (BUILTIN_ERRORS.SuppressedError as typeof Error);
    const props: Record<string, unknown> = {};
    for (const key of Object.keys(thrown)) {
      if (key === "cause" || key === "name" || key === "message") continue;
      if (suppressedError && (key === "error" || key === "suppressed")) {
        continue;
      }
      const value = read(thrown, key);
      if (canSend(value)) props[key] = value;
    }
    const stack = read(thrown, "stack");
    // Own properties only: a polluted Object.prototype.cause must not give
    // every error a cause (nor a cycle through it).
    const hasCause = (() => {
      try {
        return Object.hasOwn(thrown, "cause");
      } catch {
        return false;
      }
    })();
    const errors = thrown instanceof AggregateError
      ? read(thrown, "errors")
      : undefined;
    const type = typeOf(thrown);
    const deeper = depth < MAX_DEPTH;
    const name = String(read(thrown, "name") ?? "Error");
    const base = type === undefined ? builtinBase(thrown, name) : undefined;
    return {
      kind: "error",
      name,
      message: String(read(thrown, "message") ?? ""),
      stack: typeof stack === "string" ? stack : undefined,
      props,
      ...(type === undefined ? {} : { type }),
      ...(base === undefined ? {} : { base }),
      ...(suppressedError && deeper
        ? {
          suppressed: [
            encodeError(read(thrown, "error"), canSend, depth + 1),
            encodeError(read(thrown, "suppressed"), canSend, depth + 1),
          ] as const,
        }
        : {}),
      ...(hasCause && deeper
        ? { cause: encodeError(read(thrown, "cause"), canSend, depth + 1) }
        : {}),
      ...(Array.isArray(errors) && deeper
        ? {
          errors: Array.from(
            errors,
            (error) => encodeError(error, canSend, depth + 1),
          ),
        }
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

/** An instance of the class `encoded` was, without running its constructor if it can be helped. */
function instanceFor(encoded: EncodedError): Error {
  if (encoded.type === "DOMException") {
    // Its name and code live in internal slots: only the constructor sets them.
    return new DOMException(encoded.message, encoded.name);
  }
  const denoError = encoded.type?.startsWith("Deno.errors.")
    ? DENO_ERRORS[encoded.type.slice("Deno.errors.".length)]
    : undefined;
  const ctor = denoError ?? LIBRARY_ERRORS[encoded.name] ??
    BUILTIN_ERRORS[encoded.name] ??
    (encoded.base === undefined ? undefined : BUILTIN_ERRORS[encoded.base]) ??
    Error;
  return Object.create(ctor.prototype) as Error;
}

/**
 * Rebuilds what {@linkcode encodeError} flattened. Never throws: what a
 * child sends must not be able to crash its parent, so anything that cannot
 * be rebuilt becomes a plain `Error` saying so.
 */
export function decodeError(received: Encoded): unknown {
  try {
    return rebuild(received);
  } catch (error) {
    return new Error(
      `A worker reported an error that could not be rebuilt: ${
        (error as Error)?.message ?? error
      }`,
      { cause: error },
    );
  }
}

function rebuild(received: Encoded): unknown {
  if (received.kind === "value") return received.value;
  // Own fields only, on a null prototype: optional fields absent on the wire
  // (`cause`, `type`, `errors`) must not be read from a polluted
  // Object.prototype (a polluted `cause` would recurse forever).
  const encoded: EncodedError = Object.assign(Object.create(null), received);
  const error = instanceFor(encoded);
  const ctor = error.constructor as { prototype: Error };
  const define = (key: string, value: unknown) =>
    Object.defineProperty(error, key, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  if (!(error instanceof DOMException)) {
    define("message", encoded.message);
    if (encoded.name !== ctor.prototype.name) define("name", encoded.name);
    else if (LIBRARY_ERRORS[encoded.name]) define("name", encoded.name);
  }
  define("stack", encoded.stack);
  if (encoded.cause !== undefined) define("cause", rebuild(encoded.cause));
  if (encoded.errors !== undefined) {
    define("errors", encoded.errors.map(rebuild));
  }
  if (encoded.suppressed !== undefined) {
    define("error", rebuild(encoded.suppressed[0]));
    define("suppressed", rebuild(encoded.suppressed[1]));
  }
  Object.assign(error, encoded.props ?? {});
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
