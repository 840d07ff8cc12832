/**
 * Remote workers against a real server (`deno run server/main.ts` in a
 * child process, tests/_shared_server.ts): the one-shot and persistent
 * contracts, as for threads and processes. Jobs ask for "inherit" (the
 * server's whole ceiling, here everything) unless a test says otherwise,
 * as the contracts' targets signal through Unix sockets.
 */
import assert from "node:assert/strict";
import {
  PersistentRemoteWorker,
  PersistentWorker,
  type PersistentWorkerOptions,
  RemoteWorker,
  Worker,
  WorkerType,
} from "../mod.ts";
import { contractSuite } from "./_contract.ts";
import {
  persistentIssue6Suite,
  persistentSuite,
} from "./_persistent_contract.ts";
import { sharedServer, TOKEN } from "./_shared_server.ts";

const remote = { host: sharedServer.address, token: TOKEN };

contractSuite(
  "RemoteWorker",
  WorkerType.REMOTE,
  (options) =>
    new RemoteWorker({ permissions: "inherit", ...options, ...remote }),
);
persistentSuite(
  "PersistentRemoteWorker",
  WorkerType.REMOTE,
  (options) =>
    new PersistentRemoteWorker({
      permissions: "inherit",
      ...options as PersistentWorkerOptions,
      ...remote,
    }) as never,
);
persistentIssue6Suite(
  "PersistentRemoteWorker",
  (options) =>
    new PersistentRemoteWorker({
      permissions: "inherit",
      ...options as PersistentWorkerOptions,
      ...remote,
    }) as never,
);

Deno.test("RemoteWorker refuses a file: module that does not exist on the server, saying where targets must be importable", async () => {
  const path = `/nonexistent-${crypto.randomUUID()}/x.ts`;
  await using worker = new RemoteWorker({
    target: { module: `file://${path}`, name: "square" },
    args: [3],
    ...remote,
    // Only a job that may read the path learns whether it exists.
    permissions: { read: [path] },
  });
  await worker.wait(10_000);
  assert.ok(worker.error instanceof Deno.errors.NotFound, String(worker.error));
  assert.match(worker.error.message, /does not exist here/);
  assert.match(worker.error.message, /importable on the server/);
});

Deno.test("Worker.create(WorkerType.REMOTE) and PersistentWorker.create() build remote workers that report the job's ids", async () => {
  await using one = Worker.create(WorkerType.REMOTE, {
    target: () => Deno.pid,
    ...remote,
    permissions: "inherit",
  });
  await using many = PersistentWorker.create(WorkerType.REMOTE, {
    target: (x: number) => x * 2,
    ...remote,
  });
  assert.ok(one instanceof RemoteWorker);
  assert.ok(many instanceof PersistentRemoteWorker);
  assert.equal(await many.call(21), 42);
  await one.wait(10_000);
  assert.equal(one.result, one.pid, "the job's own pid");
  assert.notEqual(one.pid, Deno.pid);
  assert.notEqual(one.pid, sharedServer.pid, "a job is not the server");
});

Deno.test("RemoteWorker refuses a heartbeat outside 1 to 10,000 ms before connecting", () => {
  for (const heartbeat of [0, -1, 20_000, NaN, "5" as never]) {
    assert.throws(
      () => new RemoteWorker({ target: () => 1, ...remote, heartbeat }),
      RangeError,
    );
  }
});
