/**
 * The direction of imports between the library's rooms, so the
 * architecture stays what the tree shows: the child side (_child/) and the
 * protocol (_protocol/) never reach the parent's machinery, and the core
 * (_core/) never imports a backend or a kind.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Every relative import of every library file, as [from, to] paths from the root. */
async function libraryImports(): Promise<[string, string][]> {
  const edges: [string, string][] = [];
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${entry.name}`;
      if (
        entry.isDirectory &&
        (entry.name.startsWith("_") || `${dir}${entry.name}` === "server")
      ) {
        await visit(`${path}/`);
      } else if (entry.isFile && entry.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(new URL(path, ROOT));
        const specifiers = text.matchAll(
          /(?:^|\n)\s*(?:import|export)\b[^"';]*?(?:from\s+)?"(\.{1,2}\/[^"]+)"/g,
        );
        for (const [, specifier] of specifiers) {
          const target = new URL(specifier!, new URL(path, ROOT)).href.slice(
            ROOT.href.length,
          );
          edges.push([path, target]);
        }
      }
    }
  };
  await visit("");
  return edges;
}

/** Which room a library file belongs to: its folder, or "public" at the root. */
function room(path: string): string {
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : "public";
}

/** Where each room may import from (besides itself). */
const ALLOWED: Record<string, string[]> = {
  // The child side runs inside the worker: it needs the protocol, the
  // public error classes and types, and nothing of the parent.
  _child: ["_protocol", "errors.ts", "types.ts"],
  _protocol: ["errors.ts", "types.ts"],
  _permissions: ["types.ts"],
  // The core decides what messages mean; kinds register with it.
  _core: [
    "_protocol",
    "_permissions",
    "errors.ts",
    "types.ts",
    "persistent.ts",
  ],
  // The pool drives persistent workers (any kind: no backend) and their cores.
  _pool: ["_core", "_protocol", "errors.ts", "types.ts", "persistent.ts"],
  _backend: ["_core", "_protocol", "_permissions", "errors.ts", "types.ts"],
  // The server runs jobs with the process backend (and spawnServer runs
  // it in a ProcessWorker); only its public server/mod.ts is imported from
  // outside.
  server: [
    "process.ts",
    "_core",
    "_backend",
    "_protocol",
    "_permissions",
    "errors.ts",
    "types.ts",
  ],
};

Deno.test("library imports follow the layout: child and protocol stay apart from the parent, the core imports no backend", async () => {
  const edges = await libraryImports();
  assert.ok(edges.length > 20, "found the library's imports");
  const wrong = edges.filter(([from, to]) => {
    // The server's internals are its own: outside it, only its public
    // server/mod.ts may be imported.
    if (
      room(to) === "server" && room(from) !== "server" && to !== "server/mod.ts"
    ) return true;
    const allowed = ALLOWED[room(from)];
    if (allowed === undefined || room(to) === room(from)) return false;
    return !allowed.includes(room(to) === "public" ? to : room(to));
  });
  assert.deepEqual(wrong, []);
});

/** The modules `entry` loads at run time (type-only imports left out). */
async function runtimeGraph(entry: string): Promise<Set<string>> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, ROOT).href],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string } }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const visit = (specifier: string): void => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dep.code !== undefined) visit(dep.code.specifier);
    }
  };
  for (const root of info.roots) visit(root);
  return seen;
}

Deno.test("thread.ts does not load node:v8 (only processes serialize with it)", async () => {
  const loaded = [...await runtimeGraph("thread.ts")];
  assert.ok(loaded.some((m) => m.endsWith("/thread.ts")));
  assert.deepEqual(loaded.filter((m) => m.includes("v8")), []);
  const process = [...await runtimeGraph("process.ts")];
  assert.ok(process.includes("node:v8"), "the check can see node:v8");
});
