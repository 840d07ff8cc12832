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
 * Telling a stuck thread from a slow one: the thread marks in shared memory
 * when it runs its target's synchronous code (_protocol/thread_flags.ts),
 * and its event loop answers the stop request with a message. A thread that
 * answers, or never reached its target, or leaves its synchronous code while
 * we look, was not stuck, however loaded the machine is; only a thread that
 * stays inside its target without answering is. (An async target spinning
 * after an `await` has no mark: there only the answer tells, given longer.)
 *
 * @module
 */
import { within } from "../_protocol/time.ts";
import { ENTERED, IN_TARGET } from "../_protocol/thread_flags.ts";

/** How long a thread found in its target's synchronous code gets to leave it or answer. */
const SYNC_PROBE_MS = 100;
/** How long a thread between its target's synchronous runs gets to answer. */
const ASYNC_PROBE_MS = 250;

/** Whether on this Deno release a busy, terminated thread keeps the process from exiting. */
export function busyThreadsBlockExit(version: string): boolean {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map(Number);
  const v = major * 1e6 + minor * 1e3 + patch;
  return v >= 2_008_003 && v <= 2_009_006;
}

/**
 * Whether a thread about to be forced is stuck in its target's synchronous
 * code, which `Worker.terminate()` cannot interrupt.
 *
 * @param flags The memory the thread shares with its parent.
 * @param answered Resolves when the thread's event loop saw the stop request.
 */
export async function stuckInTarget(
  flags: Int32Array,
  answered: Promise<void>,
): Promise<boolean> {
  const entered = Atomics.load(flags, ENTERED);
  if (entered === 0) return false; // forced before its target started
  if (Atomics.load(flags, IN_TARGET) === 0) {
    return !await within(answered, ASYNC_PROBE_MS);
  }
  if (await within(answered, SYNC_PROBE_MS)) return false;
  // Still inside the same run of its target, and silent.
  return Atomics.load(flags, IN_TARGET) === 1 &&
    Atomics.load(flags, ENTERED) === entered;
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
