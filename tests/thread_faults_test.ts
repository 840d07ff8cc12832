/** Thread-only behaviour: forced stops of busy threads, env, the worker-options flag. */
import assert from "node:assert/strict";
import { ThreadWorker, WorkerTerminatedError } from "../mod.ts";
import { cannotForceBusyThreads } from "../_compat.ts";

Deno.test("ThreadWorker forces a thread busy in a loop that never yields (Deno <= 2.8.2)", async () => {
  // Deno 2.8.3 to 2.9.6 cannot do this (denoland/deno#35657): the thread
  // spins on. This test is the proof that the running Deno can.
  const flag = new SharedArrayBuffer(4);
  await using worker = new ThreadWorker({
    target: (shared: SharedArrayBuffer) => {
      Atomics.store(new Int32Array(shared), 0, 1);
      Atomics.notify(new Int32Array(shared), 0);
      for (;;) {
        // never yields, never checks
      }
    },
    args: [flag],
  });
  // The SharedArrayBuffer is shared with the thread: wait for its signal.
  await Atomics.waitAsync(new Int32Array(flag), 0, 0, 10_000).value;
  assert.equal(Atomics.load(new Int32Array(flag), 0), 1);
  assert.equal(await worker.terminate({ timeout: 0 }), true);
  assert.ok(worker.error instanceof WorkerTerminatedError);
  assert.equal(worker.error.forced, true);
});

Deno.test("cannotForceBusyThreads() names the affected Deno releases", () => {
  assert.equal(cannotForceBusyThreads("2.8.2"), false);
  assert.equal(cannotForceBusyThreads("2.8.3"), true);
  assert.equal(cannotForceBusyThreads("2.9.6"), true);
  assert.equal(cannotForceBusyThreads("2.9.7"), false);
  assert.equal(cannotForceBusyThreads("1.46.3"), false);
});

Deno.test("ThreadWorker refuses env, which threads share with their process", () => {
  assert.throws(
    () => new ThreadWorker({ target: () => 1, env: { A: "1" } }),
    /Cannot give a thread worker its own environment/,
  );
});

Deno.test("ThreadWorker explains a missing worker-options flag instead of exiting", async () => {
  const script = `
    import { ThreadWorker } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    try {
      new ThreadWorker({ target: () => 1, permissions: "none" });
      console.log("constructed");
    } catch (error) {
      console.log(error.name + ": " + error.message);
    }`;
  const { stdout, code } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0);
  assert.match(out, /TypeError: .*worker-options.*--unstable-worker-options/);
});
