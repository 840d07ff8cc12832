/**
 * Known defects of particular Deno releases that change what this library
 * can promise.
 *
 * @module
 */

/**
 * Whether this Deno release's `Worker.terminate()` fails to stop a thread
 * busy in a loop (measured: 2.8.3 up to at least 2.9.6; denoland/deno#35657).
 */
export function cannotForceBusyThreads(version: string): boolean {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map(Number);
  const v = major * 1e6 + minor * 1e3 + patch;
  return v >= 2_008_003 && v <= 2_009_006;
}

let warned = false;

/** Warns once, when a thread must be forced on a release that cannot do it. */
export function warnIfCannotForce(): void {
  if (warned || !cannotForceBusyThreads(Deno.version.deno)) return;
  warned = true;
  console.warn(
    `pyworkers: Deno ${Deno.version.deno} cannot force-stop a thread busy in ` +
      "a loop (denoland/deno#35657); use Deno 2.8.2 or a fixed release, or " +
      "a process worker for targets that may not cooperate",
  );
}
