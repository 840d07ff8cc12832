/**
 * Mapping one permission descriptor onto each kind of worker: a Web
 * Worker's `deno.permissions` for threads, `--allow-*` flags for processes.
 *
 * @module
 */
import type { PermissionDescriptor } from "./_types.ts";

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
  if (descriptor === null || typeof descriptor !== "object") {
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
    grant[key as PermissionName] = value;
  }
  return grant;
}

/** What this process holds in full, as a grant (partial grants cannot be listed). */
export function inheritedGrant(): FullGrant {
  return Object.fromEntries(
    PERMISSION_NAMES.map((
      name,
    ) => [name, Deno.permissions.querySync({ name }).state === "granted"]),
  ) as FullGrant;
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
    revoke.push(
      (name === "read" || name === "write" || name === "ffi"
        ? { name, path: value }
        : name === "net" || name === "import"
        ? { name, host: value }
        : { name }) as Deno.PermissionDescriptor,
    );
  }
  return { grant: out, revoke };
}

function covers(name: PermissionName, entry: string, value: string): boolean {
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

let workerOptions: boolean | undefined;

/**
 * Throws a clear error unless Deno's `worker-options` unstable feature is
 * on. (Without it, Deno kills the whole process when a Web Worker is given
 * permissions, so this must be known beforehand.) Deno offers no API for
 * this, so it looks where the feature can be turned on: the command line
 * (readable under `--allow-all`) and the config file Deno would use.
 */
export function assertWorkerOptions(): void {
  workerOptions ??= detectWorkerOptions();
  if (!workerOptions) {
    throw new TypeError(
      "Cannot restrict a thread worker's permissions as Deno's worker-options " +
        "unstable feature is not enabled: run with --unstable-worker-options " +
        'or add "unstable": ["worker-options"] to your deno.json',
    );
  }
}

function detectWorkerOptions(): boolean {
  const cmdline = readCommandLine();
  if (cmdline?.some((arg) => /^--unstable(-worker-options)?$/.test(arg))) {
    return true;
  }
  const config = findConfig(cmdline);
  return config?.unstable?.includes("worker-options") ?? false;
}

function readCommandLine(): string[] | undefined {
  try {
    // Deno lets only --allow-all read /proc/self; elsewhere this throws.
    return Deno.readTextFileSync("/proc/self/cmdline").split("\0");
  } catch {
    return undefined;
  }
}

/** The parts of a Deno config file this library looks at. */
export interface DenoConfig {
  readonly path: string;
  readonly unstable?: string[] | undefined;
}

let cachedConfig: DenoConfig | null | undefined;

/**
 * The config file this run of Deno most likely uses: the one named on the
 * command line (`--config path`, `--config=path`, `-c path`), else the
 * nearest `deno.json(c)` above the main module (Deno's own rule for
 * `deno run` and `deno test`), or above the working directory when the main
 * module is not a file (`deno eval`). Null when there is none, or none is
 * readable.
 */
export function findConfig(cmdline = readCommandLine()): DenoConfig | null {
  if (cachedConfig !== undefined) return cachedConfig;
  cachedConfig = null;
  if (cmdline?.includes("--no-config")) return cachedConfig;
  const candidates: string[] = [];
  const named = namedConfig(cmdline);
  if (named !== undefined) candidates.push(named);
  else {
    let dir: string | undefined;
    if (Deno.mainModule.startsWith("file:")) {
      dir = decodeURIComponent(new URL(".", Deno.mainModule).pathname);
    } else {
      try {
        dir = Deno.cwd();
      } catch {
        // no read permission for the working directory
      }
    }
    for (let d = dir; d !== undefined;) {
      d = d.replace(/\/$/, "");
      candidates.push(`${d}/deno.json`, `${d}/deno.jsonc`);
      const parent = d.slice(0, d.lastIndexOf("/"));
      d = parent === d || d === "" ? undefined : parent;
    }
  }
  for (const path of candidates) {
    try {
      if (
        Deno.permissions.querySync({ name: "read", path }).state !== "granted"
      ) continue;
      const json = parseJsonc(Deno.readTextFileSync(path));
      const config: DenoConfig = { path, unstable: json?.unstable };
      cachedConfig = config;
      return config;
    } catch {
      // missing or unreadable: try the next one
    }
  }
  return cachedConfig;
}

function namedConfig(cmdline: string[] | undefined): string | undefined {
  if (cmdline === undefined) return undefined;
  for (let i = 0; i < cmdline.length; i++) {
    const arg = cmdline[i]!;
    if (arg.startsWith("--config=")) return arg.slice("--config=".length);
    if ((arg === "--config" || arg === "-c") && cmdline[i + 1]) {
      return cmdline[i + 1];
    }
  }
  return undefined;
}

/**
 * Parses JSON with comments and trailing commas (deno.jsonc): comments are
 * blanked outside strings, then commas before a closing bracket dropped.
 */
export function parseJsonc(text: string): { unstable?: string[] } {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2);
      if (i < 0) break;
      i++;
      out += " ";
    } else out += c;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1"));
}
