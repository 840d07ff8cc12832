/**
 * The pyworkers server: runs remote workers' jobs, each in its own
 * subprocess, for clients that prove they know its token.
 * `deno task server` runs it from the command line (server/main.ts);
 * {@linkcode RemoteServer} runs it in this process and
 * {@linkcode spawnServer} in a child process.
 *
 * @module
 */
import { tokenFrom } from "../_protocol/link_auth.ts";
import { SERVER_OPTION_NAMES } from "./_options.ts";
import { acceptLink } from "./_handshake.ts";
import { Session, type SessionHost } from "./_session.ts";
import { forDeno, ownOptions, positiveInteger } from "../_core/options.ts";
import { checkGrant } from "../_permissions/held.ts";
import { describeCeiling } from "../_permissions/ceiling.ts";
import type { FullGrant } from "../_permissions/grants.ts";
import { isLoopback, MAX_PRE_AUTH_FRAME } from "../_protocol/link.ts";
import { MAX_LINK_FRAME } from "../_protocol/link_handshake.ts";
import { checkTimeout } from "../_protocol/time.ts";
import { type PermissionDescriptor, WorkerType } from "../types.ts";

export { SpawnedServer, spawnServer } from "./_spawn.ts";
export { type SshServer, sshServer, type SshServerOptions } from "./_ssh.ts";

/** Options of a {@linkcode RemoteServer}; the CLI's flags mirror them. */
export interface RemoteServerOptions {
  /** The address to listen on. Beyond loopback a token is required. @default {"127.0.0.1"} */
  host?: string;
  /** The port; 0 picks a free one (see `address`). @default {6006} */
  port?: number;
  /**
   * The secret clients must prove they know (and this server proves to
   * them). @default {the PYWORKERS_TOKEN environment variable, else none}
   */
  token?: string;
  /** A PEM certificate file: serve TLS (with `key`). */
  cert?: string;
  /** The PEM private key file of `cert`. */
  key?: string;
  /**
   * Serve beyond loopback without TLS: anyone on the network path can then
   * read and rewrite jobs (the token still keeps strangers from starting
   * them). @default {false}
   */
  plaintext?: boolean;
  /**
   * The most any job may be granted (its client asks within it). "inherit"
   * is everything this server holds. @default {"none"}
   */
  permissions?: PermissionDescriptor;
  /** Connections open at once, authenticated or not. @default {256} */
  maxConnections?: number;
  /**
   * Connections open at once from one client address, authenticated or
   * not (one peer cannot hold every slot). @default {64}
   */
  maxConnectionsPerClient?: number;
  /** Jobs running at once. @default {64} */
  maxJobs?: number;
  /** Jobs running at once for one client address. @default {32} */
  maxJobsPerClient?: number;
  /** The largest frame after authentication, in bytes. @default {1 GiB} */
  maxFrame?: number;
  /** The largest frame before authentication, in bytes. @default {256} */
  preAuthBytes?: number;
  /** How long a client has to authenticate, in ms. @default {10000} */
  handshakeTimeout?: number;
  /** How long a client may stay silent before it is dropped, in ms (clients ping every 5 s). @default {30000} */
  silenceTimeout?: number;
  /** How long `drain()` lets running jobs finish, in ms. @default {30000} */
  drainTimeout?: number;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
  /** Also log each connection and handshake. @default {false} */
  verbose?: boolean;
}

/**
 * Options of {@linkcode spawnServer}: the server's, without `log` (a
 * spawned server logs to its stderr, which is this process's).
 *
 * @example
 * ```ts
 * import type { SpawnServerOptions } from "jsr:@x/pyworkers";
 *
 * const options: SpawnServerOptions = { port: 0, token: "s3cret" };
 * console.log(options.port);
 * ```
 */
export type SpawnServerOptions = Omit<RemoteServerOptions, "log">;

/** The shortest token a server beyond loopback accepts. */
const MIN_REMOTE_TOKEN_LENGTH = 16;

/**
 * The smallest pre-authentication cap: the handshake's own frames (a
 * 66-byte challenge, a refusal's reason) must fit, or nobody could connect.
 */
const MIN_PRE_AUTH_BYTES = 128;

function atLeast(min: number, name: string, value: number): number {
  if (value < min) {
    throw new RangeError(
      `Cannot use ${value} as ${name}: expected at least ${min} (the handshake's own frames must fit)`,
    );
  }
  return value;
}

/** A count option: its default only when absent (null is refused), else an integer >= 1. */
function limit(name: string, value: unknown, fallback: number): number {
  return positiveInteger(name, value === undefined ? fallback : value);
}

/**
 * Runs the server in this process.
 *
 * @example Serve on a free port, run a job, stop
 * ```ts
 * import { RemoteServer, RemoteWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using server = new RemoteServer({ port: 0, token: "s3cret", log: () => {} });
 * await server.serve();
 * const worker = new RemoteWorker({
 *   target: (x: number) => x * 2,
 *   args: [21],
 *   host: server.address,
 *   token: "s3cret",
 * });
 * await worker.wait();
 * assert.equal(worker.result, 42);
 * ```
 */
export class RemoteServer {
  readonly #host: string;
  readonly #port: number;
  readonly #token: string;
  readonly #tls: { cert: string; key: string } | undefined;
  readonly #ceiling: FullGrant;
  readonly #limits: {
    connections: number;
    connectionsPerClient: number;
    jobs: number;
    jobsPerClient: number;
    maxFrame: number;
    preAuthBytes: number;
    handshakeMs: number;
    silenceMs: number;
    drainMs: number;
  };
  readonly #log: (line: string) => void;
  readonly #verbose: boolean;
  #listener: Deno.Listener | undefined;
  #address: [string, number] | undefined;
  #accepting: Promise<void> | undefined;
  readonly #connections = new Set<Promise<void>>();
  /** Connections still in their handshake: a drain drops them. */
  /** Connections still in their handshake, oldest first, with their client's address. */
  readonly #handshaking = new Map<Deno.Conn, string>();
  /** Why a connection was closed in its handshake by this server, to log. */
  readonly #evicted = new Map<Deno.Conn, string>();
  readonly #sessions = new Set<Session>();
  readonly #jobsByClient = new Map<string, number>();
  #jobs = 0;
  #open = 0;
  readonly #openByClient = new Map<string, number>();
  #closing: Promise<void> | undefined;

  /**
   * Checks the options; `serve()` then listens.
   *
   * @param options Where to listen, the token, TLS, the job ceiling, limits.
   * @throws {TypeError} If an option is malformed, or the host is beyond
   * loopback without a token.
   * @throws {Deno.errors.NotCapable} If the ceiling grants what this
   * process does not hold.
   */
  constructor(options: RemoteServerOptions = {}) {
    const own = ownOptions(options, SERVER_OPTION_NAMES, "server options");
    this.#host = own.host ?? "127.0.0.1";
    if (typeof this.#host !== "string" || this.#host === "") {
      throw new TypeError(
        `Cannot use ${Deno.inspect(own.host)} as host: expected a string`,
      );
    }
    const port = own.port ?? 6006;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(
        `Cannot use ${Deno.inspect(port)} as port: expected 0 to 65535`,
      );
    }
    this.#port = port;
    this.#token = tokenFrom(own.token);
    if (this.#token === "" && !isLoopback(this.#host)) {
      throw new TypeError(
        `Cannot listen on ${this.#host} without a token: anyone who can ` +
          "reach it could run code here. Give --token (or PYWORKERS_TOKEN), " +
          "or listen on 127.0.0.1",
      );
    }
    if (
      !isLoopback(this.#host) && this.#token.length < MIN_REMOTE_TOKEN_LENGTH
    ) {
      throw new TypeError(
        `Cannot listen on ${this.#host} with a token of ${this.#token.length} ` +
          `characters: beyond loopback a token needs at least ` +
          `${MIN_REMOTE_TOKEN_LENGTH} (anyone who sees one handshake can ` +
          "try guesses offline)",
      );
    }
    if ((own.cert === undefined) !== (own.key === undefined)) {
      throw new TypeError("Cannot serve TLS with only one of cert and key");
    }
    if (
      !isLoopback(this.#host) && own.cert === undefined &&
      own.plaintext !== true
    ) {
      throw new TypeError(
        `Cannot listen on ${this.#host} without TLS: the token proves who ` +
          "connects, but only TLS keeps anyone on the network path from " +
          "reading or rewriting the jobs that follow. Give --cert and " +
          "--key, or --plaintext on a network you trust",
      );
    }
    this.#tls = own.cert === undefined
      ? undefined
      : { cert: own.cert, key: own.key! };
    this.#ceiling = checkGrant(
      own.permissions ?? "none",
      WorkerType.PROCESS,
    ) as FullGrant;
    this.#limits = {
      connections: limit("maxConnections", own.maxConnections, 256),
      connectionsPerClient: limit(
        "maxConnectionsPerClient",
        own.maxConnectionsPerClient,
        64,
      ),
      jobs: limit("maxJobs", own.maxJobs, 64),
      jobsPerClient: limit("maxJobsPerClient", own.maxJobsPerClient, 32),
      maxFrame: limit("maxFrame", own.maxFrame, MAX_LINK_FRAME),
      preAuthBytes: atLeast(
        MIN_PRE_AUTH_BYTES,
        "preAuthBytes",
        limit("preAuthBytes", own.preAuthBytes, MAX_PRE_AUTH_FRAME),
      ),
      handshakeMs: checkTimeout(
        "handshakeTimeout",
        own.handshakeTimeout ?? 10_000,
      ),
      silenceMs: checkTimeout("silenceTimeout", own.silenceTimeout ?? 30_000),
      drainMs: checkTimeout("drainTimeout", own.drainTimeout ?? 30_000),
    };
    const log = own.log ?? ((line: string) => console.error(line));
    this.#log = (line) => log(`[pyworkers server] ${line}`);
    this.#verbose = own.verbose === true;
  }

  /** `[host, port]` once listening (the port picked when 0 was asked). */
  get address(): [string, number] {
    if (this.#address === undefined) {
      throw new TypeError(
        "Cannot tell the address of a server that is not listening",
      );
    }
    return [...this.#address];
  }

  /** Starts listening; resolves once it does. */
  async serve(): Promise<void> {
    if (this.#listener !== undefined || this.#closing !== undefined) {
      throw new TypeError(
        "Cannot serve again: a RemoteServer serves once",
      );
    }
    const where = forDeno({
      hostname: this.#host,
      port: this.#port,
    });
    this.#listener = this.#tls === undefined
      ? Deno.listen(where)
      : Deno.listenTls(Object.assign(where, {
        cert: await Deno.readTextFile(this.#tls.cert),
        key: await Deno.readTextFile(this.#tls.key),
      }));
    const { hostname, port } = this.#listener.addr as Deno.NetAddr;
    this.#address = [hostname, port];
    this.#log(
      `listening on ${
        hostname.includes(":") ? `[${hostname}]` : hostname
      }:${port}${this.#tls ? " (TLS)" : ""}; jobs may hold ${
        describeCeiling(this.#ceiling)
      }${this.#token === "" ? "; no token (loopback only)" : ""}`,
    );
    this.#accepting = this.#acceptAll(this.#listener);
  }

  /**
   * Stops accepting, lets running jobs finish for `timeout` ms (default:
   * the `drainTimeout` option), then stops the rest (asked first, killed
   * after a second) and closes every connection. What SIGTERM does to the
   * CLI's server.
   */
  drain(timeout?: number): Promise<void> {
    return this.#closing ??= this.#drain(
      timeout === undefined
        ? this.#limits.drainMs
        : checkTimeout("timeout", timeout),
    );
  }

  /** Stops at once: every job is asked to stop, then killed; every connection closed. */
  close(): Promise<void> {
    return this.drain(0);
  }

  /** Closes the server (as `close()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #drain(timeoutMs: number): Promise<void> {
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    await this.#accepting;
    // A peer still in its handshake is no client yet: it is not waited for
    // (its deadline could be long past the drain's).
    for (const conn of this.#handshaking.keys()) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    const sessions = [...this.#sessions];
    if (timeoutMs > 0 && sessions.some((s) => s.jobs > 0)) {
      this.#log(
        `draining: ${this.#jobs} job(s) get ${timeoutMs} ms to finish`,
      );
      await Promise.all(sessions.map((s) => s.jobsEnded(timeoutMs)));
    }
    const reason = "the server is shutting down";
    await Promise.all(sessions.map((s) => s.stopJobs(1000, reason)));
    for (const session of sessions) session.end(reason);
    await Promise.all(this.#connections);
    this.#log("stopped");
  }

  async #acceptAll(listener: Deno.Listener): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // closed
      }
      try {
        // Nagle's algorithm off, as on the client (_backend/remote.ts):
        // relayed frames are coalesced already and must not wait for an ACK.
        if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      } catch {
        // a connection already reset: its handshake fails and is logged
      }
      const peer = conn.remoteAddr as Deno.NetAddr;
      const who = peer.hostname.includes(":")
        ? `[${peer.hostname}]:${peer.port}`
        : `${peer.hostname}:${peer.port}`;
      // At a limit, the oldest connection still in its handshake makes
      // room (an honest client authenticates in milliseconds, so a flood of
      // idle connections cannot lock it out); with none, the newcomer is
      // refused.
      const mine = this.#openByClient.get(peer.hostname) ?? 0;
      const full = this.#open >= this.#limits.connections
        ? `${this.#open} connections are open, the limit is ${this.#limits.connections}`
        : mine >= this.#limits.connectionsPerClient
        ? `${mine} connections from ${peer.hostname} are open, the limit per client is ${this.#limits.connectionsPerClient}`
        : undefined;
      if (
        full !== undefined &&
        !this.#evictOldestHandshake(
          this.#open >= this.#limits.connections ? undefined : peer.hostname,
          full,
        )
      ) {
        this.#log(`dropped ${who}: ${full}`);
        try {
          conn.close();
        } catch {
          // already gone
        }
        continue;
      }
      this.#open++;
      this.#openByClient.set(peer.hostname, mine + 1);
      const served = this.#serveConnection(conn, peer, who).finally(() => {
        this.#open--;
        const left = (this.#openByClient.get(peer.hostname) ?? 1) - 1;
        if (left === 0) this.#openByClient.delete(peer.hostname);
        else this.#openByClient.set(peer.hostname, left);
        this.#connections.delete(served);
      });
      this.#connections.add(served);
    }
  }

  /**
   * Closes the oldest connection still in its handshake (of `client`, if
   * given) to make room; false if there is none.
   */
  #evictOldestHandshake(client: string | undefined, why: string): boolean {
    for (const [conn, from] of this.#handshaking) {
      if (this.#evicted.has(conn)) continue;
      if (client !== undefined && from !== client) continue;
      this.#evicted.set(
        conn,
        `evicted: ${why}, and its handshake was the oldest pending`,
      );
      try {
        conn.close();
      } catch {
        // already gone
      }
      return true;
    }
    return false;
  }

  async #serveConnection(
    conn: Deno.Conn,
    peer: Deno.NetAddr,
    who: string,
  ): Promise<void> {
    if (this.#verbose) this.#log(`${who}: connected`);
    let channel;
    this.#handshaking.set(conn, peer.hostname);
    try {
      channel = await acceptLink(conn, {
        token: this.#token,
        deadlineMs: this.#limits.handshakeMs,
        preAuthBytes: this.#limits.preAuthBytes,
        maxFrame: this.#limits.maxFrame,
      });
    } catch (error) {
      this.#log(
        `dropped ${who}: ${
          this.#closing !== undefined
            ? "the server is shutting down"
            : this.#evicted.get(conn) ?? (error as Error).message
        }`,
      );
      return;
    } finally {
      this.#handshaking.delete(conn);
      this.#evicted.delete(conn);
    }
    if (this.#closing !== undefined) {
      channel.close();
      return;
    }
    if (this.#verbose) this.#log(`${who}: authenticated`);
    const session = new Session(channel, peer, this.#sessionHost);
    this.#sessions.add(session);
    const reason = await session.serve();
    this.#sessions.delete(session);
    this.#log(`${who}: disconnected: ${reason}`);
  }

  /** What sessions see of this server: its ceiling, its log and its job slots. */
  get #sessionHost(): SessionHost {
    return {
      ceiling: this.#ceiling,
      silenceMs: this.#limits.silenceMs,
      log: this.#log,
      debug: (line) => {
        if (this.#verbose) this.#log(line);
      },
      reserveJob: (client) => {
        const mine = this.#jobsByClient.get(client) ?? 0;
        if (this.#closing !== undefined) {
          return "Cannot start a job as the server is shutting down";
        }
        if (this.#jobs >= this.#limits.jobs) {
          return `Cannot start a job as ${this.#jobs} jobs are running, the server's limit`;
        }
        if (mine >= this.#limits.jobsPerClient) {
          return `Cannot start a job as this client runs ${mine} already, the limit per client`;
        }
        this.#jobs++;
        this.#jobsByClient.set(client, mine + 1);
        return undefined;
      },
      releaseJob: (client) => {
        this.#jobs--;
        const mine = (this.#jobsByClient.get(client) ?? 1) - 1;
        if (mine === 0) this.#jobsByClient.delete(client);
        else this.#jobsByClient.set(client, mine);
      },
    };
  }
}
