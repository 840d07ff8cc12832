/**
 * Users import the library from JSR, so its files arrive from a remote URL
 * and both bootstraps must start from there. Serve this package over HTTP
 * on 127.0.0.1 and run a thread and a process worker from a script that
 * imports it by URL.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

Deno.test("the package works when imported over HTTP, for threads and processes, restricted or not", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (path.includes("..")) return new Response("no", { status: 400 });
      try {
        const body = await Deno.readFile(new URL(`.${path}`, ROOT));
        return new Response(body, {
          headers: { "content-type": "application/typescript" },
        });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-http-" });
  try {
    const script = `${dir}/main.ts`;
    await Deno.writeTextFile(
      script,
      `import { ProcessWorker, ThreadWorker } from "${base}/mod.ts";
       const tw = new ThreadWorker({ target: (x: number) => x + 1, args: [1] });
       const pw = new ProcessWorker({ target: (x: number) => x + 2, args: [1] });
       // Restricted workers load the same remote bootstraps.
       const read = () => Deno.readTextFile("/etc/hostname");
       const rt = new ThreadWorker({ target: read, permissions: "none" });
       const rp = new ProcessWorker({ target: read, permissions: "none" });
       await Promise.all([tw, pw, rt, rp].map((w) => w.wait()));
       console.log(tw.error ?? tw.result, pw.error ?? pw.result);
       console.log(rt.error?.name, rp.error?.name);`,
    );
    const { stdout, stderr, code } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-worker-options",
        "--no-config",
        "--no-lock",
        "--reload",
        script,
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    assert.equal(
      new TextDecoder().decode(stdout),
      "2 3\nNotCapable NotCapable\n",
      err,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
