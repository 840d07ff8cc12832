/**
 * How a process worker's child makes sure it never outlives its parent,
 * even while its target spins in code that never yields.
 *
 * - On Linux the child asks the kernel to SIGKILL it when its parent dies
 *   (`prctl(PR_SET_PDEATHSIG)`, through Deno's FFI and the C library). It
 *   costs under a millisecond, and the child needs nothing else.
 * - Elsewhere, or when the C library cannot be found, or when
 *   `PYWORKERS_ORPHAN_GUARD=thread` asks for it, the child runs a control
 *   thread from the start that sees its stdin end when the parent dies and
 *   kills the process (which needs `run` permission). That thread costs
 *   about 20 ms of start-up (`new Worker` blocks that long) and ~15 MB.
 *
 * The parent picks the guard ({@linkcode orphanGuard}), the child applies
 * it ({@linkcode armParentDeathSignal}).
 *
 * @module
 */

/** Where the C library usually is, by distribution and architecture. */
const LIBC_PATHS = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/lib/libc.so.6",
  "/usr/lib/libc.so.6",
];

/** The guard a child should use. */
export type OrphanGuard =
  | { readonly kind: "pdeathsig"; readonly libc: string }
  | { readonly kind: "thread" };

let cached: OrphanGuard | undefined;

/** Chooses the guard for this parent's children (once per process). */
export function orphanGuard(): OrphanGuard {
  if (cached !== undefined) return cached;
  cached = { kind: "thread" };
  if (Deno.build.os !== "linux") return cached;
  try {
    if (
      Deno.permissions.querySync({
          name: "env",
          variable: "PYWORKERS_ORPHAN_GUARD",
        }).state === "granted" &&
      Deno.env.get("PYWORKERS_ORPHAN_GUARD") === "thread"
    ) return cached;
  } catch {
    // no env access: use the default
  }
  for (const libc of LIBC_PATHS) {
    try {
      if (
        Deno.permissions.querySync({ name: "read", path: libc }).state ===
          "granted" && Deno.statSync(libc).isFile
      ) {
        cached = { kind: "pdeathsig", libc };
        break;
      }
    } catch {
      // not there: try the next one
    }
  }
  return cached;
}

/**
 * In the child: asks the kernel to SIGKILL this process when the thread
 * that spawned it (the parent's) exits. Returns false if the parent is
 * already gone.
 */
export function armParentDeathSignal(libc: string, parentPid: number): boolean {
  const lib = Deno.dlopen(libc, {
    prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
    getppid: { parameters: [], result: "i32" },
  });
  try {
    const PR_SET_PDEATHSIG = 1;
    const SIGKILL = 9n;
    if (lib.symbols.prctl(PR_SET_PDEATHSIG, SIGKILL, 0n, 0n, 0n) !== 0) {
      throw new Error("prctl(PR_SET_PDEATHSIG) failed");
    }
    // If the parent died before the signal was armed, we were re-parented.
    return lib.symbols.getppid() === parentPid;
  } finally {
    lib.close();
  }
}
