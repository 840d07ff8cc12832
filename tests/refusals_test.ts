/**
 * Refusals a newcomer meets, and whether they say what to do (issue 6.10).
 */
import assert from "node:assert/strict";
import {
  PersistentWorker,
  ProcessWorker,
  ThreadWorker,
  Worker,
  WorkerType,
} from "../mod.ts";

Deno.test("Worker.create() builds a remote worker only with a host, and says how to write one", () => {
  for (const create of [Worker.create, PersistentWorker.create]) {
    assert.throws(
      () =>
        create.call(
          create === Worker.create ? Worker : PersistentWorker,
          WorkerType.REMOTE,
          { target: () => 1 },
        ),
      (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /Cannot use undefined as host/);
        assert.match(error.message, /"127\.0\.0\.1:6006"/);
        return true;
      },
    );
  }
});

Deno.test("Worker.create() refuses a value that is not a WorkerType, listing the loaded kinds (issue 6.10)", () => {
  assert.throws(
    () => Worker.create(7 as WorkerType, { target: () => 1 }),
    (error: Error) =>
      error instanceof TypeError &&
      /Cannot create a worker of type 7: expected WorkerType\.THREAD, WorkerType\.PROCESS, WorkerType\.REMOTE$/
        .test(error.message),
  );
});

Deno.test("ThreadWorker and ProcessWorker take a module path without ./ as a file in the working directory (issue 6.10)", async () => {
  const cwd = Deno.cwd();
  Deno.chdir(new URL("./", import.meta.url));
  try {
    await using thread = new ThreadWorker<[string], string>({
      target: { module: "fixtures/targets.ts", name: "greet" },
      args: ["thread"],
    });
    await using process = new ProcessWorker<[string], string>({
      target: { module: "fixtures/targets.ts", name: "greet" },
      args: ["process"],
    });
    await Promise.all([thread.wait(), process.wait()]);
    assert.equal(thread.error, undefined);
    assert.equal(thread.result, "hello thread");
    assert.equal(process.error, undefined);
    assert.equal(process.result, "hello process");
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("ThreadWorker keeps a bare module specifier bare for the import map, and its failure says how paths resolve (issue 6.10)", async () => {
  for (const module of ["pyworkers-no-such-package", "@pyworkers/no-such"]) {
    await using worker = new ThreadWorker({ target: { module } });
    await worker.wait();
    assert.ok(worker.error instanceof TypeError);
    assert.match(worker.error.message, new RegExp(`"${module}"`));
    assert.match(worker.error.message, /bare specifier/);
    assert.match(worker.error.message, /start a path with \.\/ or pass a URL/);
  }
});

Deno.test("ProcessWorker refuses an env value that is not a string, naming it (break-it trial)", () => {
  for (const env of [{ FOO: 5 }, { FOO: "1", BAR: null }, ["A=B"], "A=B"]) {
    assert.throws(
      () => new ProcessWorker({ target: () => 1, env: env as never }),
      (error: Error) =>
        error instanceof TypeError &&
        /env(\.FOO|\.BAR)?\b/.test(error.message) &&
        !/serde_v8/.test(error.message),
      JSON.stringify(env),
    );
  }
  assert.equal(ProcessWorker.activeChildren().length, 0);
});

Deno.test("ProcessWorker names a WebAssembly.Module argument it cannot send (break-it trial)", () => {
  const module = new WebAssembly.Module(
    Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0),
  );
  for (const args of [[module], [1, { deep: [module] }]]) {
    assert.throws(
      () => new ProcessWorker({ target: (..._: unknown[]) => 1, args }),
      (error: Error) =>
        error instanceof TypeError &&
        new RegExp(`argument ${args.length - 1}`).test(error.message) &&
        /WebAssembly\.Module/.test(error.message),
    );
  }
});

Deno.test("Worker constructors name a bound anonymous function without a double space (break-it trial)", () => {
  for (const Kind of [ThreadWorker, ProcessWorker]) {
    assert.throws(
      () => new Kind({ target: ((x: number) => x).bind(null), args: [1] }),
      (error: Error) =>
        error instanceof TypeError &&
        /Cannot ship function/.test(error.message) &&
        !/ {2}/.test(error.message),
    );
  }
});

Deno.test("Worker errors name a worker that has not started in words (break-it trial)", () => {
  for (const Kind of [ThreadWorker, ProcessWorker]) {
    assert.throws(
      () => new Kind({ target: (_: symbol) => 1, args: [Symbol("x")] }),
      (error: Error) =>
        error instanceof TypeError &&
        error.message.includes(
          `a ${
            Kind === ThreadWorker ? "thread" : "process"
          } worker that has not started`,
        ),
    );
  }
});
