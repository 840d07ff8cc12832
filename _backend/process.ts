/**
 * The process transport: a `deno run` subprocess running
 * _child/process_entry.ts, spoken to over a private Unix socket.
 *
 * ```
 *  parent                                   child (_child/process_entry.ts)
 *  ──────                                   ─────
 *  listen on a private Unix socket
 *  spawn `deno run <flags> bootstrap <socket>`
 *                      ◀── connect ───────  main thread (runs the target)
 *  start, items, close ─── socket ───────▶
 *                      ◀── socket ───────  ready, results, done
 *  terminate ───────────── socket ───────▶  main thread: abort ctx.signal
 *  1 ──────────────── control file ──────▶  polled by throwIfTerminated()
 *  SIGTERM, then SIGKILL (forced)
 *  (parent dies) ─── kernel: SIGKILL ────▶  (see _orphan_guard.ts)
 * ```
 *
 * @module
 */
import type { Backend, Core } from "../_core/lifecycle.ts";
import type { Transport } from "../_core/registry.ts";
import { killEscalating } from "./kill.ts";
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
import { FrameReader, FrameWriter } from "../_protocol/frames.ts";

const BOOTSTRAP = new URL("../_child/process_entry.ts", import.meta.url);

/** After SIGTERM, how long a child has before SIGKILL. */
const KILL_GRACE_MS = 500;

function spawnProcess(
  core: Core,
  start: StartMessage,
  options: WorkerOptions,
): Backend {
  let startFrame: Uint8Array;
  try {
    startFrame = serializeMessage(start);
  } catch (error) {
    throw unsendableError(
      start,
      `worker ${core.describe()}`,
      error,
      serializeError,
    );
  }
  const dir = Deno.makeTempDirSync({ prefix: "pyworkers-" });
  const socketPath = `${dir}/s`;
  const controlPath = `${dir}/c`;
  let listener: Deno.Listener | undefined;
  let controlFile: Deno.FsFile | undefined;
  let child: Deno.ChildProcess;
  try {
    listener = Deno.listen({ transport: "unix", path: socketPath });
    controlFile = Deno.openSync(controlPath, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    child = new Deno.Command(Deno.execPath(), {
      args:
        childCommand(options, { socketPath, controlPath, bootstrap: BOOTSTRAP })
          .args,
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
      ...(options.env === undefined ? {} : { env: options.env }),
    }).spawn();
  } catch (error) {
    listener?.close();
    controlFile?.close();
    Deno.removeSync(dir, { recursive: true });
    throw error;
  }
  const stopFile = controlFile;
  // Only the "thread" orphan guard reads stdin, and only for its end.
  const stdin = child.stdin.getWriter();
  let writer: FrameWriter | undefined;
  const early: Uint8Array[][] = [];

  const closeListener = () => {
    if (listener === undefined) return;
    try {
      listener.close();
    } catch {
      // already closed
    }
    listener = undefined;
    // At once: the child holds what it needs open (socket, control file), and
    // a parent that dies right after must leave as little behind as it can.
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  };

  const died = (status: Deno.CommandStatus, what: string, cause?: unknown) =>
    new WorkerDiedError(
      `Worker ${core.describe()} ${
        status.signal !== null
          ? `was killed by ${status.signal}`
          : `exited with code ${status.code}`
      }${what}`,
      {
        exitCode: status.code,
        ...(status.signal === null ? {} : { signal: status.signal }),
        ...(cause === undefined ? {} : { cause }),
      },
    );

  /** Talks to the child until it is gone, then frees everything and reports. */
  const run = async (): Promise<void> => {
    let conn: Deno.Conn | undefined;
    let failure: unknown;
    try {
      const accepted = listener!.accept().then((c) => c, () => undefined);
      const first = await Promise.race([accepted, child.status]);
      closeListener();
      conn = first !== undefined && "readable" in first
        ? first
        : await accepted;
      if (conn !== undefined && first !== undefined && "readable" in first) {
        writer = new FrameWriter(conn);
        writer.send(startFrame);
        for (const parts of early.splice(0)) writer.sendParts(parts);
        const reader = new FrameReader(conn);
        for (;;) {
          const frame = await reader.next();
          if (frame === null) break;
          core.onMessage(
            isResultFrame(frame)
              ? { t: "results", results: [decodeResult(frame)] }
              : deserializeMessage<ChildMessage>(frame),
          );
        }
      }
    } catch (error) {
      failure = error;
    }
    // The socket ended: the child is exiting, or was cut off. Make sure it
    // is gone, then free everything before the worker counts as finished.
    if (failure !== undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    const status = await child.status;
    closeListener();
    try {
      conn?.close();
    } catch {
      // already closed
    }
    await stdin.close().catch(() => {});
    stopFile.close();
    core.onExit(
      died(status, writer === undefined ? " before it started" : "", failure),
    );
  };
  const exited = run();

  return {
    waitsForExit: true,
    send(message) {
      // Items carry their arguments serialized at submit: framed as they
      // are. Anything else is serialized here (a bad value throws to the caller).
      const parts = message.t === "items"
        ? encodeItems(message.items)
        : [serializeMessage(message)];
      if (writer === undefined) early.push(parts);
      else {
        try {
          writer.sendParts(parts);
        } catch {
          // The socket broke: the child is gone or going, and run() reports
          // that once it has exited. Nothing to tell this caller.
        }
      }
    },
    requestTerminate() {
      // For the main thread (aborts ctx.signal) and, through the control
      // file, for throwIfTerminated() while the main thread is busy.
      this.send({ t: "terminate" });
      try {
        stopFile.writeSync(Uint8Array.of(1));
      } catch {
        // the child is gone: nothing left to ask
      }
    },
    async kill() {
      await killEscalating(child, KILL_GRACE_MS);
      await exited;
    },
    release() {
      // Everything is freed by run() once the child has exited.
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
