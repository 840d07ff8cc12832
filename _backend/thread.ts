/**
 * The thread transport: a Web Worker of this process running
 * _child/thread_entry.ts, spoken to over a private `MessageChannel`.
 *
 * @module
 */
import { forDeno } from "../_core/options.ts";
import type { Backend, BackendSink } from "../_core/lifecycle.ts";
import type { Transport } from "../_core/registry.ts";
import { WorkerDiedError } from "../errors.ts";
import { busyThreadNote, stuckInTarget } from "./busy_thread.ts";
import { THREAD_FLAGS_BYTES } from "../_protocol/thread_flags.ts";
import { threadPermissions } from "../_permissions/grants.ts";
import { cloneError } from "../_protocol/error_codec.ts";
import { unsendableError } from "../_core/unsendable.ts";
import type { WorkerOptions } from "../types.ts";
import type {
  ChildMessage,
  StartMessage,
  ThreadStart,
} from "../_protocol/messages.ts";
import { syntheticThreadId } from "../_protocol/ids.ts";
import { within } from "../_protocol/time.ts";

/** What `new Worker()` takes, Deno's `deno` field included. */
type WebWorkerOptions = ConstructorParameters<typeof globalThis.Worker>[1];

const BOOTSTRAP = new URL("../_child/thread_entry.ts", import.meta.url);

/**
 * How long a dead thread's error waits for the child's note of it (posted
 * before Deno passes the error on, on another channel: it normally comes
 * first).
 */
const NOTE_WAIT_MS = 100;

/**
 * Throws if Deno's events cannot reach a listener in this process: with
 * `Object.prototype.signal` set (a polluted prototype), Deno 2.8.2's
 * EventTarget reads every listener's options through it, so an aborted
 * signal there silently drops every listener (the worker's messages would
 * never arrive: a hang) and a live one overflows the stack. Nothing of a
 * thread worker can work then; a process worker talks over a socket and
 * is not affected.
 */
function assertEventsWork(): void {
  if (Object.hasOwn(Object.prototype, "signal")) {
    throw new TypeError(
      "Cannot start a thread worker as Object.prototype.signal is set (a " +
        "polluted prototype): Deno's EventTarget then drops or breaks every " +
        "listener, so the worker's messages could never arrive. Remove it, " +
        "or use a process worker",
    );
  }
}

function spawnThread(
  sink: BackendSink,
  start: StartMessage,
  options: WorkerOptions,
): Backend {
  if (options.env !== undefined) {
    throw new TypeError(
      "Cannot give a thread worker its own environment as threads share " +
        "their process's: use a process worker",
    );
  }
  assertEventsWork();
  const permissions = threadPermissions(options.permissions ?? "inherit");
  const flag = new SharedArrayBuffer(THREAD_FLAGS_BYTES);
  // On a null prototype: Deno reads `deno` (permissions) and `name` through
  // the prototype chain, so a polluted Object.prototype would reach them.
  const workerOptions: WebWorkerOptions = forDeno({
    type: "module" as const,
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(permissions === undefined ? {} : { deno: { permissions } }),
  });
  // Whether the thread's event loop saw our terminate request: if not when
  // we must force it, it may be stuck in synchronous code (busy_thread.ts).
  let terminating = false;
  const acknowledged = Promise.withResolvers<void>();
  const noted = Promise.withResolvers<void>();
  let hasNote = false;
  // Whether the child reported its end or died: its error will then not be
  // the forced one, so it gets no busy note (nor the warning that goes with it).
  let ended = false;
  // The protocol's own channel: what the target posts on its global scope
  // reaches worker.onmessage, which we leave alone.
  const { port1: port, port2: childPort } = new MessageChannel();
  // Listening starts before the Web Worker exists, and whatever throws
  // (Deno's addEventListener does, under a polluted Object.prototype.signal)
  // frees what was made: nothing may outlive a throwing constructor.
  let worker: globalThis.Worker | undefined;
  try {
    port.onmessage = (event: MessageEvent<ChildMessage>) => {
      // "terminating" is this backend's own: the core never sees it.
      if (event.data.t === "terminating") {
        terminating = true;
        acknowledged.resolve();
        return;
      }
      if (event.data.t === "done" || event.data.t === "exit") ended = true;
      if (event.data.t === "uncaught") {
        hasNote = true;
        noted.resolve();
      }
      sink.message(event.data);
    };
    port.onmessageerror = () => {
      sink.exited(
        new WorkerDiedError(
          `${sink.describe(true)} sent a message that could not be read`,
          { reason: "messageerror" },
        ),
      );
    };
    worker = new globalThis.Worker(BOOTSTRAP, workerOptions);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      ended = true;
      // The core makes the child's note of the error (rebuilt) the cause.
      const died = () =>
        sink.exited(
          new WorkerDiedError(
            `${
              sink.describe(true)
            } died of an uncaught error: ${event.message}`,
            { reason: event.message },
          ),
        );
      if (hasNote) died();
      else within(noted.promise, NOTE_WAIT_MS).then(died);
    };
  } catch (error) {
    port.close();
    childPort.close();
    worker?.terminate();
    throw error;
  }
  try {
    const first: ThreadStart = {
      start,
      port: childPort,
      flag,
      fallbackTid: syntheticThreadId(),
    };
    worker.postMessage(first, [childPort]);
  } catch (error) {
    port.close();
    worker.terminate();
    throw unsendableError(
      start,
      sink.describe(),
      error,
      cloneError,
    );
  }
  let released = false;
  return {
    waitsForExit: false,
    send: (message) => port.postMessage(message),
    requestTerminate() {
      Atomics.store(new Int32Array(flag), 0, 1);
      port.postMessage({ t: "terminate" });
    },
    async kill() {
      const stuck = !terminating && !ended &&
        await stuckInTarget(new Int32Array(flag), acknowledged.promise) &&
        !ended;
      released = true;
      port.close();
      worker.terminate();
      return stuck ? busyThreadNote() : undefined;
    },
    release() {
      if (released) return;
      released = true;
      port.close();
      worker.terminate();
    },
  };
}

/**
 * Clones an item's arguments at submit; `postMessage` clones the clone
 * later. Primitives are immutable: only objects are cloned (one
 * `structuredClone` each, which is also the clonability check).
 */
function captureArgs(args: readonly unknown[]): {
  args: unknown[];
  bytes: number;
} {
  const captured = new Array<unknown>(args.length);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const type = typeof arg;
    captured[i] = (type === "object" && arg !== null) || type === "function" ||
        type === "symbol"
      ? structuredClone(arg)
      : arg;
  }
  return { args: captured, bytes: 0 };
}

/** How thread workers are started. */
export const threadTransport: Transport = {
  spawn: spawnThread,
  cloneError,
  capture: captureArgs,
};
