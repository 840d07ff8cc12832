/** Process-only behaviour: external kills, orphaned children, environment. */
import assert from "node:assert/strict";
import {
  PersistentProcessWorker,
  ProcessWorker,
  WorkerDiedError,
  WorkerTerminatedError,
} from "../mod.ts";
import { startedSignal } from "./_started.ts";

function spin(path: string): Promise<never> {
  return Deno.connect({ transport: "unix", path }).then((conn) => {
    conn.close();
    for (;;) {
      // never yields
    }
  });
}

Deno.test("ProcessWorker reports an external SIGKILL as WorkerDiedError with the signal", async () => {
  await using signal = startedSignal();
  await using worker = new ProcessWorker({ target: spin, args: [signal.path] });
  await Promise.all([worker.ready, signal.started]);
  Deno.kill(worker.pid, "SIGKILL");
  assert.equal(await worker.wait(5000), true);
  assert.equal(worker.hasError, true);
  assert.ok(worker.error instanceof WorkerDiedError);
  assert.equal(worker.error.signal, "SIGKILL");
});

Deno.test("ProcessWorker passes env to its child", async () => {
  await using worker = new ProcessWorker({
    target: () => Deno.env.get("PYWORKERS_TEST_VALUE"),
    env: { PYWORKERS_TEST_VALUE: "from parent" },
  });
  await worker.wait();
  assert.equal(worker.result, "from parent");
});

Deno.test("ProcessWorker child reports its failure to start", async () => {
  await using worker = new ProcessWorker({
    target: { module: "file:///nonexistent/module.ts" },
  });
  await worker.wait(10000);
  assert.equal(worker.hasError, true);
  assert.match(worker.error!.message, /nonexistent|Module not found/i);
});

Deno.test("ProcessWorker target output does not corrupt the protocol", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { ProcessWorker } from ${
        JSON.stringify(new URL("../mod.ts", import.meta.url).href)
      };
       const w = new ProcessWorker({ target: async () => {
         console.log("noise");
         await Deno.stdout.write(new Uint8Array([0, 0, 0, 9, 255, 13, 10]));
         console.error("more noise");
         return 42;
       } });
       await w.wait();
       console.log("result", w.result);`,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const { stdout, stderr, code } = await command.output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(out, /noise/);
  assert.match(out, /result 42/);
  assert.match(new TextDecoder().decode(stderr), /more noise/);
});

for (const guard of ["default", "thread"]) {
  Deno.test(`ProcessWorker children exit on their own when their parent is SIGKILLed (${guard} orphan guard)`, async () => {
    // A parent script starts a worker that never yields, prints its pid, and
    // waits to be killed. The target proves it runs (and spins from then
    // on) by connecting to our handshake socket: `ready` only says the child
    // exists.
    await using signal = startedSignal();
    const parent = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { ProcessWorker } from ${
          JSON.stringify(new URL("../mod.ts", import.meta.url).href)
        };
       const w = new ProcessWorker({
         target: async (path) => {
           (await Deno.connect({ transport: "unix", path })).close();
           for (;;) {}
         },
         args: [${JSON.stringify(signal.path)}],
       });
       await w.ready;
       console.log(w.pid);
       await new Promise(() => {});`,
      ],
      stdout: "piped",
      stderr: "inherit",
      env: guard === "thread" ? { PYWORKERS_ORPHAN_GUARD: "thread" } : {},
    }).spawn();
    const reader = parent.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    const childPid = Number(line.trim());
    assert.ok(childPid > 0, `child pid from parent: ${line}`);
    await signal.started;
    parent.kill("SIGKILL");
    await parent.status;
    await reader.cancel();
    // Watchdog bound, not a synchronisation: poll the child's /proc entry.
    const deadline = Date.now() + 5000;
    let alive = true;
    while (alive && Date.now() < deadline) {
      try {
        const stat = Deno.readTextFileSync(`/proc/${childPid}/stat`);
        alive = !/^\d+ \(.*\) [ZX]/.test(stat);
      } catch {
        alive = false;
      }
      if (alive) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(
      alive,
      false,
      `process worker ${childPid} outlived its parent`,
    );
  });
}

Deno.test("ProcessWorker forced stop kills a target spinning in synchronous code", async () => {
  await using signal = startedSignal();
  await using worker = new ProcessWorker({ target: spin, args: [signal.path] });
  await Promise.all([worker.ready, signal.started]);
  const pid = worker.pid;
  assert.equal(await worker.terminate({ timeout: 50, force: false }), false);
  assert.equal(await worker.terminate({ timeout: 50 }), true);
  assert.ok(worker.error instanceof WorkerTerminatedError);
  assert.equal(worker.error.forced, true);
  // wait() resolved only after the process was reaped: it is gone.
  assert.throws(() => Deno.kill(pid, "SIGCONT"), Deno.errors.NotFound);
});

Deno.test("ProcessWorker target keeps none of the child's setup grants", async () => {
  const query = () =>
    (["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const)
      .map((name) => `${name}:${Deno.permissions.querySync({ name }).state}`)
      .concat(
        `libc:${
          (() => {
            try {
              Deno.dlopen("/lib/x86_64-linux-gnu/libc.so.6", {});
              return "opened";
            } catch (error) {
              return (error as Error).name;
            }
          })()
        }`,
      );
  for (const guard of ["default", "thread"]) {
    const script = `
      import { ProcessWorker } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
      const w = new ProcessWorker({ target: ${query.toString()}, permissions: "none" });
      await w.wait();
      console.log(JSON.stringify(w.error?.message ?? w.result));`;
    const { stdout, stderr, code } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env: guard === "thread" ? { PYWORKERS_ORPHAN_GUARD: "thread" } : {},
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const states: string[] = JSON.parse(new TextDecoder().decode(stdout));
    assert.deepEqual(
      states.filter((s) => !/:(prompt|denied|NotCapable)$/.test(s)),
      [],
      `${guard} guard: ${states.join(" ")}`,
    );
  }
});

Deno.test("PersistentProcessWorker refuses a SharedArrayBuffer item, which cannot leave the process", async () => {
  await using worker = new PersistentProcessWorker({
    target: (x: unknown) => x,
  });
  assert.throws(
    () => worker.enqueue(new SharedArrayBuffer(4)),
    (error: Error) =>
      error instanceof TypeError && /argument 0/.test(error.message),
  );
  assert.equal(await worker.call(1), 1);
});

Deno.test("PersistentProcessWorker whose restart cannot spawn is dead, not stuck", async () => {
  // In a child Deno, because it revokes its own permission to spawn.
  const script = `
    import { PersistentProcessWorker } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    const w = new PersistentProcessWorker({ target: (x) => x });
    await w.wait();
    await Deno.permissions.revoke({ name: "run" });
    const restart = await w.restart().then(() => "restarted", (e) => e.name);
    console.log(restart, w.isAlive(), await w.wait(1000), w.hasError);`;
  const { stdout, stderr, code } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(
    new TextDecoder().decode(stdout),
    "NotCapable false true true\n",
  );
});

Deno.test("ProcessWorker child uses the parent's deno.jsonc (comments, trailing commas, import map)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-jsonc-" });
  try {
    await Deno.writeTextFile(
      `${dir}/deno.jsonc`,
      `{
        // an import map the module target needs, and worker options
        "imports": { "greeting": "./greeting.ts", },
        "unstable": ["worker-options", /* for threads */],
      }`,
    );
    await Deno.writeTextFile(
      `${dir}/greeting.ts`,
      `export default () => "hi";`,
    );
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { ProcessWorker, ThreadWorker } from ${
        JSON.stringify(new URL("../mod.ts", import.meta.url).href)
      };
       const p = new ProcessWorker({ target: { module: "greeting" } });
       const t = new ThreadWorker({ target: () => 1, permissions: "none" });
       await Promise.all([p.wait(), t.wait()]);
       console.log(p.error?.message ?? p.result, t.error?.message ?? t.result);`,
    );
    const { stdout, stderr, code } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", `${dir}/main.ts`],
      cwd: "/",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(new TextDecoder().decode(stdout), "hi 1\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ProcessWorker reports an error carrying a value only threads can take", async () => {
  await using worker = new ProcessWorker({
    target: () => {
      throw Object.assign(new Error("boom"), {
        detail: { buffer: new SharedArrayBuffer(4) },
      });
    },
  });
  await worker.wait(10_000);
  assert.equal(worker.error?.message, "boom");
});

Deno.test("PersistentProcessWorker splits large items across messages", async () => {
  await using worker = new PersistentProcessWorker({
    target: (bytes: Uint8Array) => bytes.length,
  });
  const size = 30 * 1024 * 1024; // three of these exceed one message's 64 MiB
  const lengths = await Promise.all(
    [1, 2, 3].map((n) => worker.call(new Uint8Array(size).fill(n))),
  );
  assert.deepEqual(lengths, [size, size, size]);
});
