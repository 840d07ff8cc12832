/**
 * The Pool over remote workers (issue 8 with issue 7): a mixed pool against
 * an out-of-process server (tests/_server.ts), chunks across the server's
 * relay, a server killed mid-run, and a host that is down then back.
 * Loopback only; faults are placed by handshakes, never by sleeps.
 */
import assert from "node:assert/strict";
import { Pool, PoolError, type WorkerContext, WorkerType } from "../mod.ts";
import { startServer, type TestServer, TOKEN } from "./_server.ts";
import { startedSignal } from "./_started.ts";
import { backoffMs } from "../_pool/backoff.ts";

function range(n: number): [number][] {
  return Array.from({ length: n }, (_, i) => [i] as [number]);
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

Deno.test("Pool.run() gives every result from mixed thread, process and remote workers, chunked and not", async () => {
  const server = await startServer(["-A"]);
  try {
    await using pool = new Pool({ target: (x: number) => x * x });
    pool.addWorker(WorkerType.THREAD);
    pool.addWorker(WorkerType.PROCESS);
    const remote = pool.addWorker(WorkerType.REMOTE, {
      host: server.address,
      token: TOKEN,
      permissions: "inherit",
    });
    await remote.ready;
    for (const chunkSize of [1, 7, undefined]) {
      const results = await pool.run(range(300), { chunkSize });
      assert.deepEqual(sorted(results), range(300).map(([x]) => x * x));
      assert.equal(pool.stats!.done, 300);
    }
  } finally {
    await server.close();
  }
});

Deno.test("Pool.run() sends a chunk across the server's relay as a chunk: each item keeps its own arguments, failure and context", async () => {
  const server = await startServer(["-A"]);
  try {
    await using pool = new Pool({
      target: (x: number | string, y: number, ctx: WorkerContext) => {
        if (x === 3) throw new RangeError("three");
        return `${x}+${y}@${ctx.worker.userid}`;
      },
      args: [0, 10],
      chunkSize: 4,
    });
    const remote = pool.addWorker(WorkerType.REMOTE, {
      host: server.address,
      token: TOKEN,
    });
    const input = [[1], [2, 20], [3], ["s"], [6]] as [number][];
    const error = await pool.run(input).catch((e) => e);
    assert.ok(error instanceof PoolError, String(error));
    // Had the chunk flag been lost on the way, the job would have run one
    // call with the list of argument lists, not four items.
    assert.deepEqual([...error.results].sort(), [
      "1+10@0",
      "2+20@0",
      "6+10@0",
      "s+10@0",
    ]);
    assert.equal(error.failures.length, 1);
    assert.equal(error.failures[0]!.error.name, "RangeError");
    assert.deepEqual(error.failures[0]!.args, [3]);
    await pool.close();
    // Every item was counted by the job: 5 of them, in 2 chunks.
    assert.equal(remote.result, 5);
  } finally {
    await server.close();
  }
});

/** Waits for `started`, failing at once if `run` settles first (no hang). */
async function startedBefore(
  started: Promise<void>,
  run: Promise<unknown>,
): Promise<void> {
  await Promise.race([
    started,
    run.then(
      () => assert.fail("The run ended before the remote item started"),
      (error) => assert.fail(`The run failed first: ${error}`),
    ),
  ]);
}

/**
 * The first item run on a worker given `remote: true` signals on `path`
 * and spins (its server is killed meanwhile; `marker` records that it
 * did); every other run squares.
 */
async function spinsRemotelyOnce(
  x: number,
  path: string,
  marker: string,
  remote: boolean,
): Promise<number> {
  if (remote) {
    let first = true;
    try {
      await Deno.writeTextFile(marker, "", { createNew: true });
    } catch {
      first = false;
    }
    if (first) {
      (await Deno.connect({ transport: "unix", path })).close();
      for (;;) { /* until its server goes */ }
    }
  }
  return x * x;
}

Deno.test("Pool.run() loses no item when the server of a remote worker is killed mid-run", async () => {
  const server = await startServer(["-A"]);
  const dir = await Deno.makeTempDir();
  try {
    await using signal = startedSignal();
    await using pool = new Pool({ target: spinsRemotelyOnce, maxRestarts: 2 });
    const args = (
      remote: boolean,
    ): [number, string, string, boolean] => [
      0,
      signal.path,
      `${dir}/spun`,
      remote,
    ];
    pool.addWorker(WorkerType.THREAD, { args: args(false) });
    pool.addWorker(WorkerType.PROCESS, { args: args(false) });
    const remote = pool.addWorker(WorkerType.REMOTE, {
      args: args(true),
      host: server.address,
      token: TOKEN,
      permissions: "inherit",
    });
    await remote.ready;
    const died: unknown[] = [];
    const run = pool.run(range(60), {
      chunkSize: 4,
      onEvent: (event) => {
        if (event.type === "died") died.push(event.worker);
      },
    });
    await startedBefore(signal.started, run);
    server.kill("SIGKILL");
    const results = await run;
    assert.deepEqual(sorted(results), range(60).map(([x]) => x * x));
    assert.deepEqual(died, [remote]);
    assert.ok(pool.stats!.retried >= 1);
    // Its host stayed down: the backoff ran out of restarts.
    assert.equal(remote.isAlive(), false);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Pool.run() restarts a remote worker with backoff while its host is down, and uses it again once the host is back", async () => {
  const server = await startServer(["-A"]);
  let again: TestServer | undefined;
  let back: Promise<void> | undefined;
  const port = server.port;
  const dir = await Deno.makeTempDir();
  try {
    await using signal = startedSignal();
    // Restarts to spare: the backoff (at most 2 s a try) outlasts a server's start.
    await using pool = new Pool({ target: spinsRemotelyOnce, maxRestarts: 30 });
    const remote = pool.addWorker(WorkerType.REMOTE, {
      args: [0, signal.path, `${dir}/spun`, true],
      host: server.address,
      token: TOKEN,
      permissions: "inherit",
    });
    await remote.ready;
    const run = pool.run(range(20), {
      chunkSize: 1,
      onEvent: (event) => {
        // Its host is down now: bring it back on the same port.
        if (event.type === "died") {
          back = startServer(["-A", "--port", String(port)]).then((s) => {
            again = s;
          });
        }
      },
    });
    await startedBefore(signal.started, run);
    server.kill("SIGKILL");
    // Its only worker is the remote one: every result came through it, once back.
    const results = await run;
    await back;
    assert.deepEqual(sorted(results), range(20).map(([x]) => x * x));
    assert.ok(remote.isAlive());
    assert.equal(pool.stats!.workers[0]!.done, 20);
  } finally {
    await server.close();
    await back?.catch(() => {});
    await again?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Pool restart backoff doubles from 100 ms up to 2 s, each wait between half and all of it", () => {
  assert.equal(backoffMs(1, () => 0), 50);
  assert.equal(backoffMs(1, () => 0.999999) <= 100, true);
  assert.equal(backoffMs(2, () => 0), 100);
  assert.equal(backoffMs(3, () => 0), 200);
  assert.equal(backoffMs(10, () => 0), 1000);
  assert.equal(backoffMs(50, () => 0.999999) <= 2000, true);
});

Deno.test("Pool.terminate() during a restart's backoff ends it, leaving no timer", async () => {
  const server = await startServer(["-A"]);
  const port = server.port;
  await server.close();
  // Nothing listens there now: every restart fails, and backs off.
  const pool = new Pool({ target: (x: number) => x, maxRestarts: 1000 });
  const remote = pool.addWorker(WorkerType.REMOTE, {
    host: `127.0.0.1:${port}`,
    token: TOKEN,
  });
  await remote.ready.catch(() => {});
  pool.addWorker(WorkerType.THREAD);
  const done = Promise.withResolvers<void>();
  let finished = 0;
  const run = pool.run(range(10), {
    onEvent: (event) => {
      if (event.type === "finished" && ++finished === 10) done.resolve();
    },
  }).catch((error) => error);
  // Every item is done; the remote worker's restarts fail and back off
  // for as long as its host is down (up to 1000 of them).
  await done.promise;
  await pool.terminate();
  await run;
  assert.equal(remote.isAlive(), false);
});
