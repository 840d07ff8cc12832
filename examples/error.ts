/**
 * What a worker reports when its target throws: `result` stays undefined,
 * `hasError` is true and `error` holds the error, rebuilt in the parent.
 *
 * Run it with `deno run -A examples/error.ts`; it prints
 *
 * ```
 * undefined
 * true
 * How is one supposed to live on this miserable world where x = 2?
 * ```
 *
 * @module
 */
import { ProcessWorker } from "../mod.ts";

/** The target: always throws, so the worker ends with an error. */
function suicide(x: number): never {
  throw new Error(
    `How is one supposed to live on this miserable world where x = ${x}?`,
  );
}

if (import.meta.main) {
  const pw = new ProcessWorker({ target: suicide, args: [2] });
  await pw.wait();
  console.log(pw.result);
  console.log(pw.hasError);
  console.log(pw.error?.message);
}
