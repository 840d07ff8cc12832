/**
 * What Deno's `Worker.terminate()` can and cannot do, measured, and the
 * one warning this library gives about it.
 *
 * Deno's `terminate()` asks the worker's event loop to stop. A worker whose
 * event loop is free (its target awaits, even forever) is stopped at once.
 * A worker busy in synchronous JavaScript never reaches its event loop, and
 * Deno does not interrupt it: its OS thread spins on, using a CPU core,
 * until the process exits (measured on 2.8.2 and 2.9.6). On Deno 2.8.3 up
 * to at least 2.9.6 such a thread also keeps the process from exiting
 * (denoland/deno#35657). Process workers do not have this limit: their
 * forced stop is a signal.
 *
 * @module
 */

/** Whether on this Deno release a busy, terminated thread keeps the process from exiting. */
export function busyThreadsBlockExit(version: string): boolean {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map(Number);
  const v = major * 1e6 + minor * 1e3 + patch;
  return v >= 2_008_003 && v <= 2_009_006;
}

let warned = false;

/**
 * The note for a forced thread that was busy in synchronous code, and a
 * warning the first time this happens in the process.
 */
export function busyThreadNote(): string {
  const blocksExit = busyThreadsBlockExit(Deno.version.deno);
  const note = "it was busy in synchronous code, which Deno cannot " +
    "interrupt, so its thread keeps running until the process exits" +
    (blocksExit ? ` (and Deno ${Deno.version.deno} will not exit)` : "");
  if (!warned) {
    warned = true;
    console.warn(
      `pyworkers: a thread worker was forced while ${note}. Use a process ` +
        "worker for targets that may ignore termination" +
        (blocksExit ? ", or Deno 2.8.2" : "") + ".",
    );
  }
  return note;
}
