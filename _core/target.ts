/**
 * Turning a target into something that crosses a boundary, and back.
 *
 * A function travels as its source text and is rebuilt by evaluating that
 * text as an expression in the child. That is why it must be self-contained,
 * and why a function whose text is not an expression (a native or bound
 * function, a method shorthand, a class) is refused up front.
 *
 * @module
 */
import type { ModuleTarget, Target } from "../types.ts";
import { ownOptions } from "./options.ts";
import { queryDescriptor } from "../_permissions/grants.ts";
import type { TargetSpec } from "../_protocol/messages.ts";

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

/** Validates a target in the parent and describes it for the child. */
export function describeTarget(
  target: Target<never[], unknown>,
): TargetSpec {
  if (typeof target === "function") return functionSpec(target);
  if (
    target !== null && typeof target === "object" &&
    (typeof target.module === "string" || target.module instanceof URL)
  ) {
    return moduleSpec(target);
  }
  throw new TypeError(
    `Cannot use ${
      Deno.inspect(target)
    } as a target: expected a function or { module, name? }`,
  );
}

/** A function's name for a message ("bound " alone for a bound arrow). */
function functionName(fn: (...args: never[]) => unknown): string {
  const name = fn.name.trim();
  if (name === "") return "(anonymous)";
  return name === "bound" ? "(bound anonymous)" : name;
}

function functionSpec(fn: (...args: never[]) => unknown): TargetSpec {
  const source = Function.prototype.toString.call(fn);
  const why = NATIVE.test(source)
    ? "it is native or bound, so it has no source to ship"
    : source.startsWith("class")
    ? "it is a class, not a function"
    : compiles(source)
    ? undefined
    : "its source is not a function expression (a method shorthand?)";
  if (why !== undefined) {
    throw new TypeError(
      `Cannot ship function ${
        functionName(fn)
      } to a worker as ${why}: pass a self-contained function expression ` +
        "or an arrow function, or export it from a module and pass " +
        "{ module, name } instead",
    );
  }
  return { kind: "source", source };
}

function compiles(source: string): boolean {
  try {
    // Compiles without running: the body only returns the expression.
    new Function(`return (${source}\n);`);
    return true;
  } catch {
    return false;
  }
}

function moduleSpec(given: ModuleTarget): TargetSpec {
  const target = ownOptions(given, ["module", "name"], "a module target");
  const name = target.name ?? "default";
  if (typeof name !== "string") {
    throw new TypeError(
      `Cannot use ${Deno.inspect(name)} as an export name: expected a string`,
    );
  }
  return { kind: "module", module: resolveModule(target.module!), name };
}

/**
 * Resolves a module specifier the way `deno run` resolves its argument: a
 * URL as it is, a path against the working directory. A specifier with
 * neither a scheme nor a leading `/` or `.` is a path if it names a file in
 * the working directory (`fixtures/x.ts`), and otherwise a bare specifier
 * (`lodash`, `@scope/pkg`) for the child's import map.
 */
export function resolveModule(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return module; // has a scheme
  const cwd = Deno.cwd();
  const base = new URL(`file://${cwd.replace(/\/?$/, "/")}`);
  if (module.startsWith("/") || module.startsWith(".")) {
    return new URL(module, base).href;
  }
  const path = `${cwd.replace(/\/?$/, "/")}${module}`;
  return isReadableFile(path) ? new URL(module, base).href : module;
}

/** Whether `path` is a file, asked only where reading needs no prompt. */
function isReadableFile(path: string): boolean {
  try {
    return Deno.permissions.querySync(queryDescriptor("read", path))
          .state === "granted" && Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
