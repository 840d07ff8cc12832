/**
 * Entry point of a thread worker's Web Worker: receives `start`, runs the
 * target through {@linkcode ChildRuntime}, and posts messages back.
 *
 * The terminate request arrives twice: as a shared flag the parent sets
 * (seen by `throwIfTerminated()` even in a loop that never yields) and as a
 * message (which aborts `ctx.signal` for targets that await).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { ChildRuntime } from "./_child.ts";
import { currentTid } from "./_ids.ts";
import type { ChildMessage, ParentMessage } from "./_wire.ts";

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;
const post = (message: ChildMessage) => scope.postMessage(message);
const realClose = scope.close.bind(scope);
const realExit = Deno.exit;
let exited = false;

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

let runtime: ChildRuntime | undefined;

scope.onmessage = (event: MessageEvent<ParentMessage>) => {
  const message = event.data;
  if (message.t === "terminate") post({ t: "terminating" });
  if (runtime !== undefined) return runtime.receive(message);
  if (message.t !== "start") return;
  const tid = currentTid() ?? message.fallbackTid;
  runtime = new ChildRuntime(
    message,
    new Int32Array(message.flag ?? new SharedArrayBuffer(4)),
    { send: post },
    { pid: Deno.pid, tid },
  );
  post({ t: "ready", pid: Deno.pid, tid });
  runtime.run().finally(() => {
    exited = true;
    realClose();
  });
};
