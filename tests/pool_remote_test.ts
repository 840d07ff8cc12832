/**
 * The Pool over remote workers (issue 8 with issue 7): a mixed pool against
 * an out-of-process server (tests/_server.ts), chunks across the server's
 * relay, a server killed mid-run, and a host that is down then back.
 * Loopback only; faults are placed by handshakes, never by sleeps.
 */
import assert from "node:assert/strict";
import { Pool, PoolError, type WorkerContext, WorkerType } from "../mod.ts";
import { startServer, TOKEN } from "./_server.ts";
import { startedSignal } from "./_started.ts";

function range(n: number): [number][] {
  return Array.from({ length: n }, (_, i) => [i] as [number]);
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

Deno.test("Pool.run() gives every result from mixed thread, process and remote workers, chunked and not", async () => {
  const server = await startServer();
  try {
    await using pool = new Pool({ target: (x: number) => x * x });
    pool.addWorker(WorkerType.THREAD);
    pool.addWorker(WorkerType.PROCESS);
    const remote = pool.addWorker(WorkerType.REMOTE, {
      host: server.address,
      token: TOKEN,
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
  const server = await startServer();
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
