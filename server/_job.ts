/**
 * One job on the server: a process worker's child started by the launcher
 * (_backend/launcher.ts) with the job's grant, whose frames are relayed to
 * and from its client as they are (the server never deserializes them).
 *
 * @module
 */
import { type LaunchedProcess, launchProcess } from "../_backend/launcher.ts";
import { childCommand } from "../_backend/process_command.ts";
import type { FullGrant } from "../_permissions/grants.ts";
import type { OutputStream } from "../_protocol/link.ts";

import { BOOTSTRAP } from "../_backend/child_wire.ts";

/** Variables a job never sees, whatever its grant: the server's own secret. */
const WITHHELD_ENV = ["PYWORKERS_TOKEN"];

/**
 * Variables a client may not set for its job whatever its grant, as they
 * act outside its permissions (compared without case: proxies are read in
 * both): the dynamic loader's and the C library's (LD_PRELOAD runs native
 * code before Deno checks anything; GCONV_PATH, GLIBC_TUNABLES, locales,
 * resolver files), the runtime's own (DENO_*, RUST_*, npm's config), where
 * it keeps its cache and temporary files (HOME, XDG_*, TMPDIR: a job could
 * point the code cache its own bootstrap loads from somewhere else), what
 * it trusts (SSL_CERT_*), and the HTTP proxies (a proxy on the server's
 * network reaches any host from a job granted one: trial 5).
 */
const REFUSED_ENV = new RegExp(
  "^(LD_|DYLD_|DENO_|RUST_|GLIBC_|MALLOC_|NPM_CONFIG_|XDG_|LC_|SSL_CERT_|" +
    "NODE_)|^(GCONV_PATH|LOCPATH|NLSPATH|HOSTALIASES|RES_OPTIONS|" +
    "LOCALDOMAIN|TZDIR|HOME|PATH|TMPDIR|TMP|TEMP|LANG|LANGUAGE|" +
    "HTTP_PROXY|HTTPS_PROXY|ALL_PROXY|NO_PROXY)$",
  "i",
);

/**
 * Throws `NotCapable` if the client's variables include one it may not
 * set: one of {@linkcode REFUSED_ENV}, or one its job may not read (a
 * variable is data for the job: one it cannot read could only act on the
 * runtime, outside its grant).
 */
function checkClientEnv(
  added: Readonly<Record<string, string>> | undefined,
  grant: FullGrant,
): void {
  for (const name of Object.keys(added ?? {})) {
    if (REFUSED_ENV.test(name)) {
      throw new Deno.errors.NotCapable(
        `Cannot set ${name} for a remote job as the dynamic loader's, the C ` +
          "library's and the runtime's variables (LD_*, DYLD_*, DENO_*, " +
          "RUST_*, GLIBC_*, HOME, TMPDIR, the HTTP proxies, ...) act " +
          "outside its permissions",
      );
    }
    const readable = grant.env === true ||
      (Array.isArray(grant.env) && grant.env.includes(name));
    if (!readable) {
      throw new Deno.errors.NotCapable(
        `Cannot set ${name} for a remote job that may not read it: ask for ` +
          `permissions { env: [${JSON.stringify(name)}] } too (a variable ` +
          "is the job's data; one it cannot read could only act on the runtime)",
      );
    }
  }
}

/** How to start one job. */
export interface JobLaunch {
  readonly grant: FullGrant;
  /** Variables the client added to the job's environment. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Whether the child writes results from a sender thread (two connections). */
  readonly sender: boolean;
  /**
   * Each frame the job's child sends; one of at most `viewFrames` bytes is
   * a view valid only during the call.
   */
  onFrame(frame: Uint8Array): void;
  readonly viewFrames?: number;
  /** Each chunk the job's child prints. */
  onOutput(stream: OutputStream, chunk: Uint8Array): void;
}

/**
 * The server's environment without what a job must not see, or undefined
 * when this process may not read it (the job then gets it as Deno gives
 * it, which this process could not have read either).
 */
function jobEnvironment(
  added: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined {
  let base: Record<string, string>;
  try {
    base = Deno.env.toObject();
  } catch {
    return undefined;
  }
  for (const name of WITHHELD_ENV) delete base[name];
  return Object.assign(Object.create(null), base, added);
}

/**
 * Starts a job's child. Throws (synchronously) if it cannot be started: a
 * variable the client may not set, a grant this server does not hold, or a
 * failed spawn.
 */
export function launchJob(job: JobLaunch): LaunchedProcess {
  checkClientEnv(job.env, job.grant);
  const env = jobEnvironment(job.env);
  return launchProcess({
    args: (paths) => [
      ...childCommand({ permissions: job.grant }, {
        ...paths,
        bootstrap: BOOTSTRAP,
      }).args,
      ...(job.sender ? ["sender"] : []),
    ],
    connections: job.sender ? 2 : 1,
    env: env ?? (job.env === undefined ? undefined : { ...job.env }),
    clearEnv: env !== undefined,
    onFrame: job.onFrame,
    viewFrames: job.viewFrames,
    onOutput: job.onOutput,
  });
}
