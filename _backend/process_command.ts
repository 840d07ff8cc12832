/**
 * The command line of a process worker's child: its permission flags (the
 * user's grant plus the setup grants the child revokes before its target
 * loads), its config, and the bootstrap's arguments.
 *
 * @module
 */
import { orphanGuard } from "./orphan_guard.ts";
import { findConfig } from "../_permissions/config.ts";
import {
  type FullGrant,
  grantFlags,
  withSetupGrants,
} from "../_permissions/grants.ts";
import { checkGrant } from "../_permissions/held.ts";
import { type WorkerOptions, WorkerType } from "../types.ts";
import { currentHost } from "../_protocol/ids.ts";

/** A host to grant imports from that serves nothing (the "discard" port). */
const NO_IMPORT_HOST = "127.0.0.1:9";

/** The flags and setup grants of the child's `deno run`. */
export function childCommand(
  options: WorkerOptions,
  paths: {
    /** The private directory holding both (default: the socket's). */
    dir?: string;
    socketPath: string;
    controlPath: string;
    bootstrap: URL;
  },
): { args: string[]; revoke: Deno.PermissionDescriptor[] } {
  const { socketPath, controlPath, bootstrap: BOOTSTRAP } = paths;
  const dir = paths.dir ?? socketPath.slice(0, socketPath.lastIndexOf("/"));
  // Checked again here (not only by the constructor): whoever launches a
  // child gets no more than this process holds.
  const inherit = options.permissions === undefined ||
    options.permissions === "inherit";
  const base = checkGrant(options.permissions, WorkerType.PROCESS) as FullGrant;
  const guard = orphanGuard();
  const setup: Parameters<typeof withSetupGrants>[1] = [
    { name: "read", value: socketPath },
    // The socket, and the directory itself: the child removes it once it
    // has connected, in case its parent dies before it can (defect 11).
    { name: "write", value: dir },
    { name: "read", value: controlPath },
  ];
  if (guard.kind === "pdeathsig") {
    setup.push({ name: "ffi", value: guard.libc });
  } // The control thread of the "thread" guard needs `run` to kill an
  // orphaned child. A partial run grant cannot be kept beside it, so then
  // the child relies on the target unwinding instead.
  else if (!Array.isArray(base.run)) setup.push({ name: "run" });
  if (BOOTSTRAP.protocol !== "file:") {
    setup.push({ name: "import", value: BOOTSTRAP.host });
  } else if (
    !inherit &&
    (base.import === false ||
      (Array.isArray(base.import) && base.import.length === 0))
  ) {
    // Without any --allow-import, Deno lets every child import from its
    // default hosts (jsr.io, deno.land, ...), and --deny-import does not stop
    // that (measured on 2.8.2). An explicit grant replaces the default list:
    // give one that reaches nothing, and revoke it before the target loads.
    setup.push({ name: "import", value: NO_IMPORT_HOST });
  }
  const { grant, revoke } = withSetupGrants(base, setup);
  const config = findConfig();
  const args = [
    "run",
    "--no-prompt",
    "--no-lock",
    "--unstable-worker-options",
    config === null ? "--no-config" : `--config=${config.path}`,
    ...grantFlags(grant),
    BOOTSTRAP.href,
    socketPath,
    controlPath,
    dir,
    JSON.stringify(revoke),
    JSON.stringify(guard),
    String(Deno.pid),
    // The host the child runs on, as its launcher names it: the child may
    // lack the permission to read it (a remote server names its own).
    currentHost(),
  ];
  return { args, revoke };
}
