/**
 * The process transport: a `deno run` subprocess running
 * _child/process_entry.ts, started by the launcher (launcher.ts), which
 * owns the socket, the control file, the exit and the cleanup. This file
 * only adapts it to the core: V8-serialized messages in and out.
 *
 * ```
 *  parent                                   child (_child/process_entry.ts)
 *  ──────                                   ─────
 *  launchProcess (launcher.ts)
 *                      ◀── connect ───────  main thread (runs the target)
 *  start, items, close ─── socket ───────▶
 *                      ◀── socket ───────  ready, results, done
 *  terminate ───────────── socket ───────▶  main thread: abort ctx.signal
 *  1 ──────────────── control file ──────▶  polled by throwIfTerminated()
 *  SIGTERM, then SIGKILL (forced)
 *  (parent dies) ─── kernel: SIGKILL ────▶  (see _child/orphan_guard.ts)
 * ```
 *
 * @module
 */
import type { Backend, BackendSink } from "../_core/lifecycle.ts";
import type { Transport } from "../_core/registry.ts";
import { launchProcess } from "./launcher.ts";
import { childCommand } from "./process_command.ts";
import {
  BOOTSTRAP,
  captureArgs,
  checkEnv,
  decodeChildFrame,
  diedError,
  encodeParentMessage,
  encodeStart,
  ResultBatch,
  usesSender,
} from "./child_wire.ts";
import { serializeError } from "../_protocol/v8.ts";
import type { WorkerOptions } from "../types.ts";
import type { StartMessage } from "../_protocol/messages.ts";

/**
 * Frames up to this size reach `onFrame` as views into the read buffer:
 * a persistent child's results come many per read, and a copy each cost
 * about a microsecond, as much as decoding it.
 */
const VIEW_FRAME_BYTES = 64 * 1024;

function spawnProcess(
  sink: BackendSink,
  start: StartMessage,
  options: WorkerOptions,
): Backend {
  const env = checkEnv(options.env);
  const startFrame = encodeStart(sink, start);
  const sender = usesSender(start);
  // The results of one read reach the worker as one message.
  const batch = new ResultBatch((message) => sink.message(message));
  const child = launchProcess({
    args: (paths) => [
      ...childCommand(options, { ...paths, bootstrap: BOOTSTRAP }).args,
      ...(sender ? ["sender"] : []),
    ],
    connections: sender ? 2 : 1,
    env,
    viewFrames: VIEW_FRAME_BYTES,
    onFrame: (frame) => {
      if (batch.add(frame)) return;
      // Anything but a result is copied first (as the reader did before),
      // as node:v8 may hand out views into the bytes it decodes. Larger
      // frames are copies already.
      sink.message(
        decodeChildFrame(
          frame.length > VIEW_FRAME_BYTES ? frame : frame.slice(),
        ),
      );
    },
    onBurstEnd: () => batch.flush(),
  });
  child.send(startFrame);
  child.exited.then(({ status, connected, error }) =>
    sink.exited(diedError(sink, status, connected, error))
  );
  return {
    waitsForExit: true,
    send(message) {
      child.sendParts(encodeParentMessage(message));
    },
    requestTerminate() {
      // For the main thread (aborts ctx.signal) and, through the control
      // file, for throwIfTerminated() while the main thread is busy.
      this.send({ t: "terminate" });
      child.requestStop();
    },
    async kill() {
      return await child.kill();
    },
    release() {
      // Everything is freed by the launcher once the child has exited.
    },
  };
}

/** How process workers are started. */
export const processTransport: Transport = {
  spawn: spawnProcess,
  cloneError: serializeError,
  capture: captureArgs,
};
