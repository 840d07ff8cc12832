/** Process workers leave nothing on disk, even when their parent is killed while they start. */
import assert from "node:assert/strict";

const MOD = new URL("../mod.ts", import.meta.url).href;

/** The pids of the live children of `pid` (read from /proc). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === pid) found.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** Polls `done` until it holds or `ms` pass (a watchdog bound, not a synchronisation). */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

for (const guard of ["default", "thread"]) {
  Deno.test(`ProcessWorker leaves no temporary directory when its parent is SIGKILLed while 20 workers start (${guard} orphan guard, issue 6.11)`, async () => {
    if (Deno.build.os !== "linux") return; // reads /proc
    // The parent's temporary directories go into a directory of their own,
    // so that only its leftovers are counted (other tests run beside it).
    const tmp = Deno.makeTempDirSync({ prefix: "pyworkers-disk-test-" });
    try {
      const parent = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { ProcessWorker } from ${JSON.stringify(MOD)};
           for (let i = 0; i < 20; i++) {
             new ProcessWorker({ target: () => new Promise(() => {}) });
           }
           console.log("started");
           await new Promise(() => {});`,
        ],
        stdout: "piped",
        stderr: "inherit",
        env: {
          TMPDIR: tmp,
          ...(guard === "thread" ? { PYWORKERS_ORPHAN_GUARD: "thread" } : {}),
        },
      }).spawn();
      const reader = parent.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let out = "";
      while (!out.includes("started\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      assert.match(out, /started/);
      // The constructors have spawned every child by now.
      const children = childrenOf(parent.pid);
      parent.kill("SIGKILL");
      await parent.status;
      await reader.cancel();
      assert.ok(children.length >= 20, `children: ${children}`);
      const gone = await until(() => !children.some(alive), 60_000);
      assert.ok(gone, `still alive: ${children.filter(alive)}`);
      const left = [...Deno.readDirSync(tmp)].map((entry) => entry.name);
      assert.deepEqual(left, []);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  });
}
