/**
 * Where code runs: host name, process id and thread id, read without
 * prompting and with a fallback when the permission to read them is missing.
 *
 * @module
 */

let cachedHost: string | undefined;

/** This machine's host name, or "localhost" when `sys` permission is missing. */
export function currentHost(): string {
  if (cachedHost === undefined) {
    try {
      cachedHost = Deno.permissions.querySync({
          name: "sys",
          kind: "hostname",
        }).state === "granted"
        ? Deno.hostname()
        : "localhost";
    } catch {
      cachedHost = "localhost";
    }
  }
  return cachedHost;
}

/** Whether this code runs in a Web Worker rather than a process's main thread. */
export function inWorkerThread(): boolean {
  return typeof (globalThis as { WorkerGlobalScope?: unknown })
    .WorkerGlobalScope !== "undefined";
}

/**
 * The OS id of the calling thread when it can be read (`/proc/thread-self`
 * on Linux, which needs read permission), else undefined. A process's main
 * thread has the process id as its thread id on Linux, so that one is known
 * without reading anything.
 */
export function currentTid(): number | undefined {
  if (!inWorkerThread() && Deno.build.os === "linux") return Deno.pid;
  try {
    const path = "/proc/thread-self";
    if (
      Deno.permissions.querySync({ name: "read", path }).state !== "granted"
    ) return undefined;
    const link = Deno.readLinkSync(path); // "<pid>/task/<tid>"
    const tid = Number(link.slice(link.lastIndexOf("/") + 1));
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}

let syntheticTid = 0;

/**
 * A thread id for a thread whose OS id cannot be read: unique within this
 * process and never equal to a real id (those are positive).
 */
export function syntheticThreadId(): number {
  return -(++syntheticTid);
}
