/**
 * Entry point of a thread worker's Web Worker: receives `start`, runs the
 * target through {@linkcode ChildRuntime}, and posts messages back.
 *
 * The terminate request arrives twice: as a shared flag the parent sets
 * (seen by `throwIfTerminated()` even in a loop that never yields) and as a
 * message (which aborts `ctx.signal` for targets that await). Messages
 * travel on a private MessagePort, not on the worker's global scope.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { ChildRuntime } from "./runtime.ts";
import { currentTid } from "../_protocol/ids.ts";
import { cloneError, encodeError } from "../_protocol/error_codec.ts";
import { markTargetRuns } from "./load_target.ts";
import { THREAD_FLAGS_BYTES } from "../_protocol/thread_flags.ts";
import type {
  ChildMessage,
  ParentMessage,
  ThreadStart,
} from "../_protocol/messages.ts";

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;
const realClose = scope.close.bind(scope);
const realExit = Deno.exit;
let exited = false;

// The protocol runs over a private MessagePort that comes with `start`, so
// the target's own postMessage() and onmessage stay its business: they can
// neither break nor forge what the parent hears.
let port: MessagePort | undefined;
const post = (message: ChildMessage) => port?.postMessage(message);

// A target that ends its own thread would otherwise vanish without a word:
// Deno reports neither `Deno.exit()` nor `close()` in a worker to its parent.
Deno.exit = (code?: number): never => {
  if (!exited) post({ t: "exit", code: code ?? 0 });
  exited = true;
  return realExit(code);
};
scope.close = () => {
  if (!exited) post({ t: "exit", code: 0 });
  exited = true;
  realClose();
};

// An error nobody caught: noted to the parent first, so that the worker's
// error carries it rebuilt (Deno passes the parent only its message). Not
// prevented: a listener of the target's may still do that, and go on.
const noteUncaught = (error: unknown) => {
  try {
    post({
      t: "uncaught",
      error: encodeError(error, (value) => cloneError(value) === undefined),
    });
  } catch {
    // the port is gone: the parent gets Deno's message alone
  }
};
scope.addEventListener("error", (event) => noteUncaught(event.error));
scope.addEventListener(
  "unhandledrejection",
  (event) => noteUncaught(event.reason),
);

scope.onmessage = (event: MessageEvent<ThreadStart>) => {
  const { start, flag, fallbackTid } = event.data ?? {};
  if (port !== undefined || start?.t !== "start" || !event.data.port) return;
  scope.onmessage = null;
  port = event.data.port;
  const tid = currentTid() ?? fallbackTid;
  const flags = new Int32Array(
    flag ?? new SharedArrayBuffer(THREAD_FLAGS_BYTES),
  );
  markTargetRuns(flags); // lets the parent tell a busy thread from a slow one
  const runtime = new ChildRuntime(
    start,
    flags,
    { send: (message) => port!.postMessage(message), cloneError },
    { host: start.host, pid: Deno.pid, tid },
  );
  port.onmessage = (event: MessageEvent<ParentMessage>) => {
    if (event.data.t === "terminate") post({ t: "terminating" });
    runtime.receive(event.data);
  };
  // A thread runs in its parent's process, so on its parent's host (which it
  // may lack the permission to read).
  post({ t: "ready", host: start.host, pid: Deno.pid, tid });
  runtime.run().finally(() => {
    exited = true;
    realClose();
  });
};
