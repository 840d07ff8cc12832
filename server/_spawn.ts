/**
 * {@linkcode spawnServer}: the server in a child process, as a
 * {@linkcode ProcessWorker} whose target serves until it is asked to stop.
 * The child tells its address (the port it picked) over a one-use loopback
 * connection to the parent, proven by a nonce.
 *
 * @module
 */
import { ProcessWorker } from "../process.ts";
import type { SpawnServerOptions } from "./mod.ts";
import { SERVER_OPTION_NAMES } from "./_options.ts";
import { forDeno, ownOptions } from "../_core/options.ts";
import { within } from "../_protocol/time.ts";

/** How long a spawned server has to start listening. */
const START_BOUND_MS = 30_000;

/** A spawned server's options: the server's, but `log` (a function stays here). */
const NAMES = SERVER_OPTION_NAMES.filter((name) => name !== "log");

/**
 * A server running in a child process: a {@linkcode ProcessWorker} that
 * knows where it listens. `terminate()` stops it: running jobs get the
 * `drainTimeout` given to `spawnServer` (default none), then are stopped
 * through the ladder (their `ctx.signal`, a second, then killed), so their
 * clients see `WorkerTerminatedError`. Give `terminate()` a timeout longer
 * than `drainTimeout` plus a second, or the server is killed first (its jobs
 * die with it, and their clients see `WorkerDiedError`).
 */
export class SpawnedServer extends ProcessWorker<unknown[], void> {
  #address: [string, number] | undefined;

  /** `[host, port]` where the server listens. */
  get address(): [string, number] {
    if (this.#address === undefined) {
      throw new TypeError(
        "Cannot tell the address of a server not yet listening",
      );
    }
    return [...this.#address];
  }

  /** @internal Set once by spawnServer. */
  set listeningAt(address: [string, number]) {
    this.#address ??= address;
  }

  /** Stops the server (as `terminate({ timeout: 5000 })`). */
  override async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate({ timeout: 5000 });
  }
}

/**
 * Starts a server in a child process; resolves once it listens.
 *
 * @example A server on a free port, for this process's remote workers
 * ```ts
 * import { RemoteWorker, spawnServer } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using server = await spawnServer({ port: 0, token: "s3cret" });
 * const worker = new RemoteWorker({
 *   target: () => 6 * 7,
 *   host: server.address,
 *   token: "s3cret",
 * });
 * await worker.wait();
 * assert.equal(worker.result, 42);
 * ```
 *
 * @param options As for {@linkcode RemoteServer}, without `log`.
 * @returns The worker running the server, with its `address`.
 * @throws If the server cannot start (its error, e.g. a port in use).
 */
export async function spawnServer(
  options: SpawnServerOptions = {},
): Promise<SpawnedServer> {
  const own = { ...ownOptions(options, NAMES, "server options") };
  const listener = Deno.listen(
    forDeno({ hostname: "127.0.0.1", port: 0 }),
  );
  const nonce = crypto.randomUUID();
  let server: SpawnedServer;
  try {
    server = new SpawnedServer({
      target: {
        module: new URL("./_serve_target.ts", import.meta.url),
        name: "serveUntilStopped",
      },
      args: [own, (listener.addr as Deno.NetAddr).port, nonce],
      name: "pyworkers server",
    });
  } catch (error) {
    listener.close();
    throw error;
  }
  try {
    const told = readAddress(listener, nonce);
    const ended = server.wait().then(() => undefined);
    let first: [string, number] | undefined;
    const raced = Promise.race([told, ended]).then((address) =>
      first = address
    );
    if (!await within(raced, START_BOUND_MS)) {
      throw new Error(
        `Cannot start the server: it did not listen within ${START_BOUND_MS} ms`,
      );
    }
    if (first === undefined) {
      throw server.error ??
        new Error("Cannot start the server: it ended before it listened");
    }
    server.listeningAt = first;
    return server;
  } catch (error) {
    await server.terminate({ timeout: 0 });
    throw error;
  } finally {
    listener.close();
  }
}

/** The address the child tells, from the first connection with the right nonce. */
async function readAddress(
  listener: Deno.Listener,
  nonce: string,
): Promise<[string, number] | undefined> {
  for (;;) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch {
      return undefined;
    }
    try {
      const text = await new Response(conn.readable).text();
      const told = JSON.parse(text);
      if (told?.nonce === nonce) return told.address;
    } catch {
      // not our child: wait for it
    }
  }
}
