/**
 * Stopping a child process by force, in one place (trio's
 * `_posix_deliver_cancel` in spirit): SIGTERM, a grace period, SIGKILL.
 *
 * @module
 */
import { within } from "../_protocol/time.ts";

/**
 * What {@linkcode killEscalating} needs of a process: a way to signal it and
 * its exit. A `Deno.ChildProcess` is one; tests pass a stub, so the
 * escalation is proven without a real process or a real grace period.
 */
export interface Killable {
  /** Sends `signal`; may throw if the process is already gone. */
  kill(signal: Deno.Signal): void;
  /** Settles once the process has exited. */
  readonly status: Promise<unknown>;
}

/**
 * SIGTERM, then SIGKILL if the process has not exited within `graceMs`.
 * Resolves once it is gone, or with a note if it is still there `boundMs`
 * after SIGKILL (a process stuck in the kernel: the caller must not hang on
 * it). A signal that cannot be sent (the process already exited) is not an
 * error.
 */
export async function killEscalating(
  process: Killable,
  graceMs: number,
  boundMs = 5000,
): Promise<string | void> {
  const send = (signal: Deno.Signal) => {
    try {
      process.kill(signal);
    } catch {
      // already gone
    }
  };
  send("SIGTERM");
  if (await within(process.status, graceMs)) return;
  send("SIGKILL");
  if (!(await within(process.status, boundMs))) {
    return `it had not exited ${boundMs} ms after SIGKILL`;
  }
}
