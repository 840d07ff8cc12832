/**
 * Bounded waits: every wait in the library has a limit, and every
 * user-given duration is checked in one place. Both sides of a link use
 * them (the parent's lifecycle, a remote link's handshake), so they live
 * with the protocol.
 *
 * @module
 */

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves true if `promise` settles within `ms`, false otherwise. */
export async function within(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  // Timers hold at most 2^31-1 ms (about 24.8 days); anything longer would
  // fire at once, so it counts as no limit.
  if (ms > MAX_TIMER_MS) {
    await promise;
    return true;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks a user-given duration in ms. */
export function checkTimeout(name: string, value: number): number {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `Cannot use ${name} ${
        Deno.inspect(value)
      }: expected a number of milliseconds >= 0`,
    );
  }
  return value;
}
