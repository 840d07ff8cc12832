/**
 * The persistent-worker contract, written once and run against every kind.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type PersistentWorker,
  type PersistentWorkerOptions,
  WorkerClosedError,
  type WorkerContext,
  WorkerDiedError,
  WorkerTerminatedError,
  WorkerType,
} from "../mod.ts";
import { startedSignal } from "./_started.ts";

/** Builds a persistent worker of the kind under test. */
export type PersistentFactory = <A extends unknown[], R>(
  options: PersistentWorkerOptions<A, R>,
) => PersistentWorker<A, R>;

/** Registers the persistent contract for one kind. */
export function persistentSuite(
  label: string,
  type: WorkerType,
  make: PersistentFactory,
) {
  const test = (name: string, fn: () => void | Promise<void>) =>
    Deno.test(`${label} ${name}`, fn);

  test("processes enqueued items in order and counts them", async () => {
    await using worker = make({ target: (x: number) => x ** 2 });
    assert.equal(worker.isPersistent, true);
    assert.equal(worker.workerType, type);
    const inputs = Array.from({ length: 10 }, (_, i) => i);
    for (const x of inputs) worker.enqueue(x);
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.hasError, false);
    assert.equal(worker.result, 10);
    assert.deepEqual(
      await Array.fromAsync(worker.results()),
      inputs.map((x) => x ** 2),
    );
  });

  test("with run: false never runs and yields no results", async () => {
    const worker = make({ target: (x: number) => x, run: false });
    await worker.ready;
    assert.equal(worker.isAlive(), false);
    assert.equal(await worker.wait(0), true);
    assert.equal(await worker.terminate({ timeout: 0, force: false }), true);
    worker.close();
    assert.equal(worker.hasError, false);
    assert.equal(worker.result, undefined);
    assert.deepEqual(await Array.fromAsync(worker.results()), []);
    assert.throws(() => worker.enqueue(1), WorkerClosedError);
  });

  test("replaces the leading default args with each item's", async () => {
    await using worker = make({
      target: (a: number, b: number) => a * 10 + b,
      args: [5, 7],
    });
    worker.enqueue();
    worker.enqueue(2);
    worker.enqueue(3, 4);
    await worker.wait();
    assert.deepEqual(await Array.fromAsync(worker.results()), [57, 27, 34]);
  });

  test("call() resolves its own item, and a failing call leaves the worker running", async () => {
    await using worker = make({
      target: (x: number) => {
        if (x < 0) throw new RangeError(`negative: ${x}`);
        return x + 1;
      },
    });
    assert.equal(await worker.call(1), 2);
    await assert.rejects(
      worker.call(-1),
      (error: Error) =>
        error instanceof RangeError && error.message === "negative: -1",
    );
    worker.enqueue(5);
    assert.equal(await worker.nextResult(10_000), 6);
    await worker.wait();
    assert.equal(worker.hasError, false);
    assert.equal(worker.result, 3, "call items count as processed");
    assert.deepEqual(await Array.fromAsync(worker.results()), []);
  });

  test("an enqueued item that throws ends the worker after earlier results", async () => {
    await using worker = make({
      target: (x: number) => {
        if (x === 3) throw new Error("three");
        return x;
      },
    });
    for (const x of [1, 2, 3, 4, 5]) worker.enqueue(x);
    await worker.wait();
    assert.equal(worker.hasError, true);
    assert.equal(worker.error?.message, "three");
    assert.equal(worker.result, undefined);
    assert.deepEqual(await Array.fromAsync(worker.results()), [1, 2]);
  });

  test("enqueue() after close() throws WorkerClosedError", async () => {
    await using worker = make({ target: (x: number) => x });
    worker.close();
    assert.throws(() => worker.enqueue(1), WorkerClosedError);
    await assert.rejects(worker.call(1), WorkerClosedError);
    await worker.wait();
    assert.throws(() => worker.enqueue(1), WorkerClosedError);
  });

  test("close() then wait() processes every queued item first", async () => {
    await using worker = make({
      target: async (x: number) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return x;
      },
    });
    for (let i = 0; i < 50; i++) worker.enqueue(i);
    worker.close();
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.result, 50);
    assert.equal((await Array.fromAsync(worker.results())).length, 50);
  });

  test("nextResult() times out, and reports the end", async () => {
    await using worker = make({ target: (x: number) => x });
    await assert.rejects(
      worker.nextResult(10),
      (error: Error) => error.name === "TimeoutError",
    );
    worker.enqueue(1);
    assert.equal(await worker.nextResult(), 1);
    await worker.wait();
    await assert.rejects(worker.nextResult(), WorkerClosedError);
  });

  test("terminate() mid-item stops a cooperative target and drops the queue", async () => {
    await using signal = startedSignal();
    await using worker = make({
      target: async (x: number, path: string, ctx: WorkerContext) => {
        if (x === 2) {
          (await Deno.connect({ transport: "unix", path })).close();
          for (;;) ctx.throwIfTerminated();
        }
        return x;
      },
      args: [0, signal.path],
    });
    for (const x of [1, 2, 3, 4]) worker.enqueue(x);
    await signal.started;
    assert.equal(await worker.terminate({ force: false, timeout: 5000 }), true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
    assert.equal(worker.error.forced, false);
    assert.equal(worker.result, undefined);
    assert.deepEqual(await Array.fromAsync(worker.results()), [1]);
  });

  test("terminate() forces a target that ignores the request", async () => {
    await using signal = startedSignal();
    await using worker = make({
      // Waits rather than spins: Deno cannot interrupt a busy thread.
      target: async (path: string) => {
        (await Deno.connect({ transport: "unix", path })).close();
        await new Promise(() => {});
      },
      args: [""],
    });
    worker.enqueue(signal.path);
    worker.enqueue(signal.path);
    await signal.started;
    assert.equal(await worker.terminate({ timeout: 50, force: false }), false);
    assert.equal(await worker.terminate({ timeout: 50 }), true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
    assert.equal(worker.error.forced, true);
    assert.deepEqual(await Array.fromAsync(worker.results()), []);
  });

  test("terminate() of an idle worker ends it with WorkerTerminatedError", async () => {
    await using worker = make({ target: (x: number) => x });
    assert.equal(await worker.call(1), 1);
    assert.equal(await worker.terminate({ force: false, timeout: 5000 }), true);
    assert.ok(worker.error instanceof WorkerTerminatedError);
  });

  test("restart() renews the worker in place, carrying its user state", async () => {
    await using worker = make({
      target: (x: number, ctx: WorkerContext) => {
        ctx.userState = (ctx.userState as number) + 1;
        return x * (ctx.userState as number);
      },
      initState: 0,
    });
    for (const x of [1, 1, 1]) worker.enqueue(x);
    await worker.wait();
    assert.equal(worker.userState, 3);
    assert.deepEqual(await Array.fromAsync(worker.results()), [1, 2, 3]);
    const firstId = worker.id;
    await worker.restart();
    assert.equal(worker.isAlive(), true);
    if (type !== WorkerType.THREAD) assert.notDeepEqual(worker.id, firstId);
    worker.enqueue(1);
    await worker.wait();
    assert.equal(worker.result, 1, "the counter starts again");
    assert.deepEqual(await Array.fromAsync(worker.results()), [4]);
    assert.equal(worker.userState, 4);
  });

  test("a call()'s result is not held back by the next item", async () => {
    await using worker = make({
      target: (x: number, ctx: WorkerContext) => {
        if (x === 2) { for (;;) ctx.throwIfTerminated(); // runs until stopped
         }
        return x;
      },
    });
    const first = worker.call(1);
    worker.enqueue(2);
    worker.enqueue(3); // queued behind: item 2 is not the last one
    let timer: ReturnType<typeof setTimeout> | undefined;
    const watchdog = new Promise((resolve) => {
      timer = setTimeout(() => resolve("held back"), 10_000);
    });
    assert.equal(await Promise.race([first, watchdog]), 1);
    clearTimeout(timer);
    assert.equal(await worker.terminate({ timeout: 5000, force: false }), true);
  });

  test("the first failure ends the worker: an unsendable value before a throw", async () => {
    await using worker = make({
      target: (x: string): unknown => {
        if (x === "throw") throw new Error("later");
        return x === "bad" ? () => x : x;
      },
    });
    // "x" keeps "throw" from being the last queued item, so the unsendable
    // value is still waiting in the child's batch when "throw" throws.
    for (const x of ["ok", "bad", "throw", "x"]) worker.enqueue(x);
    await worker.wait(10_000);
    assert.ok(worker.error instanceof TypeError);
    assert.match(worker.error.message, /result of an item/);
  });

  test("an uncaught error from a stray timer ends the worker with its message (issue 6.9)", async () => {
    await using worker = make({
      target: (x: number): number | Promise<never> => {
        if (x === 0) return x;
        // The item waits, so the worker is still running when the timer fires.
        setTimeout(() => {
          throw new RangeError("boom from a timer");
        });
        return new Promise(() => {});
      },
    });
    assert.equal(await worker.call(0), 0);
    worker.enqueue(1);
    assert.equal(await worker.wait(10_000), true);
    assert.ok(worker.error instanceof WorkerDiedError);
    assert.match(worker.error.message, /boom from a timer/);
    assert.ok(worker.error.cause instanceof RangeError);
  });

  test("refuses a highWaterMark below 1", () => {
    for (const highWaterMark of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => make({ target: (x: number) => x, highWaterMark }),
        RangeError,
      );
    }
  });

  test("an enqueued item whose value cannot be sent ends the worker", async () => {
    await using worker = make({
      target: (x: number): unknown => x === 1 ? () => x : x,
    });
    for (const x of [0, 1, 2]) worker.enqueue(x);
    await worker.wait(10_000);
    assert.equal(worker.hasError, true);
    assert.ok(worker.error instanceof TypeError);
    assert.match(worker.error.message, /result of an item/);
    assert.deepEqual(await Array.fromAsync(worker.results()), [0]);
  });

  test("concurrent restart() calls make one child, and terminate() during one wins", async () => {
    await using worker = make({ target: (x: number) => x });
    const { Worker } = await import("../mod.ts");
    await Promise.all([worker.restart(), worker.restart()]);
    assert.equal(Worker.activeChildren().filter((w) => w === worker).length, 1);
    assert.equal(await worker.call(5), 5);
    const restarting = worker.restart();
    assert.equal(await worker.terminate(), true);
    await assert.rejects(restarting, WorkerTerminatedError);
    assert.equal(worker.isAlive(), false);
    assert.equal(Worker.activeChildren().includes(worker), false);
  });

  test("put() waits for room below the high-water mark", async () => {
    await using worker = make({ target: (x: number) => x, highWaterMark: 8 });
    let sum = 0;
    const consumer = (async () => {
      for await (const value of worker.results()) sum += value;
    })();
    for (let i = 0; i < 2000; i++) await worker.put(i);
    await worker.wait();
    await consumer;
    assert.equal(sum, (1999 * 2000) / 2);
  });

  test("streams 100k items through one worker", async () => {
    await using worker = make({ target: (x: number) => x });
    const n = 100_000;
    for (let i = 0; i < n; i++) worker.enqueue(i);
    worker.close();
    let count = 0;
    let ordered = true;
    for await (const value of worker.results()) ordered &&= value === count++;
    await worker.wait();
    assert.equal(count, n);
    assert.ok(ordered);
    assert.equal(worker.result, n);
  });

  test("refuses an item argument that cannot be cloned", async () => {
    await using worker = make({ target: (x: unknown) => x });
    assert.throws(() => worker.enqueue(() => 1), TypeError);
    assert.equal(await worker.call(2), 2);
  });
}

/** The regressions of issue 6 (persistent data path), for one kind. */
export function persistentIssue6Suite(
  label: string,
  make: PersistentFactory,
) {
  const test = (name: string, fn: () => void | Promise<void>) =>
    Deno.test(`${label} ${name}`, fn);

  test("call() whose target throws undefined rejects only its own promise (trial 2)", async () => {
    await using worker = make({
      target: (x: unknown) => {
        if (x === "undefined") throw undefined;
        if (x === "rejected") return Promise.reject(undefined);
        return x;
      },
    });
    worker.enqueue(1);
    const thrown = worker.call("undefined");
    const rejected = worker.call("rejected");
    worker.enqueue(2);
    await assert.rejects(thrown, (error: Error) => error.cause === undefined);
    await assert.rejects(rejected, (error: Error) => error.cause === undefined);
    assert.equal(await worker.call(3), 3);
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.hasError, false);
    assert.deepEqual(await Array.fromAsync(worker.results()), [1, 2]);
  });

  test("a polluted Object.prototype.cause neither crashes the parent nor changes errors (trial 2)", async () => {
    await using worker = make({
      target: (x: number) => {
        if (x < 0) throw new RangeError("negative");
        return x;
      },
    });
    await worker.ready;
    const proto = Object.prototype as { cause?: unknown };
    Object.defineProperty(proto, "cause", {
      value: "polluted",
      configurable: true,
      writable: true,
    });
    try {
      await assert.rejects(
        worker.call(-1),
        (error: Error) =>
          error instanceof RangeError && error.message === "negative" &&
          !Object.hasOwn(error, "cause"),
      );
      assert.equal(await worker.call(1), 1);
    } finally {
      delete proto.cause;
    }
  });

  test("enqueue(), call() and put() capture their arguments at the call (issue 6.1)", async () => {
    await using worker = make({ target: (o: { n: number }) => o.n });
    const shared = { n: 0 };
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 5; i++) {
      shared.n = i;
      worker.enqueue(shared);
    }
    for (let i = 5; i < 8; i++) {
      shared.n = i;
      calls.push(worker.call(shared));
    }
    shared.n = -1;
    assert.deepEqual(await Promise.all(calls), [5, 6, 7]);
    await worker.wait(10_000);
    assert.deepEqual(await Array.fromAsync(worker.results()), [0, 1, 2, 3, 4]);
  });

  test("put() of a reused buffer sends the value at each call (issue 6.1)", async () => {
    await using worker = make({
      target: (b: Uint8Array) => b[0]! | (b[1]! << 8),
    });
    const n = 3000;
    const buffer = new Uint8Array(1024);
    const reading = Array.fromAsync(worker.results());
    for (let i = 0; i < n; i++) {
      buffer[0] = i & 0xff;
      buffer[1] = i >> 8;
      await worker.put(buffer);
    }
    await worker.wait(30_000);
    const values = await reading;
    assert.equal(values.length, n);
    assert.equal(values.filter((v, i) => v !== i).length, 0);
  });

  test("a finished item's result reaches the parent while the next item runs synchronous code (issue 6.2)", async () => {
    await using worker = make({
      target: (x: number, ctx: WorkerContext) => {
        if (x === 10) { for (;;) ctx.throwIfTerminated(); // until stopped
         }
        return x;
      },
    });
    for (let x = 0; x <= 11; x++) worker.enqueue(x);
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) seen.push(await worker.nextResult(10_000));
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(await worker.terminate({ timeout: 5000, force: false }), true);
  });

  test("an item that calls Deno.exit() keeps every earlier result (issue 6.2)", async () => {
    await using worker = make({
      target: (x: number) => {
        if (x === 10) Deno.exit(3);
        return x;
      },
    });
    for (let x = 0; x <= 11; x++) worker.enqueue(x);
    await worker.wait(10_000);
    assert.equal(worker.hasError, true);
    assert.deepEqual(
      await Array.fromAsync(worker.results()),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  test("restart() keeps producers and the results stream going (issue 6.6)", async () => {
    await using worker = make({ target: (x: number) => x });
    const reading = Array.fromAsync(worker.results());
    worker.enqueue(1);
    const restarting = worker.restart();
    worker.enqueue(2);
    const called = worker.call(3);
    await worker.put(4);
    await restarting;
    assert.equal(await called, 3);
    worker.enqueue(5);
    await worker.wait(10_000);
    assert.equal(worker.result, 4, "the new child counts its own items");
    assert.deepEqual(await reading, [1, 2, 4, 5]);
  });

  test("close() during restart() closes the new child after what came before it (issue 6.6)", async () => {
    await using worker = make({ target: (x: number) => x });
    const restarting = worker.restart();
    worker.enqueue(1);
    worker.close();
    assert.throws(() => worker.enqueue(2), WorkerClosedError);
    await restarting;
    assert.throws(() => worker.enqueue(3), WorkerClosedError);
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.result, 1);
    assert.deepEqual(await Array.fromAsync(worker.results()), [1]);
  });

  test("restart() keeps unread results (issue 6.6)", async () => {
    await using worker = make({ target: (x: number) => x });
    for (const x of [1, 2, 3]) worker.enqueue(x);
    await worker.restart();
    worker.enqueue(4);
    await worker.wait(10_000);
    assert.deepEqual(await Array.fromAsync(worker.results()), [1, 2, 3, 4]);
  });

  test("restart() that must stop a stuck item sends the items behind it, which never ran, to the new child (trial 2)", async () => {
    await using signal = startedSignal();
    await using worker = make({
      // The "stuck" item awaits forever and ignores the stop request, so the
      // old child has to be forced (a thread's free event loop can be).
      target: async (x: number | string, path?: string) => {
        if (x !== "stuck") return x;
        (await Deno.connect({ transport: "unix", path: path! })).close();
        await new Promise(() => {});
      },
    });
    worker.enqueue(1);
    const stuck = worker.call("stuck", signal.path).catch((error) => error);
    worker.enqueue(4);
    const five = worker.call(5);
    await signal.started;
    await worker.restart(50);
    assert.ok((await stuck) instanceof WorkerTerminatedError);
    assert.equal(await five, 5);
    worker.enqueue(6);
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.hasError, false);
    assert.deepEqual(await Array.fromAsync(worker.results()), [1, 4, 6]);
  });

  test("put() waits while queued, in-flight and unread items reach the high-water mark (issue 6.7)", async () => {
    const highWaterMark = 16;
    await using worker = make({
      target: (x: number) => x,
      highWaterMark,
    });
    const n = 300;
    let produced = 0;
    const producing = (async () => {
      for (let i = 0; i < n; i++) {
        await worker.put(i);
        produced++;
      }
      worker.close();
    })();
    let consumed = 0;
    let most = 0;
    for await (const value of worker.results()) {
      assert.equal(value, consumed++);
      most = Math.max(most, produced - consumed);
      // A slow reader: the producer may run ahead meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await producing;
    assert.equal(consumed, n);
    assert.ok(most <= highWaterMark, `${most} items outstanding`);
  });

  test("a call() that never ran says so, with the worker's error as its cause (issue 6.9)", async () => {
    await using worker = make({
      target: (x: number) => {
        if (x === 1) throw new Error("one");
        return x;
      },
    });
    worker.enqueue(1);
    const never = worker.call(2);
    await assert.rejects(never, (error: Error) => {
      assert.ok(error instanceof WorkerClosedError);
      assert.match(error.message, /never ran/);
      assert.equal(error.cause, worker.error);
      return true;
    });
    assert.equal(worker.error?.message, "one");
  });

  test("results and arguments keep their primitive values exactly", async () => {
    const values: unknown[] = [
      0,
      -0,
      NaN,
      -Infinity,
      1.5e300,
      "",
      "héllo ✓ 😀",
      "lone \ud800 surrogate",
      true,
      false,
      null,
      undefined,
      12n,
      [1, "a"],
      new Uint8Array([1, 2]),
    ];
    await using worker = make({ target: (x: unknown) => x });
    for (const value of values) worker.enqueue(value);
    const called = await Promise.all(values.map((value) => worker.call(value)));
    await worker.wait(10_000);
    const enqueued = await Array.fromAsync(worker.results());
    assert.deepEqual(enqueued, values);
    assert.deepEqual(called, values);
    assert.ok(Object.is(enqueued[1], -0) && Object.is(called[1], -0));
  });

  test("refuses a window or highWaterMark below 1 before starting a child (issue 6.12)", async () => {
    const { Worker } = await import("../mod.ts");
    const before = Worker.activeChildren().length;
    for (const bad of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => make({ target: (x: number) => x, window: bad }),
        RangeError,
      );
      assert.throws(
        () => make({ target: (x: number) => x, highWaterMark: bad }),
        RangeError,
      );
    }
    assert.equal(Worker.activeChildren().length, before);
  });

  test("a window of 1 processes items one at a time, in order", async () => {
    await using worker = make({ target: (x: number) => x, window: 1 });
    for (let x = 0; x < 20; x++) worker.enqueue(x);
    assert.equal(await worker.call(20), 20);
    await worker.wait(10_000);
    assert.deepEqual(
      await Array.fromAsync(worker.results()),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });
}
