/**
 * Rebuilding a target inside the child: evaluating a function's source
 * text, or importing a module and taking its export. The parent's side
 * (checking and describing a target) is _core/target.ts.
 *
 * @module
 */
import type { TargetSpec } from "../_protocol/messages.ts";

/** Rebuilds the target function in the child. */
export async function loadTarget(
  spec: TargetSpec,
): Promise<(...args: unknown[]) => unknown> {
  if (spec.kind === "source") {
    const fn = (0, eval)(`(${spec.source}\n)`);
    if (typeof fn !== "function") {
      throw new TypeError(
        "Cannot run the target as its source is not a function",
      );
    }
    return fn;
  }
  const module = await import(spec.module);
  const fn = module[spec.name];
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot run export "${spec.name}" of ${spec.module} as it is ${
        fn === undefined ? "missing" : `a ${typeof fn}, not a function`
      }`,
    );
  }
  return fn;
}
