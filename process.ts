/**
 * {@linkcode ProcessWorker}: a target run in a `deno run` subprocess.
 *
 * ```
 *  parent                                   child (_process_bootstrap.ts)
 *  ──────                                   ─────
 *  listen on a private Unix socket
 *  spawn `deno run <flags> bootstrap <socket>`
 *                      ◀── connect ───────  main thread (runs the target)
 *  start, items, close ─── socket ───────▶
 *                      ◀── socket ───────  ready, results, done
 *  "T" (terminate) ──────── stdin ───────▶  control thread: flag + signal
 *  (parent dies: stdin ends) ────────────▶  control thread: stop, then kill self
 *  SIGTERM, then SIGKILL (forced)
 * ```
 *
 * @module
 */
import { registerKind, Worker } from "./_base.ts";
import type { Backend, Core } from "./_core.ts";
import { killEscalating } from "./_kill.ts";
import { WorkerDiedError } from "./errors.ts";
import {
  findConfig,
  grantFlags,
  inheritedGrant,
  normalizeGrant,
  withSetupGrants,
} from "./_permissions.ts";
import {
  deserializeMessage,
  serializeMessage,
  unclonableArgumentError,
} from "./_serialize.ts";
import { WorkerType, type WorkerOptions } from "./_types.ts";
import {
  type ChildMessage,
  FrameReader,
  FrameWriter,
  type ParentMessage,
  type StartMessage,
  TERMINATE_BYTE,
} from "./_wire.ts";

const BOOTSTRAP = new URL("./_process_bootstrap.ts", import.meta.url);

/** After SIGTERM, how long a child has before SIGKILL. */
const KILL_GRACE_MS = 500;

/** The flags and setup grants of the child's `deno run`. */
function childCommand(
  options: WorkerOptions,
  socketPath: string,
): { args: string[]; revoke: Deno.PermissionDescriptor[] } {
  const requested = normalizeGrant(options.permissions ?? "inherit");
  const base = requested === "inherit" ? inheritedGrant() : requested;
  const setup: Parameters<typeof withSetupGrants>[1] = [
    { name: "read", value: socketPath },
    { name: "write", value: socketPath },
  ];
  // The control thread needs `run` to kill an orphaned child. A partial
  // run grant cannot be kept beside it, so then the child relies on the
  // target unwinding instead.
  if (!Array.isArray(base.run)) setup.push({ name: "run" });
  if (BOOTSTRAP.protocol !== "file:") {
    setup.push({ name: "import", value: BOOTSTRAP.host });
  }
  const { grant, revoke } = withSetupGrants(base, setup);
  const config = findConfig();
  const args = [
    "run",
    "--no-prompt",
    "--no-lock",
    "--unstable-worker-options",
    config === null ? "--no-config" : `--config=${config.path}`,
    ...grantFlags(grant),
    BOOTSTRAP.href,
    socketPath,
    JSON.stringify(revoke),
  ];
  return { args, revoke };
}

function spawnProcess(
  core: Core,
  start: StartMessage,
  options: WorkerOptions,
): Backend {
  let startFrame: Uint8Array;
  try {
    startFrame = serializeMessage(start);
  } catch (error) {
    throw unclonableArgumentError(
      start.args,
      `worker ${core.describe()}`,
      error,
    );
  }
  const dir = Deno.makeTempDirSync({ prefix: "pyworkers-" });
  const socketPath = `${dir}/s`;
  let listener: Deno.Listener | undefined;
  let child: Deno.ChildProcess;
  try {
    listener = Deno.listen({ transport: "unix", path: socketPath });
    child = new Deno.Command(Deno.execPath(), {
      args: childCommand(options, socketPath).args,
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
      ...(options.env === undefined ? {} : { env: options.env }),
    }).spawn();
  } catch (error) {
    listener?.close();
    Deno.removeSync(dir, { recursive: true });
    throw error;
  }
  const control = child.stdin.getWriter();
  let conn: Deno.Conn | undefined;
  let writer: FrameWriter | undefined;
  const early: ParentMessage[] = [];
  let released = false;

  const cleanupListener = () => {
    try {
      listener?.close();
    } catch {
      // already closed
    }
    listener = undefined;
    Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  const describeExit = (status: Deno.CommandStatus) =>
    status.signal !== null
      ? `was killed by ${status.signal}`
      : `exited with code ${status.code}`;

  const run = async () => {
    const accepted = listener!.accept().then((c) => c, () => undefined);
    const first = await Promise.race([accepted, child.status]);
    cleanupListener();
    if (first === undefined || !("readable" in first)) {
      const status = await child.status;
      (await accepted)?.close();
      core.onExit(
        new WorkerDiedError(
          `Worker ${core.describe()} ${describeExit(status)} before it started`,
          {
            exitCode: status.code,
            ...(status.signal === null ? {} : { signal: status.signal }),
          },
        ),
      );
      return;
    }
    conn = first;
    writer = new FrameWriter(conn);
    writer.send(startFrame);
    for (const message of early.splice(0)) {
      writer.send(serializeMessage(message));
    }
    const reader = new FrameReader(conn);
    let readError: unknown;
    try {
      for (;;) {
        const frame = await reader.next();
        if (frame === null) break;
        core.onMessage(deserializeMessage<ChildMessage>(frame));
      }
    } catch (error) {
      readError = error;
    }
    // The socket ended: the child is exiting (or has been cut off).
    const status = await child.status;
    core.onExit(
      new WorkerDiedError(
        `Worker ${core.describe()} ${describeExit(status)}`,
        {
          exitCode: status.code,
          ...(status.signal === null ? {} : { signal: status.signal }),
          ...(readError === undefined ? {} : { cause: readError }),
        },
      ),
    );
  };
  run().catch((error) =>
    core.onExit(
      new WorkerDiedError(`Worker ${core.describe()} lost its channel`, {
        reason: String(error),
        cause: error,
      }),
    )
  );

  return {
    send(message) {
      const bytes = serializeMessage(message);
      if (writer === undefined) early.push(message);
      else writer.send(bytes);
    },
    requestTerminate() {
      control.write(Uint8Array.of(TERMINATE_BYTE)).catch(() => {});
    },
    kill: () => killEscalating(child, KILL_GRACE_MS),
    release() {
      if (released) return;
      released = true;
      cleanupListener();
      control.close().catch(() => {});
      // The child closes its end when it exits; closing ours ends our reader.
      child.status.then(() => {
        try {
          conn?.close();
        } catch {
          // already closed
        }
      });
    },
  };
}

/**
 * Runs a target in a new `deno run` subprocess. Arguments and results are
 * structured-cloned (V8 serialization). The target's output goes to this
 * process's stdout and stderr; the protocol uses a private socket.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result.
 *
 * @example Square a number in a subprocess
 * ```ts
 * import { ProcessWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ProcessWorker({ target: (x: number) => x ** 2, args: [5] });
 * await worker.wait();
 * assert.equal(worker.result, 25);
 * assert.notEqual(worker.pid, Deno.pid);
 * ```
 */
export class ProcessWorker<A extends unknown[] = unknown[], R = unknown>
  extends Worker<A, R> {
  /** `WorkerType.PROCESS`. */
  static readonly workerType: WorkerType = WorkerType.PROCESS;
  /** False. */
  static readonly isThread: boolean = false;
  /** True. */
  static readonly isProcess: boolean = true;
  /** False. */
  static readonly isRemote: boolean = false;

  /**
   * Starts the target in a new subprocess.
   *
   * @param options What to run and how; `permissions` become the child's
   * `--allow-*` flags and `env` is added to its environment.
   * @throws {TypeError} If the target cannot be shipped, an argument cannot
   * be cloned, or the permissions are invalid.
   */
  constructor(options: WorkerOptions<A, R>) {
    super(options);
  }
}

registerKind(ProcessWorker, {
  type: WorkerType.PROCESS,
  persistent: false,
  spawn: spawnProcess,
});
