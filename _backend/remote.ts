/**
 * The remote transport: one TCP (or TLS) link per worker to a pyworkers
 * server, which runs the worker as a job in its own `deno` child
 * (server/_job.ts) and relays that child's frames as they are. The bytes
 * inside job frames are exactly a process worker's (child_wire.ts).
 *
 * ```
 *  client (this file)                 server                job's child
 *  ──────                             ──────                ───────────
 *  connect, handshake (remote_link.ts) ─▶ acceptLink
 *  open {permissions, env, ...}  ───▶  grant ∩ ceiling, launch ─▶
 *  job {start}, job {items} ...  ───▶  relayed ───────────────▶
 *                                ◀───  job {ready, results, done} ◀──
 *                                ◀───  output {stdout|stderr}  ◀── prints
 *  terminate  ─── job {terminate} + terminate ─▶ control file ─▶
 *  kill       ─── kill ────────────▶  SIGTERM, then SIGKILL
 *                                ◀───  exited {code, signal}
 *  heartbeat every interval ──────▶  answered; silence past 3 intervals
 *                                     ends the worker (WorkerDiedError)
 * ```
 *
 * @module
 */
import { forDeno } from "../_core/options.ts";
import { tokenFrom } from "../_protocol/link_auth.ts";
import type { Backend, BackendSink } from "../_core/lifecycle.ts";
import type { Transport } from "../_core/registry.ts";
import {
  captureArgs,
  checkEnv,
  decodeChildFrame,
  diedError,
  encodeParentMessage,
  encodeStart,
  ResultBatch,
  usesSender,
} from "./child_wire.ts";
import { connectLink } from "./remote_link.ts";
import {
  AuthenticationError,
  WorkerDiedError,
  WorkerTerminatedError,
} from "../errors.ts";
import { serializeError } from "../_protocol/v8.ts";
import { denoErrorClass } from "../_protocol/error_codec.ts";
import { within } from "../_protocol/time.ts";
import type { FramedChannel } from "../_protocol/channel.ts";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  isLoopback,
  jobFrameOf,
  jobHeader,
  type JobPermissions,
  LinkError,
  type LinkFrame,
  MAX_TARGET_LABEL,
} from "../_protocol/link.ts";
import type { StartMessage } from "../_protocol/messages.ts";
import type {
  PermissionDescriptor,
  RemoteOptions,
  WorkerOptions,
} from "../types.ts";

/** The default port of `deno task server`. */
export const DEFAULT_PORT = 6006;

/** How often a client pings its server by default, in ms. */
export const HEARTBEAT_MS = 5000;

/** Silent intervals after which the server counts as gone. */
const SILENT_INTERVALS = 3;

/** The names of {@linkcode RemoteOptions}, read as own properties only. */
export const REMOTE_OPTION_NAMES = [
  "host",
  "token",
  "tls",
  "heartbeat",
] as const;

/** Reads a `host` option. */
export function parseHost(host: unknown): { hostname: string; port: number } {
  const bad = (why: string): never => {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(host)
      } as host: ${why} (e.g. "127.0.0.1:6006" or ["127.0.0.1", 6006])`,
    );
  };
  let hostname: unknown;
  let port: unknown;
  if (Array.isArray(host) && host.length === 2) [hostname, port] = host;
  else if (typeof host === "string") {
    const match = /^(?:\[([^\]]+)\]|([^:\[\]]+))(?::(\d+))?$/.exec(host);
    if (match === null) return bad("expected host:port");
    hostname = match[1] ?? match[2];
    port = match[3] === undefined ? DEFAULT_PORT : Number(match[3]);
  } else return bad("expected a string or a [host, port] pair");
  if (typeof hostname !== "string" || hostname === "") {
    return bad("expected a host name");
  }
  if (
    !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535
  ) {
    return bad("expected a port from 1 to 65535");
  }
  return { hostname, port: port as number };
}

function tlsOf(tls: unknown): { caCerts?: string[] } | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return {};
  const caCerts = typeof tls === "object" && tls !== null &&
      Object.hasOwn(tls, "caCerts")
    ? (tls as { caCerts: unknown }).caCerts
    : undefined;
  if (
    (caCerts !== undefined &&
      !(Array.isArray(caCerts) &&
        caCerts.every((c) => typeof c === "string"))) ||
    typeof tls !== "object" || tls === null
  ) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(tls)
      } as tls: expected true or { caCerts: [PEM strings] }`,
    );
  }
  return caCerts === undefined ? {} : { caCerts: [...caCerts as string[]] };
}

/** The label of a target for the server's log. */
function targetLabel(start: StartMessage): string {
  const target = start.target;
  const label = target.kind === "module"
    ? `${target.module}#${target.name}`
    : "a function";
  return clip(label, MAX_TARGET_LABEL);
}

/** `text`, cut to `length` characters (the last an ellipsis) if longer. */
function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** What a remote job asks for: nothing unless said (the server's least grant). */
function requested(
  permissions: PermissionDescriptor | undefined,
): JobPermissions {
  return permissions === undefined ? "none" : permissions;
}

/** Writes a job's output where this process's own goes. */
function writeOutput(stream: "stdout" | "stderr", bytes: Uint8Array): void {
  try {
    const out = stream === "stdout" ? Deno.stdout : Deno.stderr;
    for (let done = 0; done < bytes.length;) {
      done += out.writeSync(bytes.subarray(done));
    }
  } catch {
    // a closed stdout loses the job's output, not the job
  }
}

/**
 * The longest heartbeat interval: a server drops a client silent for 30 s
 * by default, so a client must ping well within that.
 */
const MAX_HEARTBEAT_MS = 10_000;

/** Reads the `heartbeat` option: 1 to 10,000 ms. */
function heartbeatOf(value: unknown): number {
  if (value === undefined) return HEARTBEAT_MS;
  if (
    typeof value !== "number" || !(value >= 1 && value <= MAX_HEARTBEAT_MS)
  ) {
    throw new RangeError(
      `Cannot use ${
        Deno.inspect(value)
      } as heartbeat: expected 1 to ${MAX_HEARTBEAT_MS} ms (the server drops a client silent for 30 s)`,
    );
  }
  return value;
}

/**
 * Completes a TLS handshake within `deadlineMs`, or closes the connection
 * and throws. Done before anything is written: on Deno
 * 2.8.2 a write waiting for a handshake that never completes (a silent
 * peer) is not cancelled by close(), and the worker would wait for it for
 * ever (trial 5); a pending handshake() is.
 */
async function tlsHandshake(
  conn: Deno.TlsConn,
  deadlineMs: number,
): Promise<Deno.TlsConn> {
  const handshake = conn.handshake();
  let done = false;
  try {
    done = await within(handshake, deadlineMs);
  } catch (error) {
    conn.close();
    throw error;
  }
  if (!done) {
    conn.close();
    await handshake.catch(() => {});
    throw new DOMException(
      `Cannot complete the TLS handshake within ${deadlineMs} ms`,
      "TimeoutError",
    );
  }
  return conn;
}

/** The one job each link carries. */
const JOB = 1;

/**
 * Frames up to this size are handled straight from the link's read buffer
 * (onFrame decodes or copies each before the next read): a persistent
 * job's results come one small frame each, and a `new Uint8Array` costs
 * about a microsecond here.
 */
const VIEW_FRAME_BYTES = 64 * 1024;

function spawnRemote(
  sink: BackendSink,
  start: StartMessage,
  options: WorkerOptions & Partial<RemoteOptions>,
): Backend {
  const { hostname, port } = parseHost(options.host);
  const token = tokenFrom(options.token);
  if (token === "" && !isLoopback(hostname)) {
    // Without a token the handshake's key is public: any host there could
    // pose as the server and be sent this worker's target and arguments.
    throw new TypeError(
      `Cannot connect to ${hostname} without a token: anyone there could ` +
        "pose as the server and receive this worker's job. Give token (or " +
        "PYWORKERS_TOKEN), or connect to 127.0.0.1",
    );
  }
  const tls = tlsOf(options.tls);
  const heartbeatMs = heartbeatOf(options.heartbeat);
  // A server silent this long is gone: during the handshakes as after.
  const silenceMs = Math.max(1000, SILENT_INTERVALS * heartbeatMs);
  const env = checkEnv(options.env);
  const where = `${
    hostname.includes(":") ? `[${hostname}]` : hostname
  }:${port}`;
  const header = jobHeader(JOB);
  const early: (readonly Uint8Array[])[] = [
    [encodeLinkFrame({
      type: "open",
      job: JOB,
      open: {
        target: targetLabel(start),
        // A label for the server's log, however long the name.
        ...(start.name === undefined
          ? {}
          : { name: clip(start.name, MAX_TARGET_LABEL) }),
        ...(start.target.kind === "module"
          ? { module: start.target.module }
          : {}),
        permissions: requested(options.permissions),
        ...(env === undefined ? {} : { env: { ...env } }),
        sender: usesSender(start),
      },
    })],
    [header, encodeStart(sink, start)],
  ];
  let conn: Deno.Conn | undefined;
  /** Aborted when the connection attempt is over its deadline or the worker ends. */
  const connecting = new AbortController();
  let channel: FramedChannel | undefined;
  /** Set once the worker's end is known: nothing more is sent or reported. */
  let ended = false;
  let exitedHeard = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let markGone!: (note?: string) => void;
  /** Resolves once the link is over: with a note when the job's end was not heard. */
  const gone = new Promise<string | void>((resolve) => markGone = resolve);

  const sendParts = (parts: readonly Uint8Array[]): void => {
    if (ended) return;
    if (channel === undefined) {
      early.push(parts);
      return;
    }
    try {
      channel.sendParts(parts);
    } catch {
      // the link broke: the read loop reports it
    }
  };
  const sendControl = (frame: LinkFrame): void =>
    sendParts([encodeLinkFrame(frame)]);

  /** Ends the link; `error` is what the worker died of if it had not reported. */
  const finish = (error: Error, note?: string): void => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    connecting.abort();
    try {
      if (channel !== undefined) channel.close();
      else conn?.close();
    } catch {
      // already closed
    }
    markGone(note);
    sink.exited(error);
  };

  /** The results of one read reach the worker as one message. */
  const batch = new ResultBatch((message) => sink.message(message));

  /** Handles one frame; `payload` may be a view valid only during the call. */
  const onFrame = (payload: Uint8Array): void => {
    const relayed = jobFrameOf(payload);
    if (relayed !== undefined) {
      if (relayed.job !== JOB) return;
      // A result is decoded from the view at once (gathered with the
      // others of this read); anything else is copied first, as node:v8
      // may hand out views into the bytes it decodes.
      const bytes = relayed.bytes;
      if (!batch.add(bytes)) sink.message(decodeChildFrame(bytes.slice()));
      return;
    }
    batch.flush();
    const frame = decodeLinkFrame(payload, {
      from: "server",
      authenticated: true,
    });
    if ("job" in frame && frame.job !== JOB) {
      throw new LinkError(
        `Cannot accept a ${frame.type} frame for job ${frame.job}: this link carries job ${JOB} only`,
      );
    }
    switch (frame.type) {
      case "output":
        writeOutput(frame.stream, frame.bytes);
        return;
      case "exited":
        exitedHeard = true;
        finish(
          // Stopped by its server (a drain): the ladder's forced end, as
          // if this side had terminated it.
          frame.stoppedBy !== undefined && frame.signal !== null
            ? new WorkerTerminatedError(
              `${
                sink.describe(true)
              } was terminated by force by its server: ${frame.stoppedBy}`,
              { forced: true },
            )
            : diedError(sink, frame, true),
        );
        return;
      case "error":
        finish(refusal(frame.name, frame.reason));
        return;
      case "close":
        finish(
          new WorkerDiedError(
            `${
              sink.describe(true)
            } lost its server at ${where}, which closed the link: ${frame.reason}`,
          ),
          "the server closed the link; it ends a closed link's jobs",
        );
        return;
      case "heartbeat":
        return;
    }
  };

  const run = async (): Promise<void> => {
    // A host that never answers (gone from a routed network) would hold
    // the connection attempt for the OS's minutes: it gets the silence
    // bound, and an end of the worker meanwhile stops it (no op left).
    const deadline = setTimeout(
      () =>
        connecting.abort(
          new DOMException(
            `Cannot connect within ${silenceMs} ms`,
            "TimeoutError",
          ),
        ),
      silenceMs,
    );
    try {
      const at = forDeno({
        hostname,
        port,
        signal: connecting.signal,
      });
      const tcp = await Deno.connect(at);
      conn = tcp;
      if (tls !== undefined) {
        // startTls: connectTls takes no signal on Deno 2.8.2.
        conn = await tlsHandshake(
          await Deno.startTls(
            tcp,
            forDeno({ hostname, ...tls }),
          ),
          silenceMs,
        );
      }
    } catch (error) {
      if (ended) return;
      try {
        conn?.close();
      } catch {
        // closed by the failed handshake already
      }
      conn = undefined;
      finish(
        new WorkerDiedError(
          `${sink.describe(true)} cannot reach the server at ${where}: ${
            (error as Error).message
          }`,
          { cause: error },
        ),
      );
      return;
    } finally {
      clearTimeout(deadline);
    }
    if (ended) {
      conn.close();
      return;
    }
    try {
      // Deno leaves Nagle's algorithm on: a small frame written while an
      // earlier one is unacknowledged waits for the peer's delayed ACK
      // (~40 ms on loopback), which stalled a spawn's start frame and made
      // a persistent remote worker's stream ~10x a bare framed echo.
      // Frames are coalesced by FrameWriter already. (A TlsConn cannot
      // turn it off.)
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // a connection already reset: the handshake fails and says so
    }
    try {
      channel = await connectLink(conn, { token, deadlineMs: silenceMs });
    } catch (error) {
      conn = undefined; // closed by connectLink
      finish(
        error instanceof AuthenticationError ? error : new WorkerDiedError(
          `${sink.describe(true)} cannot link with the server at ${where}: ${
            (error as Error).message
          }`,
          { cause: error },
        ),
      );
      return;
    }
    if (ended) {
      channel.close();
      return;
    }
    for (const parts of early.splice(0)) channel.sendParts(parts);
    let lastHeard = Date.now();
    heartbeat = setInterval(() => {
      const silent = Date.now() - lastHeard;
      if (silent > SILENT_INTERVALS * heartbeatMs) {
        finish(
          new WorkerDiedError(
            `${
              sink.describe(true)
            } lost its server at ${where}: nothing heard for ${silent} ms`,
          ),
          "the server went silent",
        );
      } else sendControl({ type: "heartbeat" });
    }, heartbeatMs);
    try {
      for (;;) {
        const payload = await channel.next(VIEW_FRAME_BYTES);
        if (payload === null) break;
        lastHeard = Date.now();
        try {
          onFrame(payload);
          for (
            let next = channel.take(VIEW_FRAME_BYTES);
            next !== undefined;
            next = channel.take(VIEW_FRAME_BYTES)
          ) {
            onFrame(next);
          }
        } finally {
          batch.flush();
        }
      }
      finish(
        new WorkerDiedError(
          `${
            sink.describe(true)
          } lost its server at ${where}: the connection closed`,
        ),
        "the connection to the server closed",
      );
    } catch (error) {
      finish(
        new WorkerDiedError(
          `${sink.describe(true)} lost its server at ${where}: ${
            (error as Error).message
          }`,
          { cause: error },
        ),
        "the link to the server broke",
      );
    }
  };
  run();

  return {
    waitsForExit: true,
    send(message) {
      sendParts([header, ...encodeParentMessage(message)]);
    },
    requestTerminate() {
      this.send({ t: "terminate" });
      sendControl({ type: "terminate", job: JOB });
    },
    async kill() {
      if (!ended) {
        if (channel === undefined) {
          // Not linked yet: dropping the connection is the kill (a server
          // ends a lost client's jobs).
          finish(
            new WorkerDiedError(`${sink.describe(true)} was killed`),
          );
        } else sendControl({ type: "kill", job: JOB });
      }
      const note = await gone;
      return exitedHeard ? undefined : note ?? undefined;
    },
    release() {
      if (!ended) {
        ended = true;
        clearInterval(heartbeat);
        connecting.abort();
        channel?.close();
        markGone();
      }
    },
  };
}

/** The error a server's refusal of a job becomes: its class by name. */
function refusal(name: string | undefined, reason: string): Error {
  const DenoError = name === undefined ? undefined : denoErrorClass(name);
  return DenoError === undefined
    ? new WorkerDiedError(reason)
    : new DenoError(reason);
}

/** How remote workers are started. */
export const remoteTransport: Transport = {
  spawn: spawnRemote as Transport["spawn"],
  cloneError: serializeError,
  capture: captureArgs,
  optionNames: REMOTE_OPTION_NAMES,
};
