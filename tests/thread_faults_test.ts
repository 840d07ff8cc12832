/**
 * Thread-only behaviour: what a forced stop really does to the OS thread,
 * env, and the worker-options flag.
 */
import assert from "node:assert/strict";
import {
  ThreadWorker,
  type WorkerContext,
  WorkerDiedError,
  WorkerTerminatedError,
} from "../mod.ts";
import {
  busyThreadsBlockExit,
  stuckInTarget,
} from "../_backend/busy_thread.ts";
import {
  ENTERED,
  IN_TARGET,
  THREAD_FLAGS_BYTES,
} from "../_protocol/thread_flags.ts";
import { startedSignal } from "./_started.ts";

const MOD = JSON.stringify(new URL("../mod.ts", import.meta.url).href);

/** Whether an OS thread of this process exists and is not a zombie. */
function threadExists(tid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

Deno.test("ThreadWorker forced stop ends the OS thread of a target that ignores the request (issue 6.12)", async () => {
  await using signal = startedSignal();
  await using worker = new ThreadWorker({
    target: async (path: string, ctx: WorkerContext) => {
      ctx.signal.addEventListener("abort", () => {}); // heard, ignored
      // `ready` only says the thread exists: this says the target runs.
      (await Deno.connect({ transport: "unix", path })).close();
      await new Promise(() => {});
    },
    args: [signal.path],
  });
  await Promise.all([worker.ready, signal.started]);
  assert.ok(worker.tid > 0, "the OS thread id is readable under -A");
  assert.equal(threadExists(worker.tid), true);
  assert.equal(await worker.terminate({ timeout: 50 }), true);
  assert.ok(worker.error instanceof WorkerTerminatedError);
  assert.equal(worker.error.forced, true);
  assert.doesNotMatch(worker.error.message, /synchronous/);
  // Watchdog bound, not a synchronisation: the thread winds down shortly.
  const deadline = Date.now() + 5000;
  while (threadExists(worker.tid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(threadExists(worker.tid), false, "the thread is gone");
});

for (
  const [how, target] of [
    ["", "(shared) => { STARTED; for (;;) {} }"],
    // No mark covers an async target's code after an await: the silence does.
    [
      " after an await",
      "async (shared) => { await null; STARTED; for (;;) {} }",
    ],
  ] as const
) {
  Deno.test(`ThreadWorker forced while busy in sync code${how} says so, and the process can still exit`, async () => {
    // In a child process, so the thread Deno cannot stop dies with it.
    const script = `
    import { ThreadWorker } from ${MOD};
    const flag = new SharedArrayBuffer(4);
    const worker = new ThreadWorker({
      target: ${
      target.replace(
        "STARTED",
        "Atomics.store(new Int32Array(shared), 0, 1); " +
          "Atomics.notify(new Int32Array(shared), 0)",
      )
    },
      args: [flag],
    });
    await Atomics.waitAsync(new Int32Array(flag), 0, 0, 10000).value;
    console.log(await worker.terminate({ timeout: 0 }), worker.error.forced);
    console.log(worker.error.message);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Watchdog: a Deno whose busy threads block exit would hang here.
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const { code, stdout, stderr } = await child.output();
    clearTimeout(timer);
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    if (busyThreadsBlockExit(Deno.version.deno)) {
      assert.notEqual(code, 0, "this Deno cannot exit; the test documents it");
      return;
    }
    assert.equal(code, 0, err);
    assert.match(out, /^true true\n/);
    assert.match(out, /busy in synchronous code/);
    assert.match(err, /pyworkers: a thread worker was forced while/);
  });
}

Deno.test("ThreadWorker forced while its module target still loads gives no busy-thread note (issue 6.10)", async () => {
  // The module's top level is busy for a while, then the thread is free: it
  // was never stuck in its target, and Worker.terminate() does end it.
  const module = "data:text/javascript," + encodeURIComponent(
    "for (const end = Date.now() + 500; Date.now() < end;);\n" +
      "export default () => new Promise(() => {});",
  );
  await using worker = new ThreadWorker({ target: { module } });
  await worker.ready;
  assert.equal(await worker.terminate({ timeout: 0 }), true);
  assert.ok(worker.error instanceof WorkerTerminatedError);
  assert.equal(worker.error.forced, true);
  assert.doesNotMatch(worker.error.message, /synchronous/);
});

Deno.test("stuckInTarget() calls a thread stuck only if it stays silent inside its target (issue 6.10)", async () => {
  const flags = () => new Int32Array(new SharedArrayBuffer(THREAD_FLAGS_BYTES));
  const silent = new Promise<void>(() => {});
  const inTarget = () => {
    const f = flags();
    f[ENTERED] = 1;
    f[IN_TARGET] = 1;
    return f;
  };
  assert.equal(await stuckInTarget(flags(), silent), false, "never started");
  assert.equal(await stuckInTarget(inTarget(), Promise.resolve()), false);
  assert.equal(await stuckInTarget(inTarget(), silent), true, "stuck");
  const leaving = inTarget();
  const left = stuckInTarget(leaving, silent);
  Atomics.store(leaving, IN_TARGET, 0); // back in its event loop
  assert.equal(await left, false);
  const again = inTarget();
  const reentered = stuckInTarget(again, silent);
  Atomics.add(again, ENTERED, 1); // left, and a later run entered
  assert.equal(await reentered, false);
  const awaiting = inTarget();
  awaiting[IN_TARGET] = 0; // between runs: only the answer tells
  assert.equal(await stuckInTarget(awaiting, silent), true);
  assert.equal(await stuckInTarget(awaiting, Promise.resolve()), false);
});

Deno.test("busyThreadsBlockExit() names the Deno releases that cannot exit", () => {
  assert.equal(busyThreadsBlockExit("2.8.2"), false);
  assert.equal(busyThreadsBlockExit("2.8.3"), true);
  assert.equal(busyThreadsBlockExit("2.9.6"), true);
  assert.equal(busyThreadsBlockExit("2.9.7"), false);
  assert.equal(busyThreadsBlockExit("1.46.3"), false);
});

Deno.test("ThreadWorker refuses env, which threads share with their process", () => {
  assert.throws(
    () => new ThreadWorker({ target: () => 1, env: { A: "1" } }),
    /Cannot give a thread worker its own environment/,
  );
});

Deno.test("ThreadWorker explains a missing worker-options flag instead of exiting", async () => {
  const script = `
    import { ThreadWorker } from ${MOD};
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

Deno.test("ThreadWorker reports a target that closes its own thread", async () => {
  await using worker = new ThreadWorker({
    target: () => {
      (globalThis as unknown as { close(): void }).close();
      return "after close";
    },
  });
  await worker.wait(5000);
  assert.equal(worker.hasError, true);
  assert.ok(worker.error instanceof WorkerDiedError);
  assert.equal(worker.error.exitCode, 0);
});

Deno.test("ThreadWorker target's own postMessage can neither break nor forge the protocol", async () => {
  await using worker = new ThreadWorker({
    target: () => {
      const post = (globalThis as unknown as { postMessage(m: unknown): void })
        .postMessage;
      post(null);
      post({
        t: "done",
        ok: true,
        value: "forged",
        userState: 0,
        stateSent: true,
      });
      return "real";
    },
  });
  await worker.wait(5000);
  assert.equal(worker.error, undefined);
  assert.equal(worker.result, "real");
});

Deno.test("ThreadWorker warns about a busy thread only when a worker's error carries the note (break-it trial)", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fixtures/busy_note.ts", import.meta.url).href,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  assert.ok(text.startsWith("{"), new TextDecoder().decode(output.stderr));
  const { warned, error } = JSON.parse(text);
  if (warned) assert.match(String(error), /busy in synchronous code/);
});
