/**
 * The same work as `basic.ts`, without hardcoding the workers' kinds: the
 * kind is a `WorkerType` value given to the factory `Worker.create`; the
 * remote one also gets a `host` (a server this example spawns).
 *
 * Run it with `deno run -A examples/factory.ts`; it prints `[ 1, 4, 9 ]`.
 *
 * @module
 */
import { spawnServer, Worker, WorkerType } from "../mod.ts";

/** The target: self-contained, as it travels to each worker as source text. */
function foo(x: number): number {
  return x ** 2;
}

if (import.meta.main) {
  await using server = await spawnServer({ port: 0 });

  const types = [WorkerType.THREAD, WorkerType.PROCESS, WorkerType.REMOTE];
  const workers: Worker<[number], number>[] = [];
  for (const [i, type] of types.entries()) {
    const options = { target: foo, args: [i + 1] as [number] };
    const worker = type === WorkerType.REMOTE
      ? Worker.create(type, { ...options, host: server.address })
      : Worker.create(type, options);
    workers.push(worker);
  }

  const results: (number | undefined)[] = [];
  for (const worker of workers) {
    await worker.wait();
    results.push(worker.result);
  }

  console.log(results);
}
