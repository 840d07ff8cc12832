/**
 * Starting one `deno` child that speaks frames over a private Unix socket,
 * and freeing everything it used, without a worker or a core: process
 * workers use it now, the remote server will run each job with it.
 *
 * ```
 *  launcher                                  child
 *  ────────                                  ─────
 *  make <tmp>/pyworkers-<pid>-XXXX
 *  listen on s, create c (control file)
 *  spawn `deno <args>` (stdin piped)
 *                      ◀── connect ───────   open c, connect to s,
 *  free the listener, remove the dir          remove the dir (it may be faster)
 *  frames ─────────────── socket ─────────▶
 *                      ◀── socket ────────   frames
 *  requestStop(): 1 ──── control file ────▶
 *  kill(): SIGTERM, then SIGKILL (kill.ts)
 *  child exits: close socket, stdin, control file; `exited` resolves
 * ```
 *
 * The directory never outlives a start: whichever side gets there first
 * removes it once the child has connected; a child that cannot connect (its
 * parent is gone) removes it and exits; and directories of dead parents
 * (killed between making the directory and spawning) are swept at the next
 * launch.
 *
 * @module
 */
import { killEscalating } from "./kill.ts";
import { forDeno } from "../_core/options.ts";
import { within } from "../_protocol/time.ts";
import { FramedChannel } from "../_protocol/channel.ts";

/** After SIGTERM, how long a child has before SIGKILL. */
const KILL_GRACE_MS = 500;

/** What the directory names start with: the prefix, then the parent's pid. */
export const DIR_PREFIX = "pyworkers-";

/** Where a launched child finds its socket and control file. */
export interface LaunchPaths {
  /** The private directory holding both (the child removes it once connected). */
  readonly dir: string;
  readonly socketPath: string;
  readonly controlPath: string;
}

/** How to launch a child. */
export interface LaunchOptions {
  /** The child's `deno` arguments, given where its socket and control file are. */
  args(paths: LaunchPaths): string[];
  /** Variables added to the child's environment (the parent's, unless `clearEnv`). */
  env?: Record<string, string> | undefined;
  /** Start the child with `env` only, not the parent's environment. */
  clearEnv?: boolean | undefined;
  /**
   * Called with each frame the child sends, in order. If it throws, the
   * link is broken: the child is killed and `exited` carries the error.
   */
  onFrame(frame: Uint8Array): void;
  /**
   * Frames of at most this many bytes reach `onFrame` as views into the
   * read buffer, valid only during the call: for a caller that copies or
   * decodes each at once (a server relaying a job's frames). Default 0:
   * every frame is a copy of its own.
   */
  viewFrames?: number | undefined;
  /**
   * Called once the frames read so far have all been handed to `onFrame`
   * (also when it threw), before the next read waits: for a caller that
   * gathers consecutive frames into one message.
   */
  onBurstEnd?: (() => void) | undefined;
  /**
   * Where the child's stdout and stderr go: to this process's (the
   * default), or chunk by chunk to `onOutput` (a server relays a job's
   * output to its client).
   */
  onOutput?:
    | ((stream: "stdout" | "stderr", chunk: Uint8Array) => void)
    | undefined;
  /**
   * 2 for a child that connects twice (a persistent child's sender thread,
   * _child/sender.ts): frames to it go on its first connection, frames from
   * it come on its second. Default 1.
   */
  connections?: 1 | 2 | undefined;
}

/** How long output may keep coming after the child exited (a grandchild may hold its pipes). */
const OUTPUT_AFTER_EXIT_MS = 1000;

/** How a launched child ended, once everything it used is freed. */
export interface LaunchExit {
  readonly status: Deno.CommandStatus;
  /** Whether the child connected before it exited. */
  readonly connected: boolean;
  /** Why the link broke, when it did (the child was then SIGKILLed). */
  readonly error?: unknown;
}

/** A launched child. */
export interface LaunchedProcess {
  readonly pid: number;
  /** Sends a frame; frames sent before the child connects wait for it. Never throws. */
  send(frame: Uint8Array): void;
  /** Sends one frame made of `parts`, written without copying large ones. Never throws. */
  sendParts(parts: readonly Uint8Array[]): void;
  /** Writes the stop byte into the control file (read by the child's poll). */
  requestStop(): void;
  /** SIGTERM, then SIGKILL; resolves once the child is gone (or with a note). */
  kill(): Promise<string | void>;
  /** Resolves once the child has exited and everything is freed. Never rejects. */
  readonly exited: Promise<LaunchExit>;
}

/** Removes `path` and everything in it, if it is still there. */
function removeDir(path: string): void {
  try {
    Deno.removeSync(path, forDeno({ recursive: true }));
  } catch {
    // already gone
  }
}

/** Hands every chunk of `stream` to `onOutput` until it ends. */
async function relay(
  stream: ReadableStream<Uint8Array>,
  name: "stdout" | "stderr",
  onOutput: (stream: "stdout" | "stderr", chunk: Uint8Array) => void,
): Promise<void> {
  try {
    for await (const chunk of stream) {
      try {
        onOutput(name, chunk);
      } catch {
        // the receiver's failure is not the child's: keep draining
      }
    }
  } catch {
    // cancelled or broken: nothing more to relay
  }
}

/**
 * Hands every frame of `from` to `onFrame`, in order, until the stream
 * ends. Frames already buffered are handled at once, without a promise
 * each (a persistent child's results come many per read). No frame stays
 * referenced while the next is awaited: only the callback sees them (a
 * loop variable would keep a 200 MB result alive until the next frame).
 */
async function deliver(
  from: FramedChannel,
  onFrame: (frame: Uint8Array) => void,
  viewUpTo = 0,
  onBurstEnd?: () => void,
): Promise<void> {
  const handle = (frame: Uint8Array | null): boolean => {
    if (frame === null) return false;
    try {
      onFrame(frame);
      for (
        let next = from.take(viewUpTo);
        next !== undefined;
        next = from.take(viewUpTo)
      ) onFrame(next);
    } finally {
      onBurstEnd?.();
    }
    return true;
  };
  while (await from.next(viewUpTo).then(handle));
}

let swept = false;

/**
 * Removes the directories of parents that died before their child could
 * (a parent killed between making the directory and spawning). Once per
 * process, best effort, Linux only (it asks /proc whether a pid is alive),
 * and only for directories older than a minute, so that a live parent in
 * another pid namespace sharing this /tmp is never robbed mid-start.
 */
function sweepStaleDirs(tmp: string): void {
  if (swept || Deno.build.os !== "linux") return;
  swept = true;
  try {
    for (const entry of Deno.readDirSync(tmp)) {
      const pid = /^pyworkers-(\d+)-/.exec(entry.name)?.[1];
      if (!entry.isDirectory || pid === undefined) continue;
      const path = `${tmp}/${entry.name}`;
      try {
        Deno.statSync(`/proc/${pid}`);
        continue; // its parent is alive
      } catch {
        // its parent is gone
      }
      const mtime = Deno.statSync(path).mtime?.getTime() ?? Date.now();
      if (Date.now() - mtime > 60_000) removeDir(path);
    }
  } catch {
    // no permission to look: nothing swept
  }
}

/**
 * Starts a child. Throws (synchronously, having freed what it made) if it
 * cannot even be spawned.
 */
export function launchProcess(options: LaunchOptions): LaunchedProcess {
  const dir = Deno.makeTempDirSync(
    forDeno({ prefix: `${DIR_PREFIX}${Deno.pid}-` }),
  );
  const paths: LaunchPaths = {
    dir,
    socketPath: `${dir}/s`,
    controlPath: `${dir}/c`,
  };
  let listener: Deno.Listener | undefined;
  let controlFile: Deno.FsFile | undefined;
  let child: Deno.ChildProcess;
  try {
    listener = Deno.listen(
      forDeno({ transport: "unix", path: paths.socketPath } as const),
    );
    controlFile = Deno.openSync(
      paths.controlPath,
      forDeno({ write: true, createNew: true, mode: 0o600 }),
    );
    // On a null prototype: Deno.Command's `output()` reads `env` and `cwd`
    // through the prototype chain (measured on 2.8.2; `spawn()` happens not
    // to), so a polluted Object.prototype must not be able to reach them.
    const commandOptions: Deno.CommandOptions = forDeno({
      args: options.args(paths),
      // Only the "thread" orphan guard reads stdin, and only for its end.
      stdin: "piped",
      stdout: options.onOutput ? "piped" : "inherit",
      stderr: options.onOutput ? "piped" : "inherit",
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.clearEnv ? { clearEnv: true } : {}),
    });
    child = new Deno.Command(Deno.execPath(), commandOptions).spawn();
  } catch (error) {
    listener?.close();
    controlFile?.close();
    removeDir(dir);
    throw error;
  }
  sweepStaleDirs(dir.slice(0, dir.lastIndexOf("/")));
  const stopFile = controlFile;
  let stdin: WritableStreamDefaultWriter<Uint8Array>;
  let output: Promise<unknown> | undefined;
  try {
    stdin = child.stdin.getWriter();
    output = options.onOutput === undefined ? undefined : Promise.all([
      relay(child.stdout, "stdout", options.onOutput),
      relay(child.stderr, "stderr", options.onOutput),
    ]);
  } catch (error) {
    // Nothing may outlive a launch that throws.
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    listener.close();
    controlFile.close();
    removeDir(dir);
    throw error;
  }
  let channel: FramedChannel | undefined;
  let broken = false;
  const early: (readonly Uint8Array[])[] = [];

  const closeListener = (): void => {
    if (listener === undefined) return;
    try {
      listener.close();
    } catch {
      // already closed
    }
    listener = undefined;
    // At once: the child holds what it needs open (socket, control file),
    // and a parent that dies right after must leave nothing behind.
    removeDir(dir);
  };

  /** The child's next connection, or undefined if it exits first. */
  const acceptBeforeExit = async (): Promise<Deno.Conn | undefined> => {
    const accepted = listener!.accept().then((c) => c, () => undefined);
    const first = await Promise.race([accepted, child.status]);
    if (first !== undefined && "readable" in first) return first;
    closeListener();
    (await accepted)?.close();
    return undefined;
  };

  /** Talks to the child until it is gone, then frees everything. */
  const run = async (): Promise<LaunchExit> => {
    let error: unknown;
    let connected = false;
    /** The second connection of a child that makes two. */
    let back: Deno.Conn | undefined;
    let backChannel: FramedChannel | undefined;
    try {
      const accepted = listener!.accept().then((c) => c, () => undefined);
      const first = await Promise.race([accepted, child.status]);
      // The directory (and so the listener) stays until every connection
      // the child makes is in.
      if (
        first !== undefined && "readable" in first &&
        options.connections === 2
      ) back = await acceptBeforeExit();
      closeListener();
      const conn = first !== undefined && "readable" in first
        ? first
        : await accepted;
      if (conn !== undefined) {
        channel = new FramedChannel(conn);
        // Only a child that connected before it exited counts as connected;
        // a connection that won the race against a dead child is just closed.
        if (first !== undefined && "readable" in first) {
          connected = true;
          for (const parts of early.splice(0)) channel.sendParts(parts);
          const from = options.connections === 2
            ? back && (backChannel = new FramedChannel(back))
            : channel;
          if (from !== undefined) {
            await deliver(
              from,
              options.onFrame,
              options.viewFrames,
              options.onBurstEnd,
            );
          }
        }
      }
    } catch (caught) {
      error = caught;
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    // The socket ended: the child is exiting, or was cut off. Make sure it
    // is gone, then free everything before anyone hears it has exited.
    const status = await child.status;
    broken = true;
    closeListener();
    channel?.close();
    backChannel?.close();
    if (backChannel === undefined) back?.close();
    await stdin.close().catch(() => {});
    stopFile.close();
    if (output !== undefined && !await within(output, OUTPUT_AFTER_EXIT_MS)) {
      await Promise.all([
        child.stdout.cancel().catch(() => {}),
        child.stderr.cancel().catch(() => {}),
      ]);
    }
    return { status, connected, ...(error === undefined ? {} : { error }) };
  };
  const exited = run();

  return {
    pid: child.pid,
    send(frame) {
      this.sendParts([frame]);
    },
    sendParts(parts) {
      if (broken) return;
      if (channel === undefined) {
        early.push(parts);
        return;
      }
      try {
        channel.sendParts(parts);
      } catch {
        // The socket broke: the child is gone or going, and `exited` says
        // so once it has exited. Nothing to tell this caller.
      }
    },
    requestStop() {
      if (broken) return;
      try {
        stopFile.writeSync(Uint8Array.of(1));
      } catch {
        // the child is gone: nothing left to ask
      }
    },
    async kill() {
      const note = await killEscalating(child, KILL_GRACE_MS);
      if (note !== undefined) return note;
      await exited;
    },
    exited,
  };
}
