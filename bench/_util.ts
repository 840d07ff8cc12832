import {
  type Worker,
  type WorkerContext,
  WorkerTerminatedError,
} from "../mod.ts";
/**
 * Helpers shared by the benchmarks and the memory script. Nothing here is
 * timed: these only start baselines, wait for children and clean up.
 *
 * @module
 */

/** A file in `bench/fixtures/`, as a URL. */
export function fixture(name: string): URL {
  return new URL(`./fixtures/${name}`, import.meta.url);
}

/** Path of a file in `bench/fixtures/`, for `deno run`. */
export function fixturePath(name: string): string {
  return fixture(name).pathname;
}

/**
 * The flags of a bare `deno run` child: the same switches a
 * `ProcessWorker` child gets (no prompt, no lock file, all permissions),
 * minus its bootstrap.
 */
export const RUN_FLAGS: readonly string[] = [
  "run",
  "--no-prompt",
  "--no-lock",
  "--allow-all",
];

/** Starts a bare `deno run` child of a fixture, stdout piped. */
export function spawnDeno(
  script: string,
  stdin: "piped" | "null" = "null",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, fixturePath(script)],
    stdin,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/**
 * Reads `stream` up to its first newline. Returns that line and a promise
 * that drains (and releases) the rest of the stream: await it during
 * cleanup so the pipe is never left half-read.
 */
export async function firstLine(
  stream: ReadableStream<Uint8Array>,
): Promise<{ line: string; drained: Promise<void> }> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before a full line: ${text}`);
    text += decoder.decode(value, { stream: true });
    const newline = text.indexOf("\n");
    if (newline >= 0) {
      const drained = (async () => {
        while (!(await reader.read()).done) {
          // discard
        }
        reader.releaseLock();
      })();
      return { line: text.slice(0, newline), drained };
    }
  }
}

/**
 * Waits until slot 0 of `flag` is no longer 0 (a child stored and notified
 * it). No sleeping: `Atomics.waitAsync` wakes on the child's notify.
 */
export async function waitForFlag(flag: Int32Array): Promise<void> {
  while (Atomics.load(flag, 0) === 0) {
    const result = Atomics.waitAsync(flag, 0, 0);
    if (result.async) await result.value;
  }
}

/**
 * Waits until process `pid` is gone (exited and reaped), polling `/proc`.
 * Used only in untimed cleanup, for children whose exit the library does not
 * expose (a `ProcessWorker` resolves `wait()` on its child's last message,
 * slightly before that child has exited). Throws if the child lingers: a
 * leak.
 */
export async function waitForExit(pid: number, limitMs = 5000): Promise<void> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    } catch {
      return; // gone
    }
    // A zombie has exited; Deno reaps it as soon as its status is awaited.
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return;
    if (performance.now() > deadline) {
      throw new Error(`Process ${pid} is still running after ${limitMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * A private Unix socket a `ProcessWorker` target connects to, so the bench
 * knows the target has started; the child's end closes when it exits, so
 * end-of-stream also tells when the process is gone.
 */
export class Rendezvous {
  readonly dir: string = Deno.makeTempDirSync({ prefix: "pyworkers-bench-" });
  readonly path: string = `${this.dir}/s`;
  readonly #listener: Deno.UnixListener = Deno.listen({
    transport: "unix",
    path: this.path,
  });

  /** Resolves with the connection once the target has connected. */
  accept(): Promise<Deno.UnixConn> {
    return this.#listener.accept();
  }

  /** Removes the socket. */
  close(): void {
    this.#listener.close();
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/** Waits until the peer of `conn` has closed it (its process exited), then closes it. */
export async function untilClosed(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64);
  try {
    while (await conn.read(buffer) !== null) {
      // the targets never write
    }
  } finally {
    conn.close();
  }
}

/** Throws unless `worker` ended terminated, gracefully or by force as expected. */
export function checkTerminated(
  worker: Worker,
  dead: boolean,
  forced: boolean,
): void {
  const error = worker.error;
  if (
    !dead || !(error instanceof WorkerTerminatedError) ||
    error.forced !== forced
  ) {
    throw new Error(
      `Expected a ${forced ? "forced" : "graceful"} termination, got ` +
        `dead=${dead}, error=${Deno.inspect(error)}`,
    );
  }
}

// Stop-bench targets, shared by terminate_bench.ts and compare.ts. They are
// shipped to workers as source, so each is self-contained.

/** Says it started (slot 0 of `sab`), then loops on `throwIfTerminated()`. */
export const gracefulThread = (
  sab: SharedArrayBuffer,
  ctx: WorkerContext,
): never => {
  const flag = new Int32Array(sab);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  for (;;) ctx.throwIfTerminated();
};

/**
 * Connects to `path` (held open until the process exits: its end tells the
 * bench it is gone), then loops on `throwIfTerminated()`.
 */
export const gracefulProcess = async (
  path: string,
  ctx: WorkerContext,
): Promise<never> => {
  const _conn = await Deno.connect({ transport: "unix", path });
  for (;;) ctx.throwIfTerminated();
};

/** Connects to `path`, then spins without ever looking at `ctx`. */
export const forcedProcess = async (path: string): Promise<never> => {
  const _conn = await Deno.connect({ transport: "unix", path });
  for (;;) {
    // spin
  }
};
