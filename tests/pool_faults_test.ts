/**
 * The Pool under faults (issue 8): a worker killed mid-run, a poison item,
 * no worker left, deadlines, abort; and the streaming maps and stats. Each
 * fault is placed by a handshake (tests/_started.ts) or a marker file,
 * never by a sleep.
 */
import assert from "node:assert/strict";
import { Pool, PoolError, WorkerDiedError, WorkerType } from "../mod.ts";
import { startedSignal } from "./_started.ts";

function range(n: number): [number][] {
  return Array.from({ length: n }, (_, i) => [i] as [number]);
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/**
 * Item 7, the first time it runs anywhere, writes its pid to `marker`,
 * signals on `path` and spins until killed; every other run squares.
 */
async function killedOnce(
  x: number,
  path: string,
  marker: string,
): Promise<number> {
  if (x === 7) {
    let first = true;
    try {
      await Deno.writeTextFile(marker, String(Deno.pid), { createNew: true });
    } catch {
      first = false;
    }
    if (first) {
      (await Deno.connect({ transport: "unix", path })).close();
      for (;;) { /* until killed */ }
    }
  }
  return x * x;
}

Deno.test("Pool.run() loses no item when a process worker is SIGKILLed mid-run, and restarts it in place", async () => {
  await using signal = startedSignal();
  const marker = `${await Deno.makeTempDir()}/pid`;
  await using pool = new Pool({ target: killedOnce });
  pool.addWorker(WorkerType.PROCESS, { args: [0, signal.path, marker] });
  pool.addWorker(WorkerType.PROCESS, { args: [0, signal.path, marker] });
  const died: string[] = [];
  const run = pool.run(range(30), {
    chunkSize: 4,
    onEvent: (event) => {
      if (event.type === "died") died.push(event.error!.name);
    },
  });
  await signal.started;
  Deno.kill(Number(await Deno.readTextFile(marker)), "SIGKILL");
  const results = await run;
  assert.deepEqual(sorted(results), range(30).map(([x]) => x * x));
  assert.deepEqual(died, ["WorkerDiedError"]);
  assert.ok(pool.stats!.retried >= 1);
  assert.ok(pool.workers.every((worker) => worker.isAlive()));
  await Deno.remove(marker.slice(0, -4), { recursive: true });
});

Deno.test("Pool.run() fails a poison item for good after 3 workers died running it, and the rest complete", async () => {
  await using pool = new Pool({
    target: (x: number) => {
      if (x === 3) Deno.exit(9);
      return x * x;
    },
  });
  pool.addWorker(WorkerType.PROCESS);
  pool.addWorker(WorkerType.PROCESS);
  let died = 0;
  const error = await pool.run(range(10), {
    chunkSize: 2,
    onEvent: (event) => {
      if (event.type === "died") died++;
    },
  }).catch((e) => e);
  assert.ok(error instanceof PoolError, String(error));
  assert.deepEqual(
    sorted(error.results as number[]),
    range(10).filter(([x]) => x !== 3).map(([x]) => x * x),
  );
  assert.equal(error.failures.length, 1);
  assert.deepEqual(error.failures[0]!.args, [3]);
  assert.ok(error.failures[0]!.error instanceof WorkerDiedError);
  assert.match(error.failures[0]!.error.message, /Item 3 \[ 3 \]/);
  // 3 deaths alone; one more if it first died in a chunk (charged to no item).
  assert.ok(died === 3 || died === 4, `${died} deaths`);
  assert.ok(pool.workers.every((worker) => worker.isAlive()));
});

Deno.test("Pool.run() rejects at once with what is done and what is not when no worker is left", async () => {
  await using pool = new Pool({
    target: (x: number) => {
      if (x === 2) Deno.exit(9);
      return x;
    },
    maxRestarts: 0,
  });
  pool.addWorker(WorkerType.PROCESS);
  const error = await pool.run(range(5), { chunkSize: 1 }).catch((e) => e);
  assert.ok(error instanceof PoolError, String(error));
  assert.match(error.message, /no worker of the pool is left: 2 items done/);
  assert.deepEqual(sorted(error.results as number[]), [0, 1]);
  // The items it held went back to the queue, and are reported not done.
  assert.ok(error.failures.some((f) => (f.args as number[])[0] === 2));
  for (const failure of error.failures) {
    assert.match(failure.error.message, /not done as no worker/);
  }
});

Deno.test("Pool.run() fails only the item past its deadline, restarts its worker and goes on", async (t) => {
  for (
    const [label, type, target] of [
      // A process item that ignores the request is stopped by force.
      [
        "process, ignoring the request",
        WorkerType.PROCESS,
        (x: number) => x === 4 ? new Promise<number>(() => {}) : x,
      ],
      // A thread item that honours ctx.signal stops on it.
      [
        "thread, honouring ctx.signal",
        WorkerType.THREAD,
        (x: number, ctx: { signal: AbortSignal }) =>
          x === 4
            ? new Promise<number>((_, reject) =>
              ctx.signal.addEventListener(
                "abort",
                () => reject(ctx.signal.reason),
              )
            )
            : x,
      ],
    ] as const
  ) {
    await t.step(label, async () => {
      await using pool = new Pool<[number], number>({
        target: target as (x: number) => number,
      });
      const worker = pool.addWorker(type);
      await worker.ready;
      const error = await pool.run(range(10), { timeout: 300, chunkSize: 3 })
        .catch((e) => e);
      assert.ok(error instanceof PoolError, String(error));
      assert.deepEqual(sorted(error.results as number[]), [
        0,
        1,
        2,
        3,
        5,
        6,
        7,
        8,
        9,
      ]);
      assert.equal(error.failures.length, 1);
      assert.deepEqual(error.failures[0]!.args, [4]);
      assert.equal(error.failures[0]!.error.name, "TimeoutError");
      assert.equal(pool.stats!.timedOut, 1);
      assert.ok(worker.isAlive());
    });
  }
});

Deno.test("Pool.run() with an aborted signal drops queued items, stops running ones and keeps the pool usable", async () => {
  await using signal = startedSignal();
  await using pool = new Pool({
    target: async (x: number, path: string) => {
      if (x === 1) (await Deno.connect({ transport: "unix", path })).close();
      if (x >= 1) await new Promise(() => {});
      return x;
    },
  });
  pool.addWorker(WorkerType.PROCESS, { args: [0, signal.path] });
  pool.addWorker(WorkerType.THREAD, { args: [0, signal.path] });
  const controller = new AbortController();
  const run = pool.run(range(100), { signal: controller.signal }).catch((
    e,
  ) => e);
  await signal.started;
  controller.abort();
  const error = await run;
  assert.equal(error.name, "AbortError");
  assert.ok(pool.workers.every((worker) => worker.isAlive()));
  assert.deepEqual(await pool.run([[0], [0]]), [0, 0]);
});

Deno.test("Pool.imap() yields in input order and Pool.imapUnordered() yields everything", async () => {
  await using pool = new Pool({
    target: (x: number) => x * 10,
  });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.PROCESS);
  assert.deepEqual(
    await Array.fromAsync(pool.imap(range(40), { chunkSize: 3 })),
    range(40).map(([x]) => x * 10),
  );
  assert.deepEqual(
    sorted(await Array.fromAsync(pool.imapUnordered(range(40)))),
    range(40).map(([x]) => x * 10),
  );
});

Deno.test("Pool.imapUnordered() runs an endless input in bounded memory, and stops reading when left", async () => {
  await using pool = new Pool({ target: (x: number) => x });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.THREAD);
  let read = 0;
  function* endless() {
    for (;;) yield [read++] as [number];
  }
  let count = 0;
  for await (const _ of pool.imapUnordered(endless(), { highWaterMark: 50 })) {
    // At most 50 read and not yet yielded (this one is yielded).
    assert.ok(read - (count + 1) <= 50, `read ${read}, yielded ${count + 1}`);
    if (++count === 2000) break;
  }
  assert.ok(read <= 2050);
  const after = read;
  // The run ended: a new one may start, and the old input is not read.
  assert.deepEqual(await pool.run([[1]]), [1]);
  assert.equal(read, after);
});

Deno.test("Pool.imap() throws a PoolError at a failed item", async () => {
  await using pool = new Pool({
    target: (x: number) => {
      if (x === 5) throw new TypeError("five");
      return x;
    },
  });
  pool.addWorker(WorkerType.THREAD);
  const seen: number[] = [];
  const error = await (async () => {
    for await (const value of pool.imap(range(10))) seen.push(value);
  })().catch((e) => e);
  assert.ok(error instanceof PoolError);
  assert.equal(error.failures[0]!.error.name, "TypeError");
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
});

Deno.test("Pool.stats is readable during a run", async () => {
  await using pool = new Pool({ target: (x: number) => x });
  pool.addWorker(WorkerType.THREAD);
  let during: number | undefined;
  await pool.run(range(100), {
    chunkSize: 10,
    onEvent: (event) => {
      if (event.type === "finished" && event.args[0] === 50) {
        const stats = pool.stats!;
        assert.equal(stats.running, true);
        during = stats.done;
      }
    },
  });
  assert.ok(during !== undefined && during >= 50 && during < 100);
  const stats = pool.stats!;
  assert.equal(stats.done, 100);
  assert.equal(stats.workers[0]!.done, 100);
  assert.ok(stats.throughput > 0);
});

Deno.test("Pool.imap() with an async input and a small highWaterMark yields every item", async () => {
  await using pool = new Pool({ target: (x: number) => x + 1 });
  pool.addWorker(WorkerType.THREAD);
  async function* slow() {
    for (let i = 0; i < 300; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      yield [i] as [number];
    }
  }
  const seen = await Array.fromAsync(pool.imap(slow(), { highWaterMark: 5 }));
  assert.deepEqual(seen, Array.from({ length: 300 }, (_, i) => i + 1));
});

Deno.test("Pool.run() fails an item past its deadline even if it finishes during the grace (issue 6.1)", async (t) => {
  for (const type of [WorkerType.THREAD, WorkerType.PROCESS]) {
    await t.step(WorkerType[type], async () => {
      // Item 1 finishes with a value only once the deadline has stopped it.
      await using pool = new Pool<[number], number>({
        target: (x: number, ctx?: { signal: AbortSignal }) =>
          x === 1
            ? new Promise<number>((resolve) =>
              ctx!.signal.addEventListener("abort", () => resolve(x))
            )
            : x,
      });
      const worker = pool.addWorker(type);
      await worker.ready;
      const error = await pool.run(range(3), { timeout: 500 }).catch((e) => e);
      assert.ok(error instanceof PoolError, String(error));
      assert.deepEqual(sorted(error.results as number[]), [0, 2]);
      assert.equal(error.failures.length, 1);
      assert.deepEqual(error.failures[0]!.args, [1]);
      assert.equal(error.failures[0]!.error.name, "TimeoutError");
      assert.equal(pool.stats!.timedOut, 1);
      assert.ok(worker.isAlive());
    });
  }
});

Deno.test("Pool.run() accounts for every item taken when its input throws, and settles after them (issue 6.2)", async (t) => {
  await using pool = new Pool({ target: (x: number) => x });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.PROCESS);
  const broke = new SyntaxError("input broke");
  function* sync() {
    for (let i = 0; i < 10; i++) yield [i] as [number];
    throw broke;
  }
  async function* async() {
    for (let i = 0; i < 10; i++) yield [i] as [number];
    throw broke;
  }
  let calls = 0;
  const perWorker = () => {
    if (calls === 10) throw broke;
    return [calls++] as [number];
  };
  for (
    const [label, input] of [
      ["a generator", sync],
      ["an async generator", async],
      ["a per-worker function", () => perWorker],
    ] as const
  ) {
    await t.step(label, async () => {
      let settled = false;
      const late: string[] = [];
      const error = await pool.run(input(), {
        chunkSize: 1,
        onEvent: (event) => {
          if (settled) late.push(event.type);
        },
      }).catch((e) => e);
      settled = true;
      assert.ok(error instanceof PoolError, String(error));
      assert.match(error.message, /input threw: input broke/);
      assert.equal(error.cause, broke);
      assert.deepEqual(sorted(error.results as number[]), range(10).flat());
      assert.deepEqual(error.failures, []);
      assert.deepEqual(late, []);
    });
  }
});

Deno.test("Pool.run() whose onEvent throws accounts for every item taken, and settles after them (trial 6)", async () => {
  await using pool = new Pool({ target: (x: number) => x });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.PROCESS);
  const broke = new SyntaxError("listener broke");
  let settled = false;
  const late: string[] = [];
  let finished = 0;
  let enqueued = 0;
  const error = await pool.run(range(200), {
    chunkSize: 1,
    onEvent: (event) => {
      if (settled) late.push(event.type);
      if (event.type === "enqueued") enqueued++;
      if (event.type === "finished" && ++finished === 5) throw broke;
    },
  }).catch((e) => e);
  settled = true;
  assert.ok(error instanceof PoolError, String(error));
  assert.match(error.message, /onEvent threw: listener broke/);
  assert.equal(error.cause, broke);
  // Every item taken (each had its enqueued event) is a result or a
  // failure, none left running behind the rejection.
  const accounted = (error.results as number[]).length + error.failures.length;
  assert.equal(accounted, enqueued);
  assert.ok(accounted > 5, `${accounted} items accounted for`);
  assert.deepEqual(late, []);
});

Deno.test("Pool.terminate() during a run accounts for every item taken as done or not done, and the run settles once the workers are stopped (issue 6.3)", async () => {
  await using signal = startedSignal();
  const pool = new Pool({
    target: async (x: number, path: string, ctx?: { signal: AbortSignal }) => {
      if (x === 0) (await Deno.connect({ transport: "unix", path })).close();
      if (x === 0 || x > 5) {
        await new Promise((_, reject) =>
          ctx!.signal.addEventListener(
            "abort",
            () => reject(ctx!.signal.reason),
          )
        );
      }
      return x;
    },
  });
  pool.addWorker(WorkerType.THREAD, { args: [0, signal.path] });
  pool.addWorker(WorkerType.PROCESS, { args: [0, signal.path] });
  let read = 0;
  function* input() {
    for (let i = 0; i < 200; i++) {
      read++;
      yield [i] as [number];
    }
  }
  const run = pool.run(input(), { chunkSize: 1 }).then((results) => ({
    error: results as unknown,
    alive: 0,
  }), (error) => ({
    error,
    alive: pool.workers.filter((worker) => worker.isAlive()).length,
  }));
  await signal.started;
  await pool.terminate();
  const { error, alive } = await run;
  assert.ok(error instanceof PoolError, String(error));
  assert.match(error.message, /terminated/);
  assert.equal(alive, 0);
  assert.ok(read > 1);
  assert.equal(error.results.length + error.failures.length, read);
  const failed = error.failures.map((f: { args: number[] }) => f.args[0]);
  assert.ok(failed.includes(0));
  for (const failure of error.failures) {
    assert.match(
      failure.error.message,
      /not done as pool "Pool" was terminated/,
    );
  }
});

Deno.test("Pool.terminate() while an aborted run stops keeps the signal's reason as the run's error (issue 6.3)", async () => {
  await using signal = startedSignal();
  const pool = new Pool({
    target: async (x: number, path: string) => {
      if (x === 0) (await Deno.connect({ transport: "unix", path })).close();
      return await new Promise<number>(() => {});
    },
  });
  pool.addWorker(WorkerType.PROCESS, { args: [0, signal.path] });
  const controller = new AbortController();
  const run = pool.run(range(4), { signal: controller.signal }).catch((e) => e);
  await signal.started;
  controller.abort();
  await pool.terminate();
  const error = await run;
  assert.equal(error.name, "AbortError");
  assert.equal(pool.workers[0]!.isAlive(), false);
});
