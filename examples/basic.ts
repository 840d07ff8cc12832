/**
 * The first example of the README (the seed's): the same function run in a
 * thread, in a process and on a server, through the same interface.
 *
 * The remote worker needs a server. This example starts one in a child
 * process on a free port (`spawnServer`) and stops it on exit; by hand,
 * `deno task server` runs one on 127.0.0.1:6006 and `host:
 * ["127.0.0.1", 6006]` reaches it.
 *
 * Run it with `deno run -A examples/basic.ts`; it prints `1 4 9`.
 *
 * @module
 */
import {
  ProcessWorker,
  RemoteWorker,
  spawnServer,
  ThreadWorker,
} from "../mod.ts";

/**
 * The target. It is shipped to each worker as source text, so it must be
 * self-contained: no variables captured from this module.
 */
function foo(x: number): number {
  return x ** 2;
}

if (import.meta.main) {
  await using server = await spawnServer({ port: 0 });

  // Constructors start the worker at once: there is no `start()`.
  const tw = new ThreadWorker({ target: foo, args: [1] });
  await tw.wait();

  const pw = new ProcessWorker({ target: foo, args: [2] });
  await pw.wait();

  const rw = new RemoteWorker({ target: foo, args: [3], host: server.address });
  await rw.wait();

  console.log(tw.result, pw.result, rw.result);
}
