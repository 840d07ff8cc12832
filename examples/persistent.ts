/**
 * The seed README's persistent example: one persistent worker per kind
 * (the remote one on a server this example spawns), ten inputs dealt
 * round-robin, then each worker's count and results.
 *
 * Run it with `deno run -A examples/persistent.ts`; it prints
 *
 * ```
 * 4 [ 0, 9, 36, 81 ]
 * 3 [ 1, 16, 49 ]
 * 3 [ 4, 25, 64 ]
 * ```
 *
 * @module
 */
import { PersistentWorker, spawnServer, WorkerType } from "../mod.ts";

/** The target, shipped to each worker as source text. */
function foo(x: number): number {
  return x ** 2;
}

if (import.meta.main) {
  await using server = await spawnServer({ port: 0 });

  const types = [WorkerType.THREAD, WorkerType.PROCESS, WorkerType.REMOTE];
  const workers = types.map((type) =>
    type === WorkerType.REMOTE
      ? PersistentWorker.create(type, { target: foo, host: server.address })
      : PersistentWorker.create(type, { target: foo })
  );
  for (let x = 0; x < 10; x++) workers[x % workers.length]!.enqueue(x);
  for (const worker of workers) {
    await worker.wait();
    console.log(worker.result, await Array.fromAsync(worker.results()));
  }
}
