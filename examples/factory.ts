/**
 * The same work as `basic.ts`, without hardcoding the workers' kinds: the
 * kind is a `WorkerType` value given to the factory `Worker.create`.
 *
 * Run it with `deno run -A examples/factory.ts`; it prints `[ 1, 4 ]`.
 *
 * @module
 */
import { Worker, WorkerType } from "../mod.ts";

/** The target: self-contained, as it travels to each worker as source text. */
function foo(x: number): number {
  return x ** 2;
}

if (import.meta.main) {
  // `WorkerType.REMOTE` joins this list (with x = 3 and a `host` option in
  // its options) once the server exists; the output becomes `[ 1, 4, 9 ]`.
  const types = [WorkerType.THREAD, WorkerType.PROCESS];

  const workers: Worker<[number], number>[] = [];
  for (const [i, type] of types.entries()) {
    const worker = Worker.create(type, { target: foo, args: [i + 1] });
    workers.push(worker);
  }

  const results: (number | undefined)[] = [];
  for (const worker of workers) {
    await worker.wait();
    results.push(worker.result);
  }

  console.log(results);
}
