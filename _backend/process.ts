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
import { type LaunchExit, launchProcess } from "./launcher.ts";
import { childCommand } from "./process_command.ts";
import { WorkerDiedError } from "../errors.ts";
import {
  deserializeMessage,
  MAX_MESSAGE_BYTES,
  serializeError,
  serializeMessage,
} from "../_protocol/v8.ts";
import {
  decodeResult,
  encodeItems,
  isResultFrame,
} from "../_protocol/items.ts";
import { unsendableError } from "../_core/unsendable.ts";
import type { WorkerOptions } from "../types.ts";
import type { ChildMessage, StartMessage } from "../_protocol/messages.ts";

const BOOTSTRAP = new URL("../_child/process_entry.ts", import.meta.url);

/** The error of a child that exited without reporting. */
function diedError(sink: BackendSink, exit: LaunchExit): WorkerDiedError {
  const { status, connected, error } = exit;
  return new WorkerDiedError(
    `${sink.describe(true)} ${
      status.signal !== null
        ? `was killed by ${status.signal}`
        : `exited with code ${status.code}`
    }${connected ? "" : " before it started"}`,
    {
      exitCode: status.code,
      ...(status.signal === null ? {} : { signal: status.signal }),
      ...(error === undefined ? {} : { cause: error }),
    },
  );
}

/**
 * Whether the child writes its results from a sender thread
 * (_child/sender.ts): only a persistent worker gains from it (it costs
 * ~20 ms at start), and only with a target known to be synchronous. An
 * async target yields between items anyway, and the child then makes sure
 * earlier results have left before the next item starts (that item could
 * tell the world it started, and be killed, within microseconds): a thread
 * hand-off per item, ~5x the cost of writing them from the main thread.
 */
function usesSender(start: StartMessage): boolean {
  return start.persistent && start.target.kind === "source" &&
    !/^async\b/.test(start.target.source);
}

/**
 * The child's extra environment, own properties only, checked: Deno's own
 * error for a value that is not a string names neither the option nor the
 * variable.
 */
function checkEnv(
  env: unknown,
): Record<string, string> | undefined {
  if (env === undefined) return undefined;
  if (env === null || typeof env !== "object" || Array.isArray(env)) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(env)
      } as env: expected an object of string values`,
    );
  }
  const copy: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string") {
      throw new TypeError(
        `Cannot use ${Deno.inspect(value)} as env.${name}: expected a string`,
      );
    }
    if (name === "" || /[=\0]/.test(name) || value.includes("\0")) {
      throw new TypeError(
        `Cannot use env.${name}: a variable name must be non-empty, without ` +
          '"=" or NUL, and its value without NUL',
      );
    }
    copy[name] = value;
  }
  return copy;
}

function spawnProcess(
  sink: BackendSink,
  start: StartMessage,
  options: WorkerOptions,
): Backend {
  const env = checkEnv(options.env);
  let startFrame: Uint8Array;
  try {
    startFrame = serializeMessage(start);
  } catch (error) {
    throw unsendableError(
      start,
      sink.describe(),
      error,
      serializeError,
    );
  }
  const sender = usesSender(start);
  const child = launchProcess({
    args: (paths) => [
      ...childCommand(options, { ...paths, bootstrap: BOOTSTRAP }).args,
      ...(sender ? ["sender"] : []),
    ],
    connections: sender ? 2 : 1,
    env,
    onFrame: (frame) =>
      sink.message(
        isResultFrame(frame)
          ? { t: "results", results: [decodeResult(frame)] }
          : deserializeMessage<ChildMessage>(frame),
      ),
  });
  child.send(startFrame);
  child.exited.then((exit) => sink.exited(diedError(sink, exit)));
  return {
    waitsForExit: true,
    send(message) {
      // Items carry their arguments serialized at submit: framed as they
      // are. Anything else is serialized here (a bad value throws to the caller).
      if (message.t === "items") child.sendParts(encodeItems(message.items));
      else child.send(serializeMessage(message));
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

/**
 * Captures an item's arguments at submit. Primitives are immutable: an item
 * made only of them is kept as it is and serialized with its batch's
 * header (one serialization per message, not per item). Any other item is
 * serialized once, now: that captures it, and gives its size and the
 * clonability check; its bytes are then framed as they are (see
 * _protocol/items.ts).
 */
function captureArgs(args: readonly unknown[]): {
  args: unknown[] | Uint8Array;
  bytes: number;
} {
  let bytes = 0;
  for (const arg of args) {
    const type = typeof arg;
    if (type === "string") bytes += 8 + (arg as string).length * 3;
    else if (
      (type !== "object" || arg === null) && type !== "function" &&
      type !== "symbol"
    ) bytes += 16;
    else {
      const serialized = serializeMessage(args);
      return { args: serialized, bytes: serialized.length };
    }
  }
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot send ${bytes} bytes as the limit is ${MAX_MESSAGE_BYTES}`,
    );
  }
  return { args: [...args], bytes };
}

/** How process workers are started. */
export const processTransport: Transport = {
  spawn: spawnProcess,
  cloneError: serializeError,
  capture: captureArgs,
};
