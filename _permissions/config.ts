/**
 * Finding the Deno config a run uses and what it turns on, the way Deno
 * finds it: needed to know beforehand whether Web Workers may be given
 * permissions (the `worker-options` unstable feature), and which config a
 * process worker's child should use.
 *
 * @module
 */

let workerOptions: "on" | "off" | "unknown" | undefined;

/**
 * Throws a clear error unless Deno's `worker-options` unstable feature is
 * on. (Without it, Deno kills the whole process when a Web Worker is given
 * permissions, so this must be known beforehand.) Deno offers no API for
 * this, so it looks where the feature can be turned on: the command line
 * (readable under `--allow-all`) and the config file Deno would use.
 */
export function assertWorkerOptions(): void {
  workerOptions ??= detectWorkerOptions();
  if (workerOptions === "on") return;
  const enable = 'run with --unstable-worker-options or add "unstable": ' +
    '["worker-options"] to your deno.json';
  if (workerOptions === "off") {
    throw new TypeError(
      "Cannot restrict a thread worker's permissions as Deno's worker-options " +
        `unstable feature is not enabled: ${enable}`,
    );
  }
  // Guessing wrong would let Deno kill the whole process, so say what to do.
  throw new TypeError(
    "Cannot restrict a thread worker's permissions as this process cannot " +
      "tell whether Deno's worker-options unstable feature is enabled (Deno " +
      "has no API for it and shows the command line only under --allow-all; " +
      "a deno.json that turns it on counts only when this process may read " +
      'it and its "imports" map is in effect, proof that Deno uses it): run ' +
      'with --allow-all, or give your deno.json "unstable": ' +
      '["worker-options"] and an "imports" entry, and let this process read ' +
      "it (--allow-read=<path to deno.json>)",
  );
}

/** "on", "off" (known from the command line), or "unknown". */
function detectWorkerOptions(): "on" | "off" | "unknown" {
  const cmdline = readCommandLine();
  if (cmdline?.some((arg) => /^--unstable(-worker-options)?$/.test(arg))) {
    return "on";
  }
  const config = findConfig(cmdline);
  if (config?.unstable?.includes("worker-options")) {
    // Without the command line, the config found by searching upward may
    // not be the one in use (--no-config, another --config): trust it only
    // when its import map is seen in effect.
    if (cmdline !== undefined || importsInEffect(config)) return "on";
  }
  return cmdline === undefined ? "unknown" : "off";
}

/**
 * Whether Deno resolves one of the config's import map entries to its
 * target, which it does only when it uses that config.
 */
function importsInEffect(config: DenoConfig): boolean {
  const base = new URL(
    "file://" + config.path.split("/").map(encodeURIComponent).join("/"),
  );
  for (const [key, target] of Object.entries(config.imports ?? {})) {
    if (typeof target !== "string") continue;
    // A prefix entry ("lib/": "./lib/") is probed with a file below it.
    const suffix = key.endsWith("/") ? "pyworkers-probe.ts" : "";
    let expected: string;
    try {
      expected = new URL(target + suffix, base).href;
    } catch {
      continue;
    }
    if (expected === key + suffix) continue; // maps to itself: proves nothing
    try {
      if (import.meta.resolve(key + suffix) === expected) return true;
    } catch {
      // not mapped here: try the next entry
    }
  }
  return false;
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
  readonly imports?: Record<string, unknown> | undefined;
}

let cachedConfig: DenoConfig | null | undefined;

/**
 * The config file this run of Deno most likely uses: the one named on the
 * command line (`--config path`, `--config=path`, `-c path`), else the
 * nearest `deno.json(c)` above the main module (Deno's own rule for
 * `deno run` and `deno test`), or above the working directory when the main
 * module is not a file (`deno eval`) or not known (inside a Web Worker). Null when there is none, or none is
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
    // Undefined inside a Web Worker: then the working directory, as for
    // `deno eval` (a worker cannot see its process's main module).
    const main: string | undefined = Deno.mainModule;
    if (main?.startsWith("file:")) {
      dir = decodeURIComponent(new URL(".", main).pathname);
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
      // On a null prototype, as Deno reads the query through the chain.
      const query = Object.assign(Object.create(null), { name: "read", path });
      if (Deno.permissions.querySync(query).state !== "granted") continue;
      const json = parseJsonc(Deno.readTextFileSync(path));
      const config: DenoConfig = {
        path,
        unstable: json?.unstable,
        imports: json?.imports,
      };
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
export function parseJsonc(
  text: string,
): { unstable?: string[]; imports?: Record<string, unknown> } {
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
