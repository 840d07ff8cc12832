import assert from "node:assert/strict";
import * as mod from "../mod.ts";

Deno.test("mod.ts exports exactly the public names", () => {
  assert.deepEqual(Object.keys(mod).sort(), [
    "AuthenticationError",
    "PERSISTENT_WINDOW",
    "PersistentProcessWorker",
    "PersistentRemoteWorker",
    "PersistentThreadWorker",
    "PersistentWorker",
    "Pool",
    "PoolError",
    "ProcessWorker",
    "RemoteServer",
    "RemoteWorker",
    "SpawnedServer",
    "ThreadWorker",
    "Worker",
    "WorkerClosedError",
    "WorkerDiedError",
    "WorkerTerminatedError",
    "WorkerType",
    "autocloseActiveChildren",
    "spawnServer",
    "sshServer",
  ]);
});
