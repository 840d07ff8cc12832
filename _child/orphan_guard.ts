/**
 * How a process worker's child makes sure it never outlives its parent,
 * even while its target spins in code that never yields.
 *
 * - On Linux the child asks the kernel to SIGKILL it when its parent dies
 *   (`prctl(PR_SET_PDEATHSIG)`, through Deno's FFI and the C library). It
 *   costs under a millisecond, and the child needs nothing else. It is
 *   armed once the child has connected and removed its private directory
 *   (an armed child dies with its parent and could not clean up), and
 *   before the target loads.
 * - Elsewhere, or when the C library cannot be found, or when
 *   `PYWORKERS_ORPHAN_GUARD=thread` asks for it, the child runs a control
 *   thread from the start that sees its stdin end when the parent dies and
 *   kills the process (which needs `run` permission). That thread costs
 *   about 20 ms of start-up (`new Worker` blocks that long) and ~15 MB.
 *
 * The parent picks the guard (_backend/orphan_guard.ts); this is the
 * child's half, which applies it.
 *
 * @module
 */

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
