/**
 * The first example of the README: the same function run in a thread and in
 * a process, through the same interface.
 *
 * Run it with `deno run -A examples/basic.ts`; it prints `1 4`.
 *
 * @module
 */
import { ProcessWorker, ThreadWorker } from "../mod.ts";

/**
 * The target. It is shipped to each worker as source text, so it must be
 * self-contained: no variables captured from this module.
 */
function foo(x: number): number {
  return x ** 2;
}

if (import.meta.main) {
  // Constructors start the worker at once: there is no `start()`.
  const tw = new ThreadWorker({ target: foo, args: [1] });
  await tw.wait();

  const pw = new ProcessWorker({ target: foo, args: [2] });
  await pw.wait();

  // The remote worker joins here once the server exists:
  //   const rw = new RemoteWorker({
  //     target: foo,
  //     args: [3],
  //     host: ["127.0.0.1", 6006],
  //   });
  //   await rw.wait();
  // and `rw.result` is printed after the other two (`1 4 9`).

  console.log(tw.result, pw.result);
}
