/**
 * Naming what could not be sent to a child: which argument, the initial
 * state or the user id. Used only after a send failed, so its cost is paid
 * only then.
 *
 * @module
 */
import { cloneError } from "../_protocol/error_codec.ts";

/**
 * Finds which part of a start or item message cannot be sent and returns a
 * `TypeError` naming it. Used after the whole message failed, so the cost
 * is paid only then. `check` is the kind's test (`cloneError` for threads, `serializeError` for processes).
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
