import {
  PersistentProcessWorker,
  PersistentThreadWorker,
  PersistentWorker,
  WorkerType,
} from "../mod.ts";
import assert from "node:assert/strict";
import { persistentSuite } from "./_persistent_contract.ts";

persistentSuite(
  "PersistentThreadWorker",
  WorkerType.THREAD,
  (options) => new PersistentThreadWorker(options),
);
persistentSuite(
  "PersistentProcessWorker",
  WorkerType.PROCESS,
  (options) => new PersistentProcessWorker(options),
);

Deno.test("PersistentWorker.create() builds persistent workers of each kind", async () => {
  const workers = [WorkerType.THREAD, WorkerType.PROCESS].map((type) =>
    PersistentWorker.create(type, { target: (x: number) => x ** 2 })
  );
  for (let x = 0; x < 10; x++) workers[x % 2]!.enqueue(x);
  const seen: number[] = [];
  for (const worker of workers) {
    assert.ok(worker instanceof PersistentWorker);
    await worker.wait();
    seen.push(...await Array.fromAsync(worker.results()));
  }
  assert.deepEqual(seen.sort((a, b) => a - b), [
    0,
    1,
    4,
    9,
    16,
    25,
    36,
    49,
    64,
    81,
  ]);
});
