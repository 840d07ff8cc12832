/**
 * What a client is told when its server refuses or stops its job: the
 * reason, as a named error (trial 4). Each test runs its own in-process
 * RemoteServer and closes it.
 */
import assert from "node:assert/strict";
import {
  PersistentRemoteWorker,
  RemoteServer,
  RemoteWorker,
  spawnServer,
  type WorkerContext,
  WorkerDiedError,
  WorkerTerminatedError,
} from "../mod.ts";

const quiet = { port: 0, log: () => {} };

Deno.test("RemoteWorker whose frame is over the server's limit is told so, not cut off (trial 4)", async () => {
  await using server = new RemoteServer({ ...quiet, maxFrame: 1_000_000 });
  await server.serve();
  const one = new RemoteWorker({
    target: (text: string) => text.length,
    args: ["x".repeat(2_000_000)],
    host: server.address,
  });
  await one.wait(10_000);
  assert.ok(one.error instanceof WorkerDiedError, String(one.error));
  assert.match(one.error.message, /as the limit is 1000000/);
  await using many = new PersistentRemoteWorker({
    target: (text: string) => text.length,
    host: server.address,
  });
  assert.equal(await many.call("abc"), 3);
  await assert.rejects(
    many.call("x".repeat(2_000_000)),
    /as the limit is 1000000/,
  );
});

Deno.test("RemoteServer.drain() ends a job that ignores the stop request with a forced WorkerTerminatedError (trial 4)", async () => {
  await using server = new RemoteServer(quiet);
  await server.serve();
  const worker = new RemoteWorker({
    // Waits without ever looking at ctx.signal.
    target: (_ctx: WorkerContext) => new Promise<never>(() => {}),
    host: server.address,
  });
  await worker.ready;
  await server.drain(50);
  await worker.wait(10_000);
  assert.ok(
    worker.error instanceof WorkerTerminatedError,
    String(worker.error),
  );
  assert.equal(worker.error.forced, true);
  assert.match(
    worker.error.message,
    /by its server: the server is shutting down/,
  );
});

Deno.test("RemoteServer at its connection limit makes room by dropping the oldest unauthenticated connection, so idle floods cannot lock clients out (trial 4)", async () => {
  const lines: string[] = [];
  await using server = new RemoteServer({
    port: 0,
    maxConnections: 20,
    log: (line) => lines.push(line),
  });
  await server.serve();
  const [hostname, port] = server.address;
  const idle: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      idle.push(await Deno.connect({ hostname, port }));
    }
    for (let round = 0; round < 3; round++) {
      const worker = new RemoteWorker({
        target: (x: number) => x + 1,
        args: [round],
        host: server.address,
      });
      await worker.wait(10_000);
      assert.equal(worker.result, round + 1, String(worker.error));
    }
    assert.ok(
      lines.some((line) => /evicted: 20 connections are open/.test(line)),
      lines.join("\n"),
    );
  } finally {
    for (const conn of idle) conn.close();
  }
});

Deno.test("RemoteServer logs what a client claims about its job escaped, so it cannot forge log lines (trial 4)", async () => {
  const lines: string[] = [];
  await using server = new RemoteServer({
    port: 0,
    log: (line) => lines.push(line),
  });
  await server.serve();
  const worker = new RemoteWorker({
    target: { module: "npm:x\u001b[31m\n[pyworkers server] forged", name: "y" },
    host: server.address,
  });
  await worker.wait(10_000);
  const job = lines.filter((line) => line.includes("job "));
  assert.ok(job.length > 0, lines.join("\n"));
  for (const line of lines) {
    assert.ok(
      !line.includes("\n") && !line.includes("\u001b"),
      `no raw newline or escape: ${JSON.stringify(line)}`,
    );
  }
});

Deno.test("RemoteServer tells whether a file: module exists only to a job that may read it (trial 4)", async () => {
  await using server = new RemoteServer({ ...quiet, permissions: "inherit" });
  await server.serve();
  const worker = new RemoteWorker({
    target: { module: `file:///nonexistent-${crypto.randomUUID()}/x.ts` },
    host: server.address,
  });
  await worker.wait(10_000);
  assert.ok(
    worker.error instanceof Deno.errors.NotCapable,
    String(worker.error),
  );
});

Deno.test("SpawnedServer.terminate() stops its jobs through the ladder, so their clients see WorkerTerminatedError (trial 4)", async () => {
  const server = await spawnServer({ port: 0 });
  const worker = new RemoteWorker({
    target: () => new Promise<never>(() => {}),
    host: server.address,
  });
  await worker.ready;
  assert.equal(await server.terminate({ timeout: 5000 }), true);
  await worker.wait(10_000);
  assert.ok(
    worker.error instanceof WorkerTerminatedError,
    String(worker.error),
  );
});

Deno.test("RemoteWorker facing a peer that accepts and never speaks ends within its heartbeat bound, over TLS as over TCP (trial 5)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    for (const tls of [true, undefined] as const) {
      const worker = new RemoteWorker({
        target: () => 1,
        host: ["127.0.0.1", (listener.addr as Deno.NetAddr).port],
        heartbeat: 100,
        ...(tls ? { tls } : {}),
      });
      assert.equal(await worker.wait(10_000), true, `tls: ${tls}`);
      assert.ok(worker.error instanceof WorkerDiedError, String(worker.error));
      assert.match(worker.error.message, /within 1000 ms/);
    }
  } finally {
    listener.close();
    await accepting;
    for (const conn of held) conn.close();
  }
});
