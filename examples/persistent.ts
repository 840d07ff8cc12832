/**
 * The seed README's persistent example: one persistent worker per kind,
 * ten inputs dealt round-robin, then each worker's count and results.
 *
 * Run it with `deno run -A examples/persistent.ts`; it prints
 * `5 [ 0, 4, 16, 36, 64 ]` and `5 [ 1, 9, 25, 49, 81 ]`.
 *
 * @module
 */
import { PersistentWorker, WorkerType } from "../mod.ts";

/** The target, shipped to each worker as source text. */
function foo(x: number): number {
  return x ** 2;
}

if (import.meta.main) {
  // The remote kind joins this list once the server exists.
  const workers = [WorkerType.THREAD, WorkerType.PROCESS].map((type) =>
    PersistentWorker.create(type, { target: foo })
  );
  for (let x = 0; x < 10; x++) workers[x % workers.length]!.enqueue(x);
  for (const worker of workers) {
    await worker.wait();
    console.log(worker.result, await Array.fromAsync(worker.results()));
  }
}
