/**
 * What this process holds, and the rule that a worker never holds more: a
 * grant beyond the parent's is refused for every kind, as Deno refuses it
 * for Web Workers ("Can't escalate parent thread permissions").
 *
 * Deno cannot list a process's denials (`--deny-read=/x`, a revoked path)
 * or partial grants, and shows the command line only under `--allow-all`,
 * which denials rule out. So each thing asked for is checked with
 * `Deno.permissions.querySync`, whose `partial` flag says that something
 * below it is denied. A thread's Web Worker inherits those denials from
 * Deno itself; a process child cannot be given them (they cannot be
 * listed), so there a partial grant is refused rather than passed on
 * whole: when in doubt, refuse.
 *
 * @module
 */
import { type PermissionDescriptor, WorkerType } from "../types.ts";
import {
  type FullGrant,
  normalizeGrant,
  PERMISSION_NAMES,
  type PermissionName,
  queryDescriptor,
} from "./grants.ts";

/**
 * Checks a worker's `permissions` option against what this process holds.
 *
 * @returns The normalized grant (`"inherit"` for a thread).
 * @throws {TypeError} If the descriptor is malformed (null, an array, an unknown name).
 * @throws {Deno.errors.NotCapable} If it grants something this process does
 * not hold, or (for a process) holds with exceptions it cannot pass on.
 */
export function checkGrant(
  descriptor: PermissionDescriptor | undefined,
  type: WorkerType,
): FullGrant | "inherit" {
  const grant = normalizeGrant(
    descriptor === undefined ? "inherit" : descriptor,
  );
  // A remote worker's grant is checked by the host that runs it.
  if (type === WorkerType.REMOTE) return grant;
  const process = type === WorkerType.PROCESS;
  if (grant === "inherit") return process ? inheritedGrant() : grant;
  for (const name of PERMISSION_NAMES) {
    const value = grant[name];
    if (value === true) assertHeld(name, undefined, process);
    else if (Array.isArray(value)) {
      for (const entry of value) assertHeld(name, entry, process);
    }
  }
  return grant;
}

/**
 * What a process child gets for `"inherit"`: each permission this process
 * holds in full. Partial grants (`--allow-read=/data`) are not listable, so
 * not inherited; a permission held with exceptions (`-A --deny-env=SECRET`)
 * is refused, as its exceptions could not be passed on.
 */
function inheritedGrant(): FullGrant {
  const grant = {} as FullGrant;
  for (const name of PERMISSION_NAMES) {
    const status = Deno.permissions.querySync(queryDescriptor(name));
    if (status.state === "granted" && status.partial) {
      throw new Deno.errors.NotCapable(
        `Cannot inherit ${name} access in a process worker as this process ` +
          `holds it with exceptions (a --deny-${name} flag or a revoked ` +
          "entry) that Deno cannot list, so they could not be passed on: " +
          `give the worker explicit permissions, e.g. { ${name}: [...] } ` +
          "with the entries it needs",
      );
    }
    grant[name] = status.state === "granted";
  }
  return grant;
}

/** Throws unless this process holds `name` (all of it, or `entry`). */
function assertHeld(
  name: PermissionName,
  entry: string | undefined,
  process: boolean,
): void {
  const what = entry === undefined
    ? `${name} access`
    : `${name} access to ${JSON.stringify(entry)}`;
  let status: Deno.PermissionStatus;
  try {
    status = Deno.permissions.querySync(queryDescriptor(name, entry));
  } catch (cause) {
    throw new Deno.errors.NotCapable(
      `Cannot grant ${what} to a worker as this process cannot tell whether ` +
        `it holds it: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (status.state !== "granted") {
    throw new Deno.errors.NotCapable(
      `Cannot grant ${what} to a worker as this process does not hold it` +
        (entry === undefined && status.partial ? " in full" : "") +
        ": a worker never holds a permission its parent lacks, so grant " +
        "it to this process first, or leave it out of the worker's " +
        "permissions" +
        // Deno's default import hosts (jsr.io, deno.land, ...) query as
        // "prompt", and whether they are in force cannot be seen.
        (name === "import"
          ? "; Deno's default import hosts count only when given to this " +
            "process with --allow-import"
          : ""),
    );
  }
  // Deno passes a parent's denials on to a Web Worker given all of a
  // permission, but refuses an entry with denials below it; a process
  // child cannot be given the denials at all.
  if (status.partial && (process || entry !== undefined)) {
    throw new Deno.errors.NotCapable(
      `Cannot grant ${what} to a ${process ? "process" : "thread"} worker ` +
        "as this process holds it with exceptions (a --deny-" + name +
        " flag or a revoked entry) that Deno cannot list, so they could " +
        "not be passed on: grant narrower entries that avoid them",
    );
  }
}

/** The thread's entry module (Deno loads it with the parent's permissions). */
const THREAD_ENTRY = new URL("../_child/thread_entry.ts", import.meta.url);

/**
 * Throws a clear error if this process lacks what starting a worker of
 * `type` needs in the parent itself, whatever the worker is granted.
 *
 * @throws {Deno.errors.NotCapable} Naming the permission and how to give it.
 */
export function assertCanStart(type: WorkerType): void {
  if (type === WorkerType.THREAD && THREAD_ENTRY.protocol === "file:") {
    const path = decodeURIComponent(THREAD_ENTRY.pathname);
    if (!holds(queryDescriptor("read", path))) {
      throw new Deno.errors.NotCapable(
        "Cannot start a thread worker as this process cannot read the " +
          `library's files: Deno loads a Web Worker's modules with its ` +
          `parent's permissions, so allow --allow-read=${
            decodeURIComponent(new URL("..", THREAD_ENTRY).pathname)
          }`,
      );
    }
  }
  if (type === WorkerType.PROCESS) {
    if (!holds(queryDescriptor("run", Deno.execPath()))) {
      throw new Deno.errors.NotCapable(
        "Cannot start a process worker as this process may not run " +
          `${Deno.execPath()}: ${PROCESS_NEEDS}`,
      );
    }
  }
}

const PROCESS_NEEDS = "a process worker's parent needs --allow-run for the " +
  "deno executable, and read and write access to the temporary directory " +
  "(for the child's socket); what the target may do is the worker's own " +
  "permissions option";

/**
 * A clearer error for a permission the parent lacked while starting a
 * worker (the process backend's temporary socket, say); other errors as
 * they are.
 */
export function explainStartFailure(error: unknown, type: WorkerType): unknown {
  // Our own refusals ("Cannot ...") already say what to do: only Deno's
  // ("Requires ...") need the explanation.
  if (
    type !== WorkerType.PROCESS ||
    !(error instanceof Deno.errors.NotCapable) ||
    error.message.startsWith("Cannot ")
  ) return error;
  return new Deno.errors.NotCapable(
    `Cannot start a process worker as this process lacks a permission: ${
      error.message.replace(/, run again with .*$/, "")
    }; ${PROCESS_NEEDS}`,
    { cause: error },
  );
}

function holds(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}
