/**
 * Rebuilding a target inside the child: evaluating a function's source
 * text, or importing a module and taking its export. The parent's side
 * (checking and describing a target) is _core/target.ts.
 *
 * @module
 */
import type { TargetSpec } from "../_protocol/messages.ts";
import { ENTERED, IN_TARGET } from "../_protocol/thread_flags.ts";

type TargetFn = (...args: unknown[]) => unknown;

/** Where a thread child marks that it runs its target (see thread_flags.ts). */
let flags: Int32Array | undefined;

/**
 * Makes the targets loaded from now on mark in `shared` when they run
 * synchronous code. Called by a thread child, whose parent reads the marks.
 */
export function markTargetRuns(shared: Int32Array): void {
  flags = shared;
}

/** Rebuilds the target function in the child. */
export async function loadTarget(spec: TargetSpec): Promise<TargetFn> {
  if (spec.kind === "source") {
    const fn = (0, eval)(`(${spec.source}\n)`);
    if (typeof fn !== "function") {
      throw new TypeError(
        "Cannot run the target as its source is not a function",
      );
    }
    return wrap(fn, explainCapture);
  }
  const module = await import(spec.module).catch((error) => {
    explainBare(spec.module, error);
    throw unreadable(spec.module, error) ?? error;
  });
  const fn = module[spec.name];
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot run export "${spec.name}" of ${spec.module} as it is ${
        fn === undefined ? "missing" : `a ${typeof fn}, not a function`
      }`,
    );
  }
  return wrap(fn, undefined);
}

/**
 * The target as the runtime calls it: marking its synchronous code in the
 * shared flags (threads) and explaining its errors (`explain`).
 */
function wrap(
  fn: TargetFn,
  explain: ((error: unknown) => void) | undefined,
): TargetFn {
  const shared = flags;
  if (shared === undefined && explain === undefined) return fn;
  return function target(this: unknown, ...args: unknown[]): unknown {
    if (shared !== undefined) {
      Atomics.add(shared, ENTERED, 1);
      Atomics.store(shared, IN_TARGET, 1);
    }
    try {
      const value = fn.apply(this, args);
      if (explain !== undefined && value instanceof Promise) {
        return value.catch((error) => {
          explain(error);
          throw error;
        });
      }
      return value;
    } catch (error) {
      explain?.(error);
      throw error;
    } finally {
      // Once it returns (a promise, for an async target), the thread is back
      // in the runtime or its event loop.
      if (shared !== undefined) Atomics.store(shared, IN_TARGET, 0);
    }
  };
}

/**
 * Adds to a failed import of a bare specifier how the parent resolved it:
 * the name was neither a URL nor a file in its working directory.
 */
function explainBare(specifier: string, error: unknown): void {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return; // not bare
  // Only when it failed to resolve, not when the module threw as it loaded.
  if (!String((error as Error)?.message).includes(`"${specifier}"`)) return;
  amend(
    error,
    ` (a module target without a scheme that is not a file in the working ` +
      `directory is a bare specifier, resolved by the import map: start a ` +
      `path with ./ or pass a URL)`,
  );
}

/**
 * Deno's error for a module the worker may not read is a plain TypeError
 * ("Requires read access to ..."): as the worker's grant is what refused
 * it, it becomes NotCapable, saying what to grant.
 */
function unreadable(specifier: string, error: unknown): Error | undefined {
  const message = String((error as Error)?.message);
  const path = /^Requires read access to "([^"]*)"/.exec(message)?.[1];
  if (path === undefined) return undefined;
  return new Deno.errors.NotCapable(
    `Cannot load the module target ${specifier} as the worker may not read ` +
      `"${path}": grant it, e.g. permissions: { read: [${
        JSON.stringify(path)
      }] }`,
    { cause: error },
  );
}

/** Appends `hint` to an error's message and stack, if it lets us. */
function amend(error: unknown, hint: string): void {
  if (!(error instanceof Error)) return;
  try {
    const message = error.message;
    error.message = message + hint;
    if (typeof error.stack === "string") {
      error.stack = error.stack.replace(message, error.message);
    }
  } catch {
    // A frozen or exotic error keeps its own message.
  }
}

const CAPTURE_HINT = " (function targets are shipped as source: a variable " +
  "the function captured does not exist in the worker; pass it in args or " +
  "use { module, name })";

/**
 * Adds to a function target's `ReferenceError` why a name it saw where it
 * was written is missing in the worker. It stays a `ReferenceError`.
 */
function explainCapture(error: unknown): void {
  if (!(error instanceof ReferenceError)) return;
  if (/ is not defined$/.test(String(error.message))) {
    amend(error, CAPTURE_HINT);
  }
}
