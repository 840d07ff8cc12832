/**
 * Mapping one permission descriptor onto each kind of worker: a Web
 * Worker's `deno.permissions` for threads, `--allow-*` flags for processes.
 *
 * @module
 */
import type { PermissionDescriptor } from "../types.ts";
import { assertWorkerOptions } from "./config.ts";

/** The permission names a descriptor object may hold, in flag order. */
export const PERMISSION_NAMES = [
  "read",
  "write",
  "net",
  "env",
  "run",
  "ffi",
  "sys",
  "import",
] as const;

/** One permission name. */
export type PermissionName = typeof PERMISSION_NAMES[number];

/** A descriptor with every key present: `true`, `false` or a list. */
export type FullGrant = Record<PermissionName, boolean | string[]>;

/** Checks a descriptor and fills omitted keys with `false` (Deno's Worker rule). */
export function normalizeGrant(
  descriptor: PermissionDescriptor,
): FullGrant | "inherit" {
  if (descriptor === "inherit") return "inherit";
  const grant = Object.fromEntries(
    PERMISSION_NAMES.map((name) => [name, false]),
  ) as FullGrant;
  if (descriptor === "none") return grant;
  if (
    descriptor === null || typeof descriptor !== "object" ||
    Array.isArray(descriptor)
  ) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(descriptor)
      } as permissions: expected "inherit", "none" or an object`,
    );
  }
  for (const [key, value] of Object.entries(descriptor)) {
    if (!(PERMISSION_NAMES as readonly string[]).includes(key)) {
      throw new TypeError(
        `Cannot grant permission "${key}": expected one of ${
          PERMISSION_NAMES.join(", ")
        }`,
      );
    }
    if (
      typeof value !== "boolean" &&
      !(Array.isArray(value) &&
        value.every((v) => typeof v === "string" && v !== ""))
    ) {
      throw new TypeError(
        `Cannot grant permission "${key}" as ${
          Deno.inspect(value)
        }: expected a boolean or an array of non-empty strings`,
      );
    }
    if (Array.isArray(value)) {
      for (const entry of value) checkEntry(key as PermissionName, entry);
    }
    grant[key as PermissionName] = value;
  }
  return grant;
}

/** The `sys` kinds Deno 2.8 knows. */
const SYS_KINDS = new Set([
  "loadavg",
  "hostname",
  "systemMemoryInfo",
  "networkInterfaces",
  "osRelease",
  "osUptime",
  "uid",
  "gid",
  "username",
  "cpus",
  "homedir",
  "statfs",
  "getPriority",
  "setPriority",
  "inspector",
  "userInfo",
]);

/** A hostname, optionally `*.`-prefixed: labels of letters, digits, - and _. */
const HOSTNAME = /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

/**
 * Throws a TypeError naming an entry that Deno would refuse to parse: a
 * process child would die in Deno's flag parser before it started, a Web
 * Worker's constructor throw Deno's bare message.
 */
function checkEntry(name: PermissionName, entry: string): void {
  const why = entryProblem(name, entry);
  if (why === undefined) return;
  throw new TypeError(
    `Cannot grant ${name} access to ${JSON.stringify(entry)}: ${why}`,
  );
}

function entryProblem(name: PermissionName, entry: string): string | undefined {
  if (entry.includes("\0")) return "it holds a NUL character";
  switch (name) {
    case "env":
      return entry.includes("=")
        ? 'a variable name cannot hold "="'
        : undefined;
    case "sys":
      return SYS_KINDS.has(entry)
        ? undefined
        : `expected one of ${[...SYS_KINDS].join(", ")}`;
    case "net":
    case "import":
      return hostProblem(entry);
  }
  return undefined;
}

/** What is wrong with `host[:port]`, `[IPv6][:port]` or `*.host`, if anything. */
function hostProblem(entry: string): string | undefined {
  const expected = "expected host, host:port, an IP address or [IPv6]:port";
  let host = entry;
  let port: string | undefined;
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(.*))?$/.exec(entry);
  if (bracketed !== null) {
    host = "";
    port = bracketed[2];
  } else if (entry.includes(":")) {
    const at = entry.lastIndexOf(":");
    host = entry.slice(0, at);
    port = entry.slice(at + 1);
    if (host === "" || host.includes(":")) {
      return `${expected} (a bare IPv6 address needs brackets)`;
    }
  }
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) < 65536)) {
    return `${expected}, with a port from 0 to 65535`;
  }
  if (bracketed === null && !HOSTNAME.test(host)) return expected;
  return undefined;
}

/**
 * The descriptor Deno's permission API takes for `name` (all of it, or one
 * of its entries: a path, host, variable, command or kind).
 */
export function queryDescriptor(
  name: PermissionName,
  entry?: string,
): Deno.PermissionDescriptor {
  // On a null prototype: Deno reads `path`, `variable`, ... through the
  // prototype chain, so a polluted Object.prototype would narrow a query
  // for the whole permission to one entry (and fail open).
  return Object.assign(Object.create(null), descriptorFields(name, entry));
}

function descriptorFields(
  name: PermissionName,
  entry: string | undefined,
): Deno.PermissionDescriptor {
  if (entry === undefined) return { name };
  switch (name) {
    case "read":
    case "write":
    case "ffi":
      return { name, path: entry };
    case "net":
    case "import":
      return { name, host: entry };
    case "env":
      return { name, variable: entry };
    case "run":
      return { name, command: entry };
    case "sys":
      return {
        name,
        kind: entry as NonNullable<Deno.SysPermissionDescriptor["kind"]>,
      };
  }
}

/** The `deno.permissions` option of a thread's Web Worker (undefined: inherit). */
export function threadPermissions(
  descriptor: PermissionDescriptor,
): Deno.PermissionOptionsObject | undefined {
  const grant = normalizeGrant(descriptor);
  if (grant === "inherit") return undefined;
  assertWorkerOptions();
  return grant;
}

/** Command-line flags that give a `deno run` child this grant. */
export function grantFlags(grant: FullGrant): string[] {
  if (PERMISSION_NAMES.every((name) => grant[name] === true)) {
    return ["--allow-all"];
  }
  const flags: string[] = [];
  for (const name of PERMISSION_NAMES) {
    const value = grant[name];
    if (value === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(value) && value.length > 0) {
      // Deno splits flag values on "," and reads ",," as a literal comma.
      const list = value.map((entry) => entry.replaceAll(",", ",,"));
      flags.push(`--allow-${name}=${list.join(",")}`);
    }
  }
  return flags;
}

/**
 * Adds `extra` to a grant for the child's own setup, and returns what the
 * child must revoke before the target runs. Nothing is added (or revoked)
 * where the grant already covers it.
 */
export function withSetupGrants(
  grant: FullGrant,
  extra: { name: PermissionName; value?: string }[],
): { grant: FullGrant; revoke: Deno.PermissionDescriptor[] } {
  const out = { ...grant };
  const revoke: Deno.PermissionDescriptor[] = [];
  for (const { name, value } of extra) {
    const current = out[name];
    if (current === true) continue;
    if (value === undefined) {
      out[name] = true;
      revoke.push({ name } as Deno.PermissionDescriptor);
      continue;
    }
    const list = Array.isArray(current) ? current : [];
    if (list.some((entry) => covers(name, entry, value))) continue;
    out[name] = [...list, value];
    revoke.push(queryDescriptor(name, value));
  }
  return { grant: out, revoke };
}

/** Whether a grant entry `entry` of `name` covers `value` (a path below it, or the same host or name). */
export function covers(
  name: PermissionName,
  entry: string,
  value: string,
): boolean {
  if (name === "read" || name === "write" || name === "ffi") {
    // Deno revokes every grant that is an ancestor of a revoked path, so an
    // entry that covers the setup path must be recognised however it is
    // spelled ("." or "/tmp/./x//y"), or revoking would take it away.
    const base = normalizePath(entry);
    const path = normalizePath(value);
    return path === base || path.startsWith(base === "/" ? "/" : `${base}/`);
  }
  return entry === value;
}

/** An absolute, normalized path: relative to the working directory, no `.`, `..` or `//`. */
export function normalizePath(path: string): string {
  let absolute = path;
  if (!path.startsWith("/")) {
    try {
      absolute = `${Deno.cwd()}/${path}`;
    } catch {
      absolute = `/${path}`; // no read access to the working directory
    }
  }
  const parts: string[] = [];
  for (const part of absolute.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}
