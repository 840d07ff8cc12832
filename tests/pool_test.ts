/**
 * The Pool (issue 8) on thread and process workers: results, inputs,
 * events, errors, restarts and disposal. Healing, deadlines, abort and the
 * streaming maps are in pool_faults_test.ts.
 */
import assert from "node:assert/strict";
import {
  Pool,
  PoolError,
  type PoolEvent,
  Worker,
  WorkerClosedError,
  type WorkerContext,
  WorkerType,
} from "../mod.ts";

const square = (x: number) => x * x;

function range(n: number): [number][] {
  return Array.from({ length: n }, (_, i) => [i] as [number]);
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

Deno.test("Pool.run() gives every result from mixed thread and process workers", async () => {
  await using pool = new Pool({ target: square });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.PROCESS);
  const results: number[] = await pool.run(range(50));
  assert.deepEqual(sorted(results), range(50).map(([x]) => x * x));
  const stats = pool.stats!;
  assert.equal(stats.done, 50);
  assert.equal(stats.running, false);
  assert.equal(stats.workers.reduce((sum, w) => sum + w.done, 0), 50);
});

Deno.test("Pool infers its item and result types from a function target", async () => {
  await using pool = new Pool({
    target: async (name: string, times: number) => {
      await Promise.resolve();
      return name.repeat(times);
    },
  });
  pool.addWorker(WorkerType.THREAD);
  const results: string[] = await pool.run([["ab", 2], ["c", 3]]);
  assert.deepEqual(results.sort(), ["abab", "ccc"]);
  const streamed: string[] = await Array.fromAsync(pool.imap([["x", 1]]));
  assert.deepEqual(streamed, ["x"]);
  // @ts-expect-error: the items are [string, number]
  await pool.run([[1, 2]]).catch(() => {});
});

Deno.test("Pool.run() takes an async iterable and a generator", async () => {
  await using pool = new Pool({ target: (x: number, y: number) => x + y });
  pool.addWorker(WorkerType.THREAD);
  async function* numbers() {
    for (let i = 0; i < 20; i++) {
      await Promise.resolve();
      yield [i, 100] as [number, number];
    }
  }
  assert.deepEqual(
    sorted(await pool.run(numbers())),
    range(20).map(([x]) => x + 100),
  );
  function* pairs() {
    for (let i = 0; i < 5; i++) yield [i, i] as [number, number];
  }
  assert.deepEqual(sorted(await pool.run(pairs())), [0, 2, 4, 6, 8]);
});

Deno.test("Pool.run() with a per-worker function gives each worker its own arguments", async () => {
  await using pool = new Pool({
    target: (who: unknown, x: number) => `${who}:${x}`,
  });
  const a = pool.addWorker(WorkerType.THREAD, { userid: "a" });
  const b = pool.addWorker(WorkerType.PROCESS, { userid: "b" });
  const given = new Map([[a, 0], [b, 0]]);
  const results = await pool.run((worker) => {
    const n = given.get(worker)!;
    if (n === 3) return undefined;
    given.set(worker, n + 1);
    return [worker.userid, n];
  }, { chunkSize: 1 });
  assert.deepEqual(results.sort(), ["a:0", "a:1", "a:2", "b:0", "b:1", "b:2"]);
});

Deno.test("Pool.addWorker() names workers after the pool, sets userid to the index and takes a target of its own", async () => {
  await using pool = new Pool({ name: "squares", target: square });
  const first = pool.addWorker(WorkerType.THREAD);
  const second = pool.addWorker(WorkerType.THREAD, {
    target: (x: number) => -x,
  });
  assert.equal(first.name, "squares worker 0");
  assert.equal(second.name, "squares worker 1");
  assert.deepEqual([first.userid, second.userid], [0, 1]);
  assert.deepEqual(pool.workers, [first, second]);
  assert.ok(Object.isFrozen(pool.workers));
  const results = await pool.run(
    (worker) => worker === second ? undefined : undefined,
  );
  assert.deepEqual(results, []);
  assert.equal(await second.call(3), -3);
});

Deno.test("Pool.run() reports enqueued, finished and idle events with their arguments before it settles", async () => {
  await using pool = new Pool({ target: square });
  const worker = pool.addWorker(WorkerType.THREAD);
  const events: PoolEvent<[number], number>[] = [];
  const results = await pool.run([[2], [3]], {
    onEvent: (event) => events.push(event),
  });
  assert.deepEqual(results, [4, 9]);
  const seen = events.map((event) => {
    assert.equal(event.worker, worker);
    return event.type === "idle" || event.type === "died"
      ? event.type
      : `${event.type} ${event.args}${
        event.type === "finished" ? ` ${event.result}` : ""
      }`;
  });
  assert.deepEqual(seen, [
    "enqueued 2",
    "enqueued 3",
    "finished 2 4",
    "finished 3 9",
    "idle",
  ]);
});

Deno.test("Pool.run() rejects with a PoolError holding the partial results and each failure, without retrying it", async () => {
  await using pool = new Pool({
    target: (x: number) => {
      if (x % 2 === 1) throw new RangeError(`odd ${x}`);
      return x;
    },
  });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.PROCESS);
  const error = await pool.run(range(6)).then(
    () => assert.fail("resolved"),
    (e) => e,
  );
  assert.ok(error instanceof PoolError);
  assert.deepEqual(sorted(error.results as number[]), [0, 2, 4]);
  assert.deepEqual(
    sorted(error.failures.map((f) => (f.args as number[])[0]!)),
    [1, 3, 5],
  );
  for (const failure of error.failures) {
    assert.equal(failure.error.name, "RangeError");
  }
  assert.equal(pool.stats!.retried, 0);
  assert.equal(pool.stats!.failed, 3);
});

Deno.test("Pool.run() fails an item whose arguments are not an array, and the rest complete", async () => {
  await using pool = new Pool({ target: square });
  pool.addWorker(WorkerType.THREAD);
  const error = await pool.run([[1], 2 as never, [3]]).catch((e) => e);
  assert.ok(error instanceof PoolError);
  assert.deepEqual(sorted(error.results as number[]), [1, 9]);
  assert.equal(error.failures[0]!.error.name, "TypeError");
});

Deno.test("Pool.run() without workers rejects at once with a PoolError", async () => {
  await using pool = new Pool({ target: square });
  const error = await pool.run([[1]]).catch((e) => e);
  assert.ok(error instanceof PoolError);
  assert.match(error.message, /no worker of the pool is left/);
});

Deno.test("Pool.run() refuses a second run at once, and a closed pool", async () => {
  const pool = new Pool({ target: square });
  pool.addWorker(WorkerType.THREAD);
  const first = pool.run(range(10));
  await assert.rejects(pool.run([[1]]), /another run is in progress/);
  await assert.rejects(pool.close(), /a run is in progress/);
  assert.equal((await first).length, 10);
  await pool.close();
  await assert.rejects(pool.run([[1]]), WorkerClosedError);
  assert.throws(() => pool.addWorker(WorkerType.THREAD), WorkerClosedError);
  assert.equal(pool.workers[0]!.isAlive(), false);
});

Deno.test("Pool.restartWorkers() renews every worker, and a second run works", async () => {
  await using pool = new Pool({ target: square });
  const thread = pool.addWorker(WorkerType.THREAD);
  const process = pool.addWorker(WorkerType.PROCESS);
  await Promise.all([thread.ready, process.ready]);
  const before = process.pid;
  assert.equal((await pool.run(range(10))).length, 10);
  await pool.restartWorkers();
  assert.notEqual(process.pid, before);
  assert.ok(thread.isAlive() && process.isAlive());
  assert.deepEqual(
    sorted(await pool.run(range(10))),
    range(10).map(([x]) => x * x),
  );
});

Deno.test("Pool with await using leaves no worker alive", async () => {
  let workers: readonly Worker[] = [];
  {
    await using pool = new Pool({ target: square });
    pool.addWorker(WorkerType.THREAD);
    pool.addWorker(WorkerType.PROCESS);
    await pool.run(range(10));
    workers = pool.workers;
  }
  assert.equal(workers.length, 2);
  for (const worker of workers) {
    assert.equal(worker.isAlive(), false);
    assert.ok(!Worker.activeChildren().includes(worker));
  }
});

Deno.test("Pool.terminate() stops a run in progress with a PoolError", async () => {
  const pool = new Pool({
    target: (ctx: { signal: AbortSignal }) =>
      new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
      ),
  });
  const worker = pool.addWorker(WorkerType.THREAD);
  const events: string[] = [];
  const run = pool.run([[]], { onEvent: (event) => events.push(event.type) })
    .catch((error) => error);
  await worker.ready;
  await pool.terminate();
  assert.ok(await run instanceof PoolError);
  assert.equal(worker.isAlive(), false);
});

Deno.test("Pool reads its options by own properties only", async () => {
  const proto = Object.prototype as Record<string, unknown>;
  proto.target = (x: number) => x;
  proto.maxRestarts = -1;
  try {
    await using pool = new Pool({});
    assert.throws(
      () => pool.addWorker(WorkerType.THREAD),
      /neither it nor the pool has a target/,
    );
  } finally {
    delete proto.target;
    delete proto.maxRestarts;
  }
});

Deno.test("Pool checks its options", () => {
  assert.throws(() => new Pool({ chunkSize: 0 }), RangeError);
  assert.throws(() => new Pool({ maxRestarts: 1.5 }), RangeError);
  assert.throws(() => new Pool({ closeTimeout: -1 }), RangeError);
  assert.throws(() => new Pool({ timeout: -1 }), RangeError);
  assert.throws(() => new Pool(null as never), TypeError);
});

Deno.test("Pool.run() refuses a null timeout as the constructor does, and takes Infinity as no deadline (issue 6.4)", async () => {
  assert.throws(() => new Pool({ timeout: null as never }), RangeError);
  await using pool = new Pool({ target: square, timeout: Infinity });
  pool.addWorker(WorkerType.THREAD);
  await assert.rejects(pool.run([[1]], { timeout: null as never }), RangeError);
  assert.deepEqual(sorted(await pool.run(range(4))), [0, 1, 4, 9]);
  assert.deepEqual(
    sorted(await pool.run(range(4), { timeout: Infinity })),
    [0, 1, 4, 9],
  );
});

Deno.test("Pool.run() runs 100k tiny items with default chunks", async () => {
  await using pool = new Pool({ target: (x: number) => x * 2 });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.THREAD);
  const results = await pool.run(range(100_000));
  assert.equal(results.length, 100_000);
  assert.equal(results.reduce((a, b) => a + b, 0), 99_999 * 100_000);
});

Deno.test("Pool.run() in chunks keeps each item's own failure, defaults and context, on threads and processes", async (t) => {
  for (const type of [WorkerType.THREAD, WorkerType.PROCESS]) {
    await t.step(WorkerType[type], async () => {
      await using pool = new Pool({
        target: (
          x: number | string,
          y: number,
          ctx: WorkerContext,
        ) => {
          if (x === 3) throw new RangeError("three");
          if (x === 5) return () => {}; // cannot be sent back
          return `${x}+${y}@${ctx.worker.userid}`;
        },
        args: [0, 10],
        chunkSize: 4,
      });
      pool.addWorker(type);
      const input = [[1], [2, 20], [3], ["s"], [5], [6]] as [number][];
      const error = await pool.run(input).catch((e) => e);
      assert.ok(error instanceof PoolError, String(error));
      assert.deepEqual(
        [...error.results].sort(),
        ["1+10@0", "2+20@0", "6+10@0", "s+10@0"],
      );
      const byArg = new Map(
        error.failures.map((f) => [(f.args as unknown[])[0], f.error]),
      );
      assert.equal(byArg.get(3)?.name, "RangeError");
      assert.equal(byArg.get(3)?.message, "three");
      assert.match(byArg.get(5)?.message ?? "", /result/);
      assert.equal(byArg.size, 2);
    });
  }
});

Deno.test("Pool workers count every item they ran, chunked or not, in result", async () => {
  const pool = new Pool({ target: square });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.PROCESS);
  await pool.run(range(1000));
  await pool.run(range(10), { chunkSize: 1 });
  await pool.close();
  assert.equal(
    pool.workers.reduce((sum, worker) => sum + (worker.result ?? 0), 0),
    1010,
  );
});

Deno.test("Pool.run() with chunkSize 1 keeps more than two fast items in flight per worker", async () => {
  await using pool = new Pool({ target: square, chunkSize: 1 });
  pool.addWorker(WorkerType.THREAD);
  let inFlight = 0;
  let most = 0;
  const results = await pool.run(range(2000), {
    onEvent: (event) => {
      if (event.type === "enqueued") most = Math.max(most, ++inFlight);
      if (event.type === "finished") inFlight--;
    },
  });
  assert.equal(results.length, 2000);
  assert.ok(most > 2, `at most ${most} in flight`);
});

Deno.test("Pool.addWorker() during a run hands the new worker items at once", async () => {
  await using pool = new Pool({ target: (x: number) => x });
  const first = pool.addWorker(WorkerType.THREAD);
  let second: Worker | undefined;
  const ran = new Set<unknown>();
  let next = 0;
  const results = await pool.run((worker) => {
    ran.add(worker);
    // The first worker's first item adds the second; both then share the rest.
    if (next === 0) second = pool.addWorker(WorkerType.THREAD);
    return next < 200 ? [next++] : undefined;
  }, { chunkSize: 1 });
  assert.equal(results.length, 200);
  assert.ok(ran.has(first) && ran.has(second));
});
