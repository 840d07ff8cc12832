/**
 * The process launcher on its own, without a worker or a core, as the
 * remote server will use it (internal on purpose).
 */
import assert from "node:assert/strict";
import { launchProcess } from "../_backend/launcher.ts";

const ECHO = new URL("./fixtures/launched_echo.ts", import.meta.url);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("launchProcess() runs a child without a core: frames both ways, stop requests, exit status, nothing left", async () => {
  const frames: string[] = [];
  const replies: ((text: string) => void)[] = [];
  let dir = "";
  const child = launchProcess({
    args: (paths) => {
      dir = paths.dir;
      return [
        "run",
        "-A",
        "--no-lock",
        ECHO.href,
        paths.socketPath,
        paths.controlPath,
        paths.dir,
      ];
    },
    onFrame(frame) {
      const text = decoder.decode(frame);
      frames.push(text);
      replies.shift()?.(text);
    },
  });
  const reply = (text: string): Promise<string> => {
    const { promise, resolve } = Promise.withResolvers<string>();
    replies.push(resolve);
    child.send(encoder.encode(text));
    return promise;
  };
  assert.ok(child.pid > 0);
  assert.equal(await reply("hello"), "hello"); // sent before it connected
  assert.equal(await reply("stop?"), "no");
  child.requestStop();
  assert.equal(await reply("stop?"), "yes");
  child.send(encoder.encode("bye"));
  const exit = await child.exited;
  assert.equal(exit.status.code, 7);
  assert.equal(exit.connected, true);
  assert.equal(exit.error, undefined);
  assert.deepEqual(frames, ["hello", "no", "yes", "bye"]);
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
  child.send(encoder.encode("after the end")); // ignored, never throws
});

Deno.test("launchProcess() with connections: 2 sends on the child's first connection and reads its second, and leaves nothing", async () => {
  const frames: string[] = [];
  let dir = "";
  const { promise: answered, resolve } = Promise.withResolvers<void>();
  const child = launchProcess({
    args: (paths) => {
      dir = paths.dir;
      return [
        "run",
        "-A",
        "--no-lock",
        ECHO.href,
        paths.socketPath,
        paths.controlPath,
        paths.dir,
        "two",
      ];
    },
    connections: 2,
    onFrame(frame) {
      frames.push(decoder.decode(frame));
      if (frames.length === 2) resolve();
    },
  });
  child.send(encoder.encode("hello")); // sent before it connected
  child.send(encoder.encode("stop?"));
  await Promise.race([answered, child.exited]);
  child.send(encoder.encode("bye"));
  const exit = await child.exited;
  assert.equal(exit.status.code, 7);
  assert.equal(exit.connected, true);
  assert.equal(exit.error, undefined);
  assert.deepEqual(frames, ["hello", "no", "bye"]);
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
});

Deno.test("launchProcess() kill() stops a child that never connects, and frees its directory", async () => {
  let dir = "";
  const child = launchProcess({
    args: (paths) => {
      dir = paths.dir;
      return ["eval", "await new Promise(() => {})"];
    },
    onFrame() {},
  });
  assert.equal(await child.kill(), undefined);
  const exit = await child.exited;
  assert.equal(exit.connected, false);
  assert.equal(exit.status.signal, "SIGTERM");
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
});

Deno.test("launchProcess() sweeps the directories of dead parents (issue 6.11)", async () => {
  if (Deno.build.os !== "linux") return; // asks /proc whether a pid lives
  const tmp = Deno.makeTempDirSync({ prefix: "pyworkers-sweep-test-" });
  try {
    // No pid is this large (pid_max is at most 2^22): its parent is dead.
    const stale = `${tmp}/pyworkers-999999999-abc`;
    const fresh = `${tmp}/pyworkers-999999998-abc`;
    Deno.mkdirSync(stale);
    Deno.writeTextFileSync(`${stale}/c`, "");
    Deno.mkdirSync(fresh);
    const hourAgo = new Date(Date.now() - 3600_000);
    Deno.utimeSync(stale, hourAgo, hourAgo);
    const mod = new URL("../mod.ts", import.meta.url).href;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { ProcessWorker } from ${JSON.stringify(mod)};
         await using w = new ProcessWorker({ target: () => 1 });
         await w.wait();`,
      ],
      env: { TMPDIR: tmp },
      stderr: "piped",
    }).output();
    assert.equal(code, 0, decoder.decode(stderr));
    const left = [...Deno.readDirSync(tmp)].map((entry) => entry.name);
    // The stale one is gone; a recent one (maybe a live parent in another
    // pid namespace) is left alone.
    assert.deepEqual(left, ["pyworkers-999999998-abc"]);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("launchProcess() hands the child's output to onOutput when asked", async () => {
  const chunks: Record<string, string> = { stdout: "", stderr: "" };
  const child = launchProcess({
    args: () => ["eval", "console.log('to out'); console.error('to err')"],
    onFrame() {},
    onOutput(stream, chunk) {
      chunks[stream] += decoder.decode(chunk);
    },
  });
  const exit = await child.exited;
  assert.equal(exit.status.code, 0);
  assert.deepEqual(chunks, { stdout: "to out\n", stderr: "to err\n" });
});
