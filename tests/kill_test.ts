/**
 * Forced stops, with the kill primitive stubbed (internal on purpose: the
 * escalation and the bound are proven without a real process and without
 * waiting for real grace periods).
 */
import assert from "node:assert/strict";
import { type Killable, killEscalating } from "../_backend/kill.ts";
import { type Backend, Core } from "../_core/lifecycle.ts";
import { WorkerTerminatedError } from "../mod.ts";

/** A process stub that records signals and exits on `exitOn`. */
function stubProcess(exitOn: Deno.Signal | undefined): Killable & {
  signals: Deno.Signal[];
} {
  const { promise, resolve } = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = [];
  return {
    signals,
    status: promise,
    kill(signal) {
      signals.push(signal);
      if (signal === exitOn) resolve();
    },
  };
}

Deno.test("killEscalating() stops at SIGTERM when the process exits in its grace period", async () => {
  const process = stubProcess("SIGTERM");
  assert.equal(await killEscalating(process, 60_000), undefined);
  assert.deepEqual(process.signals, ["SIGTERM"]);
});

Deno.test("killEscalating() escalates to SIGKILL when SIGTERM is ignored", async () => {
  const process = stubProcess("SIGKILL");
  assert.equal(await killEscalating(process, 0), undefined);
  assert.deepEqual(process.signals, ["SIGTERM", "SIGKILL"]);
});

Deno.test("killEscalating() returns a note instead of hanging when SIGKILL does not end the process", async () => {
  const process = stubProcess(undefined);
  const note = await killEscalating(process, 0, 0);
  assert.match(String(note), /had not exited 0 ms after SIGKILL/);
  assert.deepEqual(process.signals, ["SIGTERM", "SIGKILL"]);
});

Deno.test("killEscalating() treats a signal that cannot be sent as an exit already done", async () => {
  const process: Killable = {
    status: Promise.resolve(),
    kill() {
      throw new TypeError("Child process has already terminated");
    },
  };
  assert.equal(await killEscalating(process, 0), undefined);
});

Deno.test("Core.terminate() reports a worker whose backend never confirms the kill as forced, with a note (issue 6 seams)", async () => {
  const core = new Core({}, {
    name: undefined,
    persistent: false,
    id: ["parent", 1, 1],
    initState: undefined,
    kind: "remote",
    killBoundMs: 0,
  });
  let released = false;
  const wedged: Backend = {
    waitsForExit: true,
    send() {},
    requestTerminate() {},
    kill: () => new Promise(() => {}), // a host that never answers
    release() {
      released = true;
    },
  };
  core.attach(wedged);
  assert.equal(await core.terminate(0, true), true);
  const outcome = core.outcome;
  assert.ok(outcome !== undefined && !outcome.ok);
  assert.ok(outcome.error instanceof WorkerTerminatedError);
  assert.equal(outcome.error.forced, true);
  assert.match(
    outcome.error.message,
    /remote backend did not confirm the kill within 0 ms/,
  );
  assert.equal(released, true);
});

Deno.test("Core.describe() names a worker that has not started by its kind, not its parent's ids (issue 6.10)", () => {
  const core = new Core({}, {
    name: undefined,
    persistent: false,
    id: ["parent", 1, 1],
    initState: undefined,
    kind: "process",
  });
  assert.equal(core.describe(), "a process worker that has not started");
  core.sink.message({ t: "ready", host: "child", pid: 2, tid: 3 });
  assert.equal(core.describe(), 'worker ["child",2,3]');
  core.notRun();
});
