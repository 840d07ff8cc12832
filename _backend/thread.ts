/**
 * The thread transport: a Web Worker of this process running
 * _child/thread_entry.ts, spoken to over a private `MessageChannel`.
 *
 * @module
 */
import type { Backend, Core } from "../_core/lifecycle.ts";
import { within } from "../_core/time.ts";
import type { Transport } from "../_core/registry.ts";
import { WorkerDiedError } from "../errors.ts";
import { busyThreadNote } from "./busy_thread.ts";
import { threadPermissions } from "../_permissions/grants.ts";
import { cloneError } from "../_protocol/error_codec.ts";
import { unsendableError } from "../_core/unsendable.ts";
import type { WorkerOptions } from "../types.ts";
import type { ChildMessage, StartMessage } from "../_protocol/messages.ts";

const BOOTSTRAP = new URL("../_child/thread_entry.ts", import.meta.url);

/** How long a forced thread's event loop gets to show it is not stuck. */
const BUSY_PROBE_MS = 20;

function spawnThread(
  core: Core,
  start: StartMessage,
  options: WorkerOptions,
): Backend {
  if (options.env !== undefined) {
    throw new TypeError(
      "Cannot give a thread worker its own environment as threads share " +
        "their process's: use a process worker",
    );
  }
  const permissions = threadPermissions(options.permissions ?? "inherit");
  const flag = new SharedArrayBuffer(4);
  const worker = new globalThis.Worker(BOOTSTRAP, {
    type: "module",
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(permissions === undefined ? {} : { deno: { permissions } }),
  });
  // Whether the thread's event loop saw our terminate request: if not when
  // we must force it, it is stuck in synchronous code (see busy_thread.ts).
  let terminating = false;
  let started = false;
  const acknowledged = Promise.withResolvers<void>();
  // The protocol's own channel: what the target posts on its global scope
  // reaches worker.onmessage, which we leave alone.
  const { port1: port, port2: childPort } = new MessageChannel();
  port.onmessage = (event: MessageEvent<ChildMessage>) => {
    if (event.data.t === "terminating") {
      terminating = true;
      acknowledged.resolve();
    } else if (event.data.t === "ready") started = true;
    core.onMessage(event.data);
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    core.onExit(
      new WorkerDiedError(
        `Worker ${core.describe()} died of an uncaught error: ${event.message}`,
        { reason: event.message, cause: event.error },
      ),
    );
  };
  port.onmessageerror = () => {
    core.onExit(
      new WorkerDiedError(
        `Worker ${core.describe()} sent a message that could not be read`,
        { reason: "messageerror" },
      ),
    );
  };
  try {
    worker.postMessage({ ...start, flag, port: childPort }, [childPort]);
  } catch (error) {
    port.close();
    worker.terminate();
    throw unsendableError(
      start,
      `worker ${core.describe()}`,
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
      // A free event loop answers within a millisecond; give it a little
      // longer (a zero grace period may not have let it see the request).
      if (!terminating) await within(acknowledged.promise, BUSY_PROBE_MS);
      released = true;
      port.close();
      worker.terminate();
      // Only a thread that got as far as running its target can be stuck in it.
      return terminating || !started ? undefined : busyThreadNote();
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
