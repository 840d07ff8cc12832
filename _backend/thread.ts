/**
 * The thread transport: a Web Worker of this process running
 * _child/thread_entry.ts, spoken to over a private `MessageChannel`.
 *
 * @module
 */
import type { Backend, BackendSink } from "../_core/lifecycle.ts";
import { within } from "../_core/time.ts";
import type { Transport } from "../_core/registry.ts";
import { WorkerDiedError } from "../errors.ts";
import { busyThreadNote } from "./busy_thread.ts";
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

/** What `new Worker()` takes, Deno's `deno` field included. */
type WebWorkerOptions = ConstructorParameters<typeof globalThis.Worker>[1];

const BOOTSTRAP = new URL("../_child/thread_entry.ts", import.meta.url);

/** How long a forced thread's event loop gets to show it is not stuck. */
const BUSY_PROBE_MS = 20;

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
  const permissions = threadPermissions(options.permissions ?? "inherit");
  const flag = new SharedArrayBuffer(4);
  // On a null prototype: Deno reads `deno` (permissions) and `name` through
  // the prototype chain, so a polluted Object.prototype would reach them.
  const workerOptions: WebWorkerOptions = Object.assign(Object.create(null), {
    type: "module",
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(permissions === undefined ? {} : { deno: { permissions } }),
  });
  const worker = new globalThis.Worker(BOOTSTRAP, workerOptions);
  // Whether the thread's event loop saw our terminate request: if not when
  // we must force it, it is stuck in synchronous code (see busy_thread.ts).
  let terminating = false;
  let started = false;
  const acknowledged = Promise.withResolvers<void>();
  // The protocol's own channel: what the target posts on its global scope
  // reaches worker.onmessage, which we leave alone.
  const { port1: port, port2: childPort } = new MessageChannel();
  port.onmessage = (event: MessageEvent<ChildMessage>) => {
    // "terminating" is this backend's own: the core never sees it.
    if (event.data.t === "terminating") {
      terminating = true;
      acknowledged.resolve();
      return;
    }
    if (event.data.t === "ready") started = true;
    sink.message(event.data);
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    sink.exited(
      new WorkerDiedError(
        `Worker ${sink.describe()} died of an uncaught error: ${event.message}`,
        { reason: event.message, cause: event.error },
      ),
    );
  };
  port.onmessageerror = () => {
    sink.exited(
      new WorkerDiedError(
        `Worker ${sink.describe()} sent a message that could not be read`,
        { reason: "messageerror" },
      ),
    );
  };
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
      `worker ${sink.describe()}`,
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

/** How thread workers are started. */
export const threadTransport: Transport = { spawn: spawnThread, cloneError };
