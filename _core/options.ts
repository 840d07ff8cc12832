/**
 * Reading a user's options object at a public boundary: by its own
 * properties only, so that a polluted `Object.prototype` (say
 * `Object.prototype.target = ...` or `.permissions = "inherit"`) changes
 * nothing. Pool libraries have had remote code execution from exactly that.
 *
 * @module
 */

/** The names every worker's options may hold. */
export const WORKER_OPTION_NAMES = [
  "target",
  "args",
  "name",
  "userid",
  "run",
  "initState",
  "permissions",
  "env",
] as const;

/**
 * A copy of `value` holding only the own properties named in `names`, on a
 * null prototype (so a missing name reads as undefined whatever
 * `Object.prototype` holds). `undefined` reads as no options.
 *
 * @param value The options the user passed.
 * @param names The option names to copy.
 * @param what What the options are for, for the error message.
 * @throws {TypeError} If `value` is neither undefined nor a plain object.
 */
export function ownOptions<T extends object>(
  value: T | undefined,
  names: readonly (keyof T & string)[],
  what: string,
): Partial<T> {
  const copy = Object.create(null) as Partial<T>;
  if (value === undefined) return copy;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `Cannot use ${Deno.inspect(value)} as ${what}: expected an object`,
    );
  }
  for (const name of names) {
    if (Object.hasOwn(value, name)) copy[name] = value[name];
  }
  return copy;
}

/** The count limits of a persistent worker. */
export interface PersistentLimits {
  highWaterMark: number;
  window: number;
}

/**
 * Reads and checks a persistent worker's `highWaterMark` and `window` (own
 * properties only), before any child is started. Only an absent option
 * takes its default: `null` is refused.
 *
 * @throws {RangeError} If either is not an integer >= 1.
 */
export function persistentLimits(
  options: object,
  defaults: PersistentLimits,
): PersistentLimits {
  const own = ownOptions(
    options as Partial<PersistentLimits>,
    ["highWaterMark", "window"],
    "persistent worker options",
  );
  return {
    highWaterMark: positiveInteger(
      "highWaterMark",
      own.highWaterMark === undefined
        ? defaults.highWaterMark
        : own.highWaterMark,
    ),
    window: positiveInteger(
      "window",
      own.window === undefined ? defaults.window : own.window,
    ),
  };
}

/**
 * Checks a count option.
 *
 * @throws {RangeError} If `value` is not an integer >= 1.
 */
export function positiveInteger(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new RangeError(
      `Cannot use ${name} ${Deno.inspect(value)}: expected an integer >= 1`,
    );
  }
  return value as number;
}

/**
 * `options` copied onto a null prototype, to be handed to Deno: Deno reads
 * its options (file, socket, command, worker, DNS ...) through the
 * prototype chain, which a polluted `Object.prototype` would reach.
 */
export function forDeno<T extends object>(options: T): T {
  return Object.assign(Object.create(null), options);
}
