/**
 * Type-level tests: `deno check` (which `deno test` runs first) fails if a
 * line marked `@ts-expect-error` type-checks, or a line left unmarked does
 * not. The functions are never called: only their types matter.
 */
import assert from "node:assert/strict";
import {
  ProcessWorker,
  ThreadWorker,
  Worker,
  type WorkerContext,
  WorkerType,
} from "../mod.ts";

const module = "data:text/javascript,export default (x) => x";

/** A target with parameters besides the context needs its args. */
function argsRequired(): void {
  // @ts-expect-error x would receive the context: args are required
  new ThreadWorker({ target: (x: number) => x });
  // @ts-expect-error as for threads
  new ProcessWorker({ target: (x: number, _ctx: WorkerContext) => x });
  // @ts-expect-error as for the constructors
  Worker.create(WorkerType.THREAD, { target: (x: string) => x });
  // @ts-expect-error named argument types need their args too
  new ProcessWorker<[number], number>({ target: { module } });
  // @ts-expect-error too few
  new ThreadWorker({ target: (x: number, y: number) => x + y, args: [1] });
}

/** A target that takes nothing, or only the context, needs none. */
function argsOptional(): void {
  new ThreadWorker({ target: () => 1 });
  new ThreadWorker({ target: (ctx: WorkerContext) => ctx.worker.pid });
  new ProcessWorker({ target: (x?: number) => x ?? 0 });
  new ProcessWorker({ target: (...xs: number[]) => xs.length });
  new ThreadWorker({ target: { module } });
  new ThreadWorker<[number], number>({ target: { module }, args: [1] });
  Worker.create(WorkerType.PROCESS, { target: () => 1 });
  new ThreadWorker({ target: (x: number) => x, args: [1] });
  // A loosely typed context is still the context.
  new ThreadWorker({ target: (ctx: { signal: AbortSignal }) => ctx.signal });
}

Deno.test("ArgsOption makes the constructors require args when the target takes parameters besides the context (issue 6.10)", () => {
  // The assertions are the type check of this file; these only keep the
  // functions referenced.
  assert.equal(typeof argsRequired, "function");
  assert.equal(typeof argsOptional, "function");
});
