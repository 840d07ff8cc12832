/**
 * The parent's half of the orphan guard: which guard a process worker's
 * child should use (the child's half, and why, is _child/orphan_guard.ts).
 *
 * @module
 */
import type { OrphanGuard } from "../_protocol/messages.ts";
import { queryDescriptor } from "../_permissions/grants.ts";

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

let cached: OrphanGuard | undefined;

/** Chooses the guard for this parent's children (once per process). */
export function orphanGuard(): OrphanGuard {
  if (cached !== undefined) return cached;
  cached = { kind: "thread" };
  if (Deno.build.os !== "linux") return cached;
  try {
    if (
      Deno.permissions.querySync(
          queryDescriptor("env", "PYWORKERS_ORPHAN_GUARD"),
        ).state === "granted" &&
      Deno.env.get("PYWORKERS_ORPHAN_GUARD") === "thread"
    ) return cached;
  } catch {
    // no env access: use the default
  }
  for (const libc of LIBC_PATHS) {
    try {
      if (
        Deno.permissions.querySync(queryDescriptor("read", libc)).state ===
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
