/**
 * The examples print what the README says they print. Each one runs as a
 * subprocess of this test, which waits for it to exit.
 *
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

/** Runs an example to completion and returns its exit code and output. */
async function runExample(
  path: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

/** Runs an example and asserts it succeeded; returns its stdout lines. */
async function outputLines(path: string): Promise<string[]> {
  const { code, stdout, stderr } = await runExample(path);
  assert.equal(code, 0, `${path} exited with code ${code}:\n${stderr}`);
  return stdout.trimEnd().split("\n");
}

Deno.test("examples/basic.ts prints 1 4 9 from a thread, a process and a remote worker on a spawned server", async () => {
  assert.deepEqual(await outputLines("examples/basic.ts"), ["1 4 9"]);
});

Deno.test("examples/factory.ts prints [ 1, 4, 9 ] from Worker.create over the three kinds", async () => {
  assert.deepEqual(await outputLines("examples/factory.ts"), ["[ 1, 4, 9 ]"]);
});

Deno.test(
  "examples/error.ts prints an undefined result, hasError true and the target's message",
  async () => {
    assert.deepEqual(await outputLines("examples/error.ts"), [
      "undefined",
      "true",
      "How is one supposed to live on this miserable world where x = 2?",
    ]);
  },
);

/** Whether process `pid` is gone (Linux: no /proc entry). */
function gone(pid: string): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return false;
  } catch {
    return true;
  }
}

Deno.test(
  "examples/demo.ts shows the three kinds' results and where they ran, stops its server, then graceful and forced termination; nothing it started is left running",
  async () => {
    const lines = await outputLines("examples/demo.ts");
    assert.equal(lines.length, 6, lines.join("\n"));
    const [thread, process, remote, server, graceful, forced] = lines as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];

    const threadMatch = thread.match(
      /^thread worker: 3 \*\* 2 = 9, ran in pid (\d+), tid (-?\d+) on \S+ \(parent: pid (\d+), tid (-?\d+); same process, another thread\)$/,
    );
    assert.ok(threadMatch, thread);
    const [, tPid, tTid, tParentPid, tParentTid] = threadMatch;
    assert.equal(tPid, tParentPid);
    assert.notEqual(tTid, tParentTid);

    const processMatch = process.match(
      /^process worker: 4 \*\* 2 = 16, ran in pid (\d+), tid (-?\d+) on \S+ \(parent: pid (\d+), tid (-?\d+); another process\)$/,
    );
    assert.ok(processMatch, process);
    const [, pPid, , pParentPid, pParentTid] = processMatch;
    assert.notEqual(pPid, pParentPid);
    // Both workers were created by the same parent.
    assert.equal(pParentPid, tParentPid);
    assert.equal(pParentTid, tParentTid);

    const remoteMatch = remote.match(
      /^remote worker: 5 \*\* 2 = 25, ran in pid (\d+), tid (-?\d+) on \S+ \(parent: pid (\d+), tid (-?\d+); a job of the server at 127\.0\.0\.1:\d+\)$/,
    );
    assert.ok(remoteMatch, remote);
    const [, rPid, , rParentPid] = remoteMatch;
    assert.notEqual(rPid, rParentPid);
    assert.notEqual(rPid, pPid);
    assert.equal(rParentPid, tParentPid);

    const serverMatch = server.match(
      /^server: pid (\d+) stopped \(alive: false\)$/,
    );
    assert.ok(serverMatch, server);

    assert.match(
      graceful,
      /^graceful: WorkerTerminatedError \(forced: false\); the thread worker's loop stopped at ctx\.throwIfTerminated\(\)$/,
    );
    assert.match(
      forced,
      /^forced: true \(WorkerTerminatedError\); the process worker ignored the request and was killed$/,
    );

    // The demo has exited: its process worker, the server and the server's
    // job are gone (each was waited for, so none is a zombie either).
    for (const pid of [pPid!, rPid!, serverMatch[1]!]) {
      assert.ok(gone(pid), `process ${pid} is still running`);
    }
  },
);

Deno.test("examples/persistent.ts prints each worker's count and results, the remote one's included", async () => {
  assert.deepEqual(await outputLines("examples/persistent.ts"), [
    "4 [ 0, 9, 36, 81 ]",
    "3 [ 1, 16, 49 ]",
    "3 [ 4, 25, 64 ]",
  ]);
});

Deno.test("README.md's code blocks run as written (deno test --doc README.md)", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--doc", "README.md"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const out = decoder.decode(stdout);
  assert.equal(code, 0, `${out}\n${decoder.decode(stderr)}`);
  // The blocks with all three kinds print what the README says (among the
  // spawned servers' log lines; a block guarded by import.meta.main is only
  // type-checked there, and run above as its examples/ file).
  const lines = out.split("\n");
  for (
    const line of [
      "1 4 9",
      "4 [ 0, 9, 36, 81 ]",
      "3 [ 1, 16, 49 ]",
      "3 [ 4, 25, 64 ]",
    ]
  ) {
    assert.ok(lines.includes(line), `no line ${line} in:\n${out}`);
  }
});

Deno.test("examples/pool_progress.ts prints plain progress lines when not a terminal, then the totals", async () => {
  const lines = await outputLines("examples/pool_progress.ts");
  const last = lines.at(-1)!;
  assert.match(last, /^done: 2000 items, 0 failed, \d+ items\/s$/);
  for (const line of lines.slice(0, -1)) {
    assert.match(line, /^progress \d+\/2000 \(\d+ items\/s\)$/);
  }
});
