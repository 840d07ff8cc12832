import {
  PersistentProcessWorker,
  PersistentThreadWorker,
  PersistentWorker,
  WorkerType,
} from "../mod.ts";
import assert from "node:assert/strict";
import { startedSignal } from "./_started.ts";
import {
  persistentIssue6Suite,
  persistentSuite,
} from "./_persistent_contract.ts";

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
persistentIssue6Suite(
  "PersistentThreadWorker",
  (options) => new PersistentThreadWorker(options),
);
persistentIssue6Suite(
  "PersistentProcessWorker",
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

/**
 * Streams items 0..11 through a process worker whose item 10 signals, then
 * spins until killed; SIGKILLs it and checks items 0..9 all arrived.
 */
async function keepsResultsBeforeSigkill(
  target: (x: number, path: string) => number | Promise<number>,
): Promise<void> {
  await using signal = startedSignal();
  await using worker = new PersistentProcessWorker({
    target,
    args: [0, signal.path],
  });
  for (let x = 0; x <= 11; x++) worker.enqueue(x);
  await signal.started;
  // The target's signal can overtake the child's ready message, and until
  // that arrives `pid` is this process's own: killing it killed the test
  // runner on a loaded machine.
  await worker.ready;
  assert.notEqual(worker.pid, Deno.pid);
  Deno.kill(worker.pid, "SIGKILL");
  await worker.wait(10_000);
  assert.equal(worker.hasError, true);
  assert.deepEqual(
    await Array.fromAsync(worker.results()),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
}

Deno.test("PersistentProcessWorker keeps the results that finished before an external SIGKILL (issue 6.2)", async () => {
  await keepsResultsBeforeSigkill(async (x: number, path: string) => {
    if (x === 10) {
      (await Deno.connect({ transport: "unix", path })).close();
      for (;;) { /* until killed */ }
    }
    return x;
  });
});

Deno.test("PersistentProcessWorker keeps the results that finished before an external SIGKILL, for a target that returns promises without being declared async (issue 6.2)", async () => {
  // Not declared async: the child writes from its sender thread, and must
  // still have written each result before an item that awaited is followed.
  await keepsResultsBeforeSigkill((x: number, path: string) =>
    x === 10
      ? Deno.connect({ transport: "unix", path }).then((conn) => {
        conn.close();
        for (;;) { /* until killed */ }
      })
      : Promise.resolve(x)
  );
});

Deno.test("Core observers see each persistent item's outcome: its own failure, or its worker's end (issue 6, pool seams)", async () => {
  const { coreOf } = await import("../_core/abstract_worker.ts");
  await using signal = startedSignal();
  await using worker = new PersistentThreadWorker({
    target: async (x: number, path: string) => {
      if (x < 0) throw new RangeError("negative");
      if (x === 99) {
        (await Deno.connect({ transport: "unix", path })).close();
        await new Promise(() => {}); // until stopped
      }
      return x;
    },
    args: [0, signal.path],
  });
  const seen: unknown[] = [];
  const observers = [0, 1].map(() => [] as unknown[]);
  for (const list of observers) {
    coreOf(worker).observe({
      item: (o) =>
        list.push(o.ok ? ["ok", o.value] : [o.by, o.ran, o.error.name]),
    });
  }
  worker.enqueue(1);
  await assert.rejects(worker.call(-1), RangeError);
  worker.enqueue(99);
  const behind = worker.call(3);
  behind.catch(() => {});
  await signal.started;
  assert.equal(await worker.terminate({ timeout: 0 }), true);
  await assert.rejects(behind, /never ran/);
  seen.push(...observers[0]!);
  assert.deepEqual(observers[1], seen, "every observer sees every outcome");
  assert.deepEqual(seen, [
    ["ok", 1],
    ["item", true, "RangeError"],
    ["worker", true, "WorkerTerminatedError"],
    ["worker", false, "WorkerClosedError"],
  ]);
});

Deno.test("PersistentProcessWorker delivers results larger than its sender's buffers whole and in order", async () => {
  // Results of 3 MB go through the child's 1 MB ring in pieces, between
  // small ones; a long string outgrows the buffer strings are encoded in.
  await using worker = new PersistentProcessWorker({
    target: (n: number) =>
      n % 3 === 1
        ? new Uint8Array(3 << 20).fill(n)
        : n % 3 === 2
        ? "é".repeat(3 << 19) + n
        : n,
  });
  for (let n = 0; n < 9; n++) worker.enqueue(n);
  worker.close();
  const results = await Array.fromAsync(worker.results());
  assert.equal(results.length, 9);
  results.forEach((result, n) => {
    if (n % 3 === 0) return assert.equal(result, n);
    if (n % 3 === 2) return assert.equal(result, "é".repeat(3 << 19) + n);
    assert.ok(result instanceof Uint8Array);
    assert.equal(result.length, 3 << 20);
    assert.ok(result.every((byte) => byte === n));
  });
});

Deno.test("PersistentWorker.results() refuses a second reader while one is open, and allows one after", async () => {
  await using worker = new PersistentThreadWorker({ target: (x: number) => x });
  for (const x of [1, 2, 3]) worker.enqueue(x);
  const first = worker.results();
  assert.equal((await first.next()).value, 1);
  await assert.rejects(() => worker.results().next(), TypeError);
  await first.return!(undefined);
  worker.close();
  assert.deepEqual(await Array.fromAsync(worker.results()), [2, 3]);
});

Deno.test("PersistentWorker timeouts and limits are checked alike, also on a finished worker (trial 2)", async () => {
  assert.throws(
    () =>
      new PersistentThreadWorker({
        target: (x: number) => x,
        window: null as never,
      }),
    RangeError,
  );
  const worker = new PersistentThreadWorker({ target: (x: number) => x });
  for (const timeout of [-1, NaN, "10" as unknown as number]) {
    await assert.rejects(() => worker.nextResult(timeout), RangeError);
    await assert.rejects(() => worker.restart(timeout), RangeError);
  }
  await assert.rejects(() => worker.wait("10" as never), /timeout "10"/);
  assert.equal(await worker.wait(10_000), true);
  // Checked before the worker's state is: a finished worker is no excuse.
  await assert.rejects(() => worker.wait(NaN), RangeError);
});
