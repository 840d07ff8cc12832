/**
 * Stopping a child process by force, in one place.
 *
 * @module
 */
import { within } from "../_core/time.ts";

/**
 * SIGTERM, then SIGKILL if the child has not exited within `graceMs`.
 * Resolves once the child is gone; a signal that cannot be sent (the child
 * already exited) is not an error.
 */
export async function killEscalating(
  child: Deno.ChildProcess,
  graceMs: number,
): Promise<void> {
  const send = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  send("SIGTERM");
  if (!(await within(child.status, graceMs))) {
    send("SIGKILL");
    await child.status;
  }
}
