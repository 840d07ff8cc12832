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

Deno.test("examples/basic.ts prints 1 4", async () => {
  assert.deepEqual(await outputLines("examples/basic.ts"), ["1 4"]);
});

Deno.test("examples/factory.ts prints [ 1, 4 ]", async () => {
  assert.deepEqual(await outputLines("examples/factory.ts"), ["[ 1, 4 ]"]);
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

Deno.test(
  "examples/demo.ts shows both kinds' results and where they ran, then graceful and forced termination",
  async () => {
    const lines = await outputLines("examples/demo.ts");
    assert.equal(lines.length, 4, lines.join("\n"));
    const [thread, process, graceful, forced] = lines as [
      string,
      string,
      string,
      string,
    ];

    const threadMatch = thread.match(
      /^thread worker: 3 \*\* 2 = 9, ran in pid (\d+), tid (-?\d+) \(parent: pid (\d+), tid (-?\d+); same process, another thread\)$/,
    );
    assert.ok(threadMatch, thread);
    const [, tPid, tTid, tParentPid, tParentTid] = threadMatch;
    assert.equal(tPid, tParentPid);
    assert.notEqual(tTid, tParentTid);

    const processMatch = process.match(
      /^process worker: 4 \*\* 2 = 16, ran in pid (\d+), tid (-?\d+) \(parent: pid (\d+), tid (-?\d+); another process\)$/,
    );
    assert.ok(processMatch, process);
    const [, pPid, , pParentPid, pParentTid] = processMatch;
    assert.notEqual(pPid, pParentPid);
    // Both workers were created by the same parent.
    assert.equal(pParentPid, tParentPid);
    assert.equal(pParentTid, tParentTid);

    assert.match(
      graceful,
      /^graceful: WorkerTerminatedError \(forced: false\); the thread worker's loop stopped at ctx\.throwIfTerminated\(\)$/,
    );
    assert.match(
      forced,
      /^forced: true \(WorkerTerminatedError\); the process worker ignored the request and was killed$/,
    );
  },
);

Deno.test("examples/persistent.ts prints each worker's count and results", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/persistent.ts"],
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(
    new TextDecoder().decode(stdout),
    "5 [ 0, 4, 16, 36, 64 ]\n5 [ 1, 9, 25, 49, 81 ]\n",
  );
});

Deno.test("examples/pool_progress.ts prints plain progress lines when not a terminal, then the totals", async () => {
  const lines = await outputLines("examples/pool_progress.ts");
  const last = lines.at(-1)!;
  assert.match(last, /^done: 2000 items, 0 failed, \d+ items\/s$/);
  for (const line of lines.slice(0, -1)) {
    assert.match(line, /^progress \d+\/2000 \(\d+ items\/s\)$/);
  }
});
