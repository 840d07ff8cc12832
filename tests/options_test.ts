/** Options objects are read by their own properties only (issue 6.4). */
import assert from "node:assert/strict";
import {
  autocloseActiveChildren,
  ProcessWorker,
  ThreadWorker,
  type WorkerContext,
} from "../mod.ts";
import { kinds } from "./_kinds.ts";

/** Sets properties on Object.prototype for the length of `fn`. */
async function polluted(
  values: Record<string, unknown>,
  fn: () => Promise<void>,
): Promise<void> {
  const proto = Object.prototype as Record<string, unknown>;
  try {
    for (const [key, value] of Object.entries(values)) {
      Object.defineProperty(proto, key, {
        value,
        configurable: true,
        writable: true,
        enumerable: false,
      });
    }
    await fn();
  } finally {
    for (const key of Object.keys(values)) delete proto[key];
  }
}

for (const [label, make] of kinds) {
  Deno.test(`${label} constructor refuses permissions null and [] (issue 6.4)`, () => {
    for (const permissions of [null, []]) {
      assert.throws(
        () => make({ target: () => 1, permissions: permissions as never }),
        (error: Error) =>
          error instanceof TypeError && /as permissions/.test(error.message),
        Deno.inspect(permissions),
      );
    }
    assert.equal(ProcessWorker.activeChildren().length, 0);
  });

  Deno.test(`${label} constructor ignores a polluted Object.prototype (issue 6.4)`, async () => {
    const results: unknown[] = [];
    await polluted({
      target: () => "polluted target",
      args: ["polluted args"],
      permissions: { read: ["/polluted"] },
      run: false,
    }, async () => {
      // No own target: nothing runs.
      const idle = make({});
      assert.equal(await idle.wait(5000), true);
      results.push(idle.result);
      // An own target runs with its own (no) args and the default permissions.
      const worker = make({
        target: (first?: unknown) =>
          Array.isArray(first) || typeof first === "string"
            ? "polluted args"
            : Deno.permissions.querySync({ name: "read" }).state,
      });
      assert.equal(await worker.wait(10_000), true);
      results.push(worker.error?.message ?? worker.result);
    });
    assert.deepEqual(results, [undefined, "granted"]);
  });

  Deno.test(`${label}.terminate() ignores a polluted Object.prototype (issue 6.4)`, async () => {
    const worker = make({
      target: (ctx: WorkerContext) =>
        new Promise((resolve) =>
          ctx.signal.addEventListener("abort", resolve, { once: true })
        ),
    });
    try {
      await worker.ready;
      let dead = false;
      // With timeout 0 and no force taken from the prototype, terminate()
      // would return at once with the worker still alive.
      await polluted({ timeout: 0, force: false }, async () => {
        dead = await worker.terminate();
      });
      assert.equal(dead, true);
    } finally {
      await worker.terminate();
    }
  });
}

Deno.test("ThreadWorker constructor ignores a polluted env on Object.prototype (issue 6.4)", async () => {
  await polluted({ env: { POLLUTED: "1" } }, async () => {
    await using worker = new ThreadWorker({ target: () => 1 });
    assert.equal(await worker.wait(5000), true);
    assert.equal(worker.result, 1);
  });
});

Deno.test("autocloseActiveChildren() ignores a polluted Object.prototype (issue 6.4)", async () => {
  await polluted({ timeout: -1 }, async () => {
    await autocloseActiveChildren();
  });
});

Deno.test("Worker options refuse a non-object (issue 6.4)", async () => {
  assert.throws(
    () => new ThreadWorker(null as never),
    (error: Error) =>
      error instanceof TypeError && /worker options/.test(error.message),
  );
  await using worker = new ThreadWorker({ target: () => 1 });
  await assert.rejects(
    async () => await worker.terminate(null as never),
    (error: Error) =>
      error instanceof TypeError && /terminate options/.test(error.message),
  );
});

Deno.test("ThreadWorker ignores a polluted Object.prototype.deno (Web Worker options, issue 6.4)", async () => {
  await polluted({ deno: { permissions: "none" } }, async () => {
    const worker = new ThreadWorker({
      target: () => Deno.permissions.querySync({ name: "env" }).state,
    });
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.result, "granted");
  });
});

for (const [label, make] of kinds) {
  Deno.test(`${label} ignores a polluted Object.prototype.name for a module target (issue 6.4)`, async () => {
    const module = "data:text/javascript,export default () => 'default';" +
      "export const other = () => 'other';";
    await polluted({ name: "other" }, async () => {
      const worker = make({ target: { module } });
      assert.equal(await worker.wait(10_000), true);
      assert.equal(worker.result, "default");
    });
  });
}

for (const [label, make] of kinds) {
  Deno.test(`${label} constructor hands Deno and Web APIs no polluted options (issue 6.4)`, async () => {
    // Listener, file and temporary directory options: read by Deno through
    // the prototype chain unless they are our own objects.
    await polluted({
      once: true,
      capture: true,
      append: true,
      truncate: true,
      dir: "/nonexistent-polluted-dir",
      clearEnv: true,
    }, async () => {
      const worker = make({ target: () => 1 });
      try {
        assert.equal(await worker.wait(10_000), true);
        assert.equal(worker.error, undefined);
        assert.equal(worker.result, 1);
      } finally {
        await worker.terminate();
      }
    });
    assert.equal(ProcessWorker.activeChildren().length, 0);
  });
}
