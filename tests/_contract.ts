/**
 * The Worker contract, written once and run against every kind of worker.
 * Each `*_test.ts` registers its kind with {@linkcode contractSuite}.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type ArgsOption,
  type Worker,
  type WorkerContext,
  WorkerDiedError,
  type WorkerOptions,
  WorkerTerminatedError,
  WorkerType,
} from "../mod.ts";
import { startedSignal } from "./_started.ts";

/** Builds a worker of the kind under test. */
export type Factory = <A extends unknown[], R>(
  options: WorkerOptions<A, R> & ArgsOption<A>,
) => Worker<A, R>;

const FIXTURES = new URL("./fixtures/targets.ts", import.meta.url);

/** A cooperative target: loops without yielding until asked to stop. */
function cooperativeLoop(path: string, ctx: WorkerContext): Promise<never> {
  return Deno.connect({ transport: "unix", path }).then((conn) => {
    conn.close();
    for (;;) ctx.throwIfTerminated();
  });
}

/**
 * A malicious target: ignores `ctx.signal` and never finishes. It waits
 * rather than spins, because Deno cannot interrupt a thread busy in
 * synchronous code (see _backend/busy_thread.ts); spinning targets are tested per kind.
 */
function ignoresEverything(path: string): Promise<never> {
  return Deno.connect({ transport: "unix", path }).then(async (conn) => {
    conn.close();
    for (;;) {
      try {
        await new Promise(() => {});
      } catch {
        // swallow
      }
    }
  });
}

/** Registers the contract suite for one kind of worker. */
export function contractSuite(label: string, type: WorkerType, make: Factory) {
  const test = (name: string, fn: () => void | Promise<void>) =>
    Deno.test(`${label} ${name}`, fn);

  test("runs a function target and reports its result", async () => {
    await using worker = make({ target: (x: number) => x ** 2, args: [7] });
    assert.equal(worker.isAlive() || worker.result !== undefined, true);
    assert.equal(worker.hasError, undefined);
    assert.equal(await worker.wait(5000), true);
    assert.equal(worker.isAlive(), false);
    assert.equal(worker.hasError, false);
    assert.equal(worker.error, undefined);
    assert.equal(worker.result, 49);
    assert.equal(await worker.wait(), true, "a second wait returns at once");
  });

  test("runs an async target", async () => {
    await using worker = make({
      target: async (x: string) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return x.toUpperCase();
      },
      args: ["abc"],
    });
    await worker.wait();
    assert.equal(worker.result, "ABC");
  });

  test("reports its kind", async () => {
    await using worker = make({ target: () => 1 });
    assert.equal(worker.workerType, type);
    assert.equal(worker.isThread, type === WorkerType.THREAD);
    assert.equal(worker.isProcess, type === WorkerType.PROCESS);
    assert.equal(worker.isRemote, type === WorkerType.REMOTE);
    assert.equal(worker.isPersistent, false);
  });

  test("holds the parent's ids until ready, then the child's", async () => {
    await using worker = make({
      target: (ctx: WorkerContext) => ctx.worker.id,
      name: "ids",
      userid: 5,
    });
    assert.deepEqual(worker.id, worker.parentId);
    assert.equal(worker.parentPid, Deno.pid);
    await worker.ready;
    assert.equal(worker.name, "ids");
    assert.equal(worker.userid, 5);
    if (type === WorkerType.THREAD) {
      assert.equal(worker.pid, Deno.pid);
      assert.notEqual(worker.tid, worker.parentTid);
    } else {
      assert.notEqual(worker.pid, worker.parentPid);
    }
    if (type !== WorkerType.REMOTE) {
      assert.equal(worker.host, worker.parentHost);
    }
    assert.deepEqual(worker.id, [worker.host, worker.pid, worker.tid]);
    await worker.wait();
    assert.deepEqual(worker.result, worker.id, "ctx.worker.id matches");
  });

  test("reports the host it runs on after ready, even without sys permission", async () => {
    await using worker = make({
      target: (ctx: WorkerContext) => ctx.worker.host,
      permissions: "none",
    });
    await worker.ready;
    if (type !== WorkerType.REMOTE) {
      assert.equal(worker.host, worker.parentHost);
    }
    await worker.wait(10_000);
    assert.equal(worker.result, worker.host, "ctx.worker.host matches");
  });

  test("with run: false is dead from the start and never runs", async () => {
    const worker = make({ target: () => "ran", run: false });
    await worker.ready;
    assert.equal(worker.isAlive(), false);
    assert.equal(await worker.wait(0), true);
    assert.equal(await worker.terminate({ timeout: 0, force: false }), true);
    assert.equal(worker.hasError, false);
    assert.equal(worker.result, undefined);
    assert.equal(worker.error, undefined);
    assert.deepEqual(worker.id, worker.parentId);
  });

  test("without a target is dead from the start", async () => {
    const worker = make({});
    await worker.ready;
    assert.equal(worker.isAlive(), false);
    assert.equal(worker.hasError, false);
    assert.equal(worker.result, undefined);
  });

  test("terminate() stops a cooperative synchronous loop gracefully", async () => {
    await using signal = startedSignal();
    await using worker = make({ target: cooperativeLoop, args: [signal.path] });
    await signal.started;
    assert.equal(worker.isAlive(), true);
    assert.equal(await worker.terminate({ force: false, timeout: 5000 }), true);
    assert.equal(await worker.wait(), true);
    assert.equal(worker.isAlive(), false);
    assert.equal(worker.hasError, true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
    assert.equal(worker.error.forced, false);
    assert.equal(worker.result, undefined);
    assert.equal(
      await worker.terminate({ timeout: 0, force: false }),
      true,
      "terminate on a finished worker is a no-op",
    );
  });

  test("terminate() aborts ctx.signal and runs the target's finally", async () => {
    await using signal = startedSignal();
    await using worker = make({
      target: async (path: string, ctx: WorkerContext) => {
        try {
          (await Deno.connect({ transport: "unix", path })).close();
          // The request may already have come: check before listening.
          await new Promise((_, reject) => {
            if (ctx.signal.aborted) reject(ctx.signal.reason);
            ctx.signal.addEventListener(
              "abort",
              () => reject(ctx.signal.reason),
              { once: true },
            );
          });
        } finally {
          ctx.userState = "cleaned up";
        }
      },
      args: [signal.path],
      initState: "running",
    });
    assert.equal(worker.userState, "running");
    await signal.started;
    assert.equal(await worker.terminate({ force: false, timeout: 5000 }), true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
    assert.equal(worker.userState, "cleaned up");
  });

  test("terminate({ timeout: 0, force: false }) only asks", async () => {
    await using signal = startedSignal();
    await using worker = make({ target: cooperativeLoop, args: [signal.path] });
    await signal.started;
    assert.equal(await worker.terminate({ timeout: 0, force: false }), false);
    assert.equal(await worker.wait(5000), true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
  });

  test("terminate() forces a target that ignores the request", async () => {
    await using signal = startedSignal();
    await using worker = make({
      target: ignoresEverything,
      args: [signal.path],
    });
    await signal.started;
    assert.equal(await worker.terminate({ timeout: 50, force: false }), false);
    assert.equal(worker.isAlive(), true);
    assert.equal(await worker.terminate({ timeout: 50 }), true);
    assert.equal(worker.isAlive(), false);
    assert.equal(worker.hasError, true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
    assert.equal(worker.error.forced, true);
    assert.equal(worker.result, undefined);
  });

  test("terminate() before the child is ready still stops it", async () => {
    await using worker = make({
      target: (ctx: WorkerContext) => {
        for (;;) ctx.throwIfTerminated();
      },
    });
    assert.equal(await worker.terminate({ timeout: 5000, force: false }), true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
  });

  test("reports a thrown error with its class, message, stack and cause", async () => {
    await using worker = make({
      target: (x: number) => {
        throw new RangeError(`bad x = ${x}`, { cause: new Error("root") });
      },
      args: [2],
    });
    await worker.wait();
    assert.equal(worker.hasError, true);
    assert.equal(worker.result, undefined);
    assert.ok(worker.error instanceof RangeError);
    assert.equal(worker.error.message, "bad x = 2");
    assert.match(worker.error.stack ?? "", /bad x = 2/);
    assert.ok(worker.error.cause instanceof Error);
    assert.equal((worker.error.cause as Error).message, "root");
  });

  test("keeps a custom error's name and own properties", async () => {
    await using worker = make({
      target: () => {
        const error = new Error("custom") as Error & { code: number };
        error.name = "CustomError";
        error.code = 42;
        throw error;
      },
    });
    await worker.wait();
    assert.ok(worker.error instanceof Error);
    assert.equal(worker.error.name, "CustomError");
    assert.equal((worker.error as Error & { code: number }).code, 42);
  });

  test("rebuilds Deno's NotCapable as its class (issue 6.9)", async () => {
    await using worker = make({
      target: () => Deno.readTextFile("/etc/hostname"),
      permissions: { read: ["/nonexistent"] },
    });
    await worker.wait();
    assert.ok(worker.error instanceof Deno.errors.NotCapable);
    assert.equal(worker.error.name, "NotCapable");
    assert.match(worker.error.message, /read access/);
  });

  test("rebuilds Deno's NotFound as its class, with its code (issue 6.9)", async () => {
    await using worker = make({
      target: () => Deno.readTextFile("/nonexistent/pyworkers-missing"),
    });
    await worker.wait();
    assert.ok(worker.error instanceof Deno.errors.NotFound);
    assert.equal(worker.error.name, "NotFound");
    assert.equal((worker.error as Error & { code?: string }).code, "ENOENT");
  });

  test("rebuilds a DOMException with its name and code (issue 6.9)", async () => {
    await using thrown = make({
      target: () => {
        throw new DOMException("x", "AbortError");
      },
    });
    await using reason = make({
      target: () => {
        throw AbortSignal.abort().reason;
      },
    });
    await Promise.all([thrown.wait(), reason.wait()]);
    for (const worker of [thrown, reason]) {
      const error = worker.error;
      assert.ok(error instanceof DOMException);
      assert.equal(error.name, "AbortError");
      assert.equal(error.code, DOMException.ABORT_ERR);
    }
    assert.equal(thrown.error?.message, "x");
  });

  test("keeps an AggregateError's errors (issue 6.9)", async () => {
    await using worker = make({
      target: () => {
        throw new AggregateError(
          [
            new TypeError("first"),
            new AggregateError([new RangeError("deep")]),
          ],
          "both",
        );
      },
    });
    await worker.wait();
    const error = worker.error;
    assert.ok(error instanceof AggregateError);
    assert.equal(error.message, "both");
    assert.equal(error.errors.length, 2);
    assert.ok(error.errors[0] instanceof TypeError);
    assert.equal(error.errors[0].message, "first");
    assert.ok(error.errors[1] instanceof AggregateError);
    assert.ok(error.errors[1].errors[0] instanceof RangeError);
  });

  test("reports an error named like an Object.prototype member without crashing the parent", async () => {
    const worker = make({
      target: () => {
        const error = new RangeError("odd name");
        error.name = "hasOwnProperty";
        throw error;
      },
    });
    assert.equal(await worker.wait(10_000), true);
    assert.ok(worker.error instanceof RangeError, worker.error);
    assert.equal(worker.error.name, "hasOwnProperty");
    assert.equal(worker.error.message, "odd name");
  });

  test("keeps a SuppressedError's error and suppressed (break-it trial)", async () => {
    await using worker = make({
      target: () => {
        throw new SuppressedError(
          new TypeError("disposing"),
          new RangeError("body"),
          "both failed",
        );
      },
    });
    await worker.wait();
    const error = worker.error;
    assert.ok(error instanceof SuppressedError, error);
    assert.equal(error.message, "both failed");
    assert.ok(error.error instanceof TypeError);
    assert.equal(error.error.message, "disposing");
    assert.ok(error.suppressed instanceof RangeError);
    assert.equal(error.suppressed.message, "body");
  });

  test("rebuilds a subclass of a built-in error as that built-in, with its name (break-it trial)", async () => {
    await using worker = make({
      target: () => {
        class ValidationError extends TypeError {
          override name = "ValidationError";
        }
        throw new ValidationError("bad input");
      },
    });
    await worker.wait();
    const error = worker.error;
    assert.ok(error instanceof TypeError, error);
    assert.equal(error.name, "ValidationError");
    assert.equal(error.message, "bad input");
  });

  test("wraps a thrown non-Error value in an Error", async () => {
    await using worker = make({
      target: () => {
        throw { reason: "plain object" };
      },
    });
    await worker.wait();
    assert.equal(worker.hasError, true);
    assert.ok(worker.error instanceof Error);
    assert.match(worker.error.message, /non-Error value/);
    assert.deepEqual(worker.error.cause, { reason: "plain object" });
  });

  test("reports a result that cannot be cloned as the worker's error", async () => {
    await using worker = make({ target: () => () => 1, name: "clone-me" });
    await worker.wait();
    assert.equal(worker.hasError, true);
    assert.ok(worker.error instanceof TypeError);
    assert.match(worker.error.message, /"clone-me"|clone-me/);
    assert.match(worker.error.message, /result/);
  });

  test("refuses an argument that cannot be cloned, naming it", () => {
    assert.throws(
      () =>
        make({
          target: (_a: number, _b: unknown) => 1,
          args: [1, Symbol("x")],
        }),
      (error: Error) =>
        error instanceof TypeError && /argument 1/.test(error.message),
    );
  });

  test("explains a function target that uses a captured variable (issue 6.10)", async () => {
    const captured = 2;
    await using worker = make({
      target: (x: number) => x * captured,
      args: [1],
    });
    await worker.wait();
    assert.ok(worker.error instanceof ReferenceError);
    assert.match(worker.error.message, /^captured is not defined \(/);
    assert.match(worker.error.message, /shipped as source/);
    assert.match(
      worker.error.message,
      /pass it in args or use \{ module, name \}/,
    );
  });

  test("refuses a function that cannot be shipped", () => {
    const object = {
      method(x: number) {
        return x;
      },
    };
    for (
      const target of [object.method, Math.max, ((x: number) => x).bind(null)]
    ) {
      assert.throws(
        () => make({ target: target as (x: number) => number, args: [1] }),
        (error: Error) =>
          error instanceof TypeError &&
          /Cannot ship function/.test(error.message),
      );
    }
  });

  test("carries structured-clone values both ways", async () => {
    const value = {
      map: new Map([[1, new Set(["a"])]]),
      date: new Date(0),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 3]),
      error: new TypeError("inner", { cause: "why" }),
    };
    await using worker = make({
      target: (v: typeof value) => ({ ...v, big: v.big + 1n }),
      args: [value],
    });
    await worker.wait();
    const result = worker.result!;
    assert.deepEqual(result.map, value.map);
    assert.deepEqual(result.date, value.date);
    assert.equal(result.big, 2n ** 70n + 1n);
    assert.deepEqual(result.bytes, value.bytes);
    assert.ok(result.error instanceof TypeError);
    assert.equal(result.error.cause, "why");
  });

  test("syncs user state from the child when it finishes", async () => {
    await using worker = make({
      target: (x: number, ctx: WorkerContext) => {
        const y = x * (ctx.userState as number);
        ctx.userState = (ctx.userState as number) + 1;
        return y;
      },
      args: [3],
      initState: 1,
    });
    await worker.wait();
    assert.equal(worker.result, 3);
    assert.equal(worker.userState, 2);
  });

  test("runs a module export, default or named", async () => {
    await using sum = make<number[], number>({
      target: { module: FIXTURES },
      args: [1, 2, 3],
    });
    await using greet = make<[string], string>({
      target: { module: FIXTURES.href, name: "greet" },
      args: ["deno"],
    });
    await Promise.all([sum.wait(), greet.wait()]);
    assert.equal(sum.result, 6);
    assert.equal(greet.result, "hello deno");
  });

  test("reports a module export that is not a function", async () => {
    await using worker = make({
      target: { module: FIXTURES, name: "notAFunction" },
    });
    await worker.wait();
    assert.ok(worker.error instanceof TypeError);
    assert.match(worker.error.message, /notAFunction/);
  });

  test("reports a target that exits its own worker", async () => {
    await using worker = make({ target: () => Deno.exit(3) });
    await worker.wait(5000);
    assert.equal(worker.hasError, true);
    assert.ok(worker.error instanceof WorkerDiedError);
    assert.equal(worker.error.exitCode, 3);
  });

  test("reports an uncaught error from a stray timer with its message (issue 6.9)", async () => {
    await using worker = make({
      target: (): Promise<never> => {
        setTimeout(() => {
          throw new RangeError("boom from a timer");
        });
        return new Promise(() => {});
      },
    });
    assert.equal(await worker.wait(10_000), true);
    assert.ok(worker.error instanceof WorkerDiedError);
    assert.match(worker.error.message, /boom from a timer/);
    assert.ok(worker.error.cause instanceof RangeError);
    assert.equal(worker.error.cause.message, "boom from a timer");
  });

  test("lets a target that handles its own uncaught errors go on (issue 6.9)", async () => {
    await using worker = make({
      target: async (): Promise<string> => {
        let seen = "";
        addEventListener("error", (event) => {
          seen = (event as ErrorEvent).message;
          event.preventDefault();
        });
        addEventListener("unhandledrejection", (event) => {
          event.preventDefault();
        });
        const handled = Promise.withResolvers<void>();
        setTimeout(() => {
          setTimeout(handled.resolve);
          throw new RangeError("handled by the target");
        });
        await handled.promise;
        return seen;
      },
    });
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.error, undefined);
    assert.match(String(worker.result), /handled by the target/);
  });

  test("reports an unhandled rejection with its message (issue 6.9)", async () => {
    await using worker = make({
      target: (): Promise<never> => {
        Promise.reject(new TypeError("nobody caught this"));
        return new Promise(() => {});
      },
    });
    assert.equal(await worker.wait(10_000), true);
    assert.ok(worker.error instanceof WorkerDiedError);
    assert.match(worker.error.message, /nobody caught this/);
    assert.ok(worker.error.cause instanceof TypeError);
    assert.equal(worker.error.cause.message, "nobody caught this");
  });

  test("gives a module target it may not read NotCapable, saying what to grant (break-it trial)", async () => {
    await using worker = make({
      target: { module: FIXTURES },
      permissions: "none",
    });
    await worker.wait(10_000);
    assert.ok(worker.error instanceof Deno.errors.NotCapable, worker.error);
    assert.match(worker.error.message, /read/);
    assert.match(worker.error.message, /targets\.ts/);
  });

  test("gives a target exceeding its grant Deno's NotCapable", async () => {
    await using worker = make({
      target: () => Deno.readTextFile("/etc/hostname"),
      permissions: { read: ["/nonexistent"] },
    });
    await worker.wait();
    assert.equal(worker.hasError, true);
    assert.equal(worker.error?.name, "NotCapable");
  });

  test("lets a target use what it was granted", async () => {
    await using worker = make({
      target: () => Deno.env.get("HOME") !== undefined,
      permissions: { env: ["HOME"] },
    });
    await worker.wait();
    assert.equal(worker.error, undefined);
    assert.equal(worker.result, true);
  });

  test("is listed in activeChildren() while alive", async () => {
    await using signal = startedSignal();
    const worker = make({ target: cooperativeLoop, args: [signal.path] });
    const { Worker } = await import("../mod.ts");
    assert.ok(Worker.activeChildren().includes(worker));
    await signal.started;
    await worker.terminate();
    assert.ok(!Worker.activeChildren().includes(worker));
  });

  test("[Symbol.asyncDispose] closes, then terminates", async () => {
    await using signal = startedSignal();
    let worker: Worker | undefined;
    {
      await using w = make({ target: cooperativeLoop, args: [signal.path] });
      worker = w;
      await signal.started;
    }
    assert.equal(worker.isAlive(), false);
    assert.ok(worker.error instanceof WorkerTerminatedError);
  });

  test("gives a typed-array result its own buffer", async () => {
    await using worker = make({ target: () => new Uint16Array([1, 2, 3]) });
    await worker.wait();
    const result = worker.result!;
    assert.deepEqual([...result], [1, 2, 3]);
    // Not a view into a shared pool: nothing of this process shows through.
    assert.equal(result.buffer.byteLength, 6);
    assert.equal(result.byteOffset, 0);
  });

  test("reports an error whose getters throw", async () => {
    await using worker = make({
      target: () => {
        const error = new Error("boom");
        Object.defineProperty(error, "bad", {
          enumerable: true,
          get() {
            throw new Error("getter");
          },
        });
        throw error;
      },
    });
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.hasError, true);
    assert.equal(worker.error?.message, "boom");
  });

  test("names an initState that cannot be cloned", () => {
    assert.throws(
      () => make({ target: () => 1, initState: () => 1 }),
      (error: Error) =>
        error instanceof TypeError && /initState/.test(error.message),
    );
  });

  test("wait() with a timeout beyond 2^31 ms waits", async () => {
    await using worker = make({
      target: () => new Promise((resolve) => setTimeout(() => resolve(1), 50)),
    });
    assert.equal(await worker.wait(2 ** 31), true);
    assert.equal(worker.result, 1);
  });

  test("rejects a negative timeout", async () => {
    await using worker = make({ target: () => 1 });
    await assert.rejects(() => worker.wait(-1), RangeError);
    await assert.rejects(() => worker.terminate({ timeout: -1 }), RangeError);
  });
}
