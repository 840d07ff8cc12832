/**
 * One authenticated client, seen from the server: the frames it sends,
 * its jobs (each its own child process, server/_job.ts), and its liveness.
 * A session ends when its client closes, breaks the link's rules or goes
 * silent, and then none of its jobs outlives it.
 *
 * @module
 */
import type { LaunchedProcess } from "../_backend/launcher.ts";
import type { FramedChannel } from "../_protocol/channel.ts";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  JOB_HEADER_BYTES,
  jobFrameOf,
  jobHeader,
  LinkError,
  type LinkFrame,
  type OpenJob,
} from "../_protocol/link.ts";
import { grantWithinCeiling } from "../_permissions/ceiling.ts";
import { covers, type FullGrant } from "../_permissions/grants.ts";
import type { PermissionDescriptor } from "../types.ts";
import { launchJob } from "./_job.ts";
import { within } from "../_protocol/time.ts";
import { serializeMessage } from "../_protocol/v8.ts";
import { COPIED_PAYLOAD_BYTES } from "../_protocol/frames.ts";

/** How many bytes of a job's output may wait for a slow client before more is dropped. */
const OUTPUT_BACKLOG_BYTES = 4 * 1024 * 1024;

/**
 * A job's frames up to this size are relayed straight from the launcher's
 * read buffer: the link's writer copies them before sendParts() returns, so
 * they need no copy of their own (an allocation costs about a microsecond
 * here, as much as the rest of relaying a persistent job's result).
 */
const RELAY_VIEW_BYTES = COPIED_PAYLOAD_BYTES - JOB_HEADER_BYTES;

/**
 * How long a job asked to stop at a session's end gets before it is
 * killed, and the client to read why the session ends.
 */
const END_GRACE_MS = 1000;

/** The worker protocol's stop request, as the job's child reads it. */
const TERMINATE_FRAME = serializeMessage({ t: "terminate" });

/** What a session needs from its server. */
export interface SessionHost {
  readonly ceiling: FullGrant;
  /** The longest a client may stay silent (it pings; see remote.ts). */
  readonly silenceMs: number;
  /** Logs a line (the server adds the time). */
  log(line: string): void;
  /** Logs a line only when verbose. */
  debug(line: string): void;
  /** Takes one job slot for `peer`, or says why not. */
  reserveJob(peer: string): string | undefined;
  /** Gives back a job slot of `peer`. */
  releaseJob(peer: string): void;
}

interface Job {
  readonly label: string;
  readonly child: LaunchedProcess;
  droppedOutput: number;
  /** Whether its client has sent it anything (its start message first). */
  started: boolean;
  /** Why the server stopped it itself, if it did (told to the client). */
  stoppedBy?: string;
}

/**
 * Why a module target cannot be imported here, or undefined: a `file:`
 * module must exist on this server (the client resolved it against its
 * own working directory). Other specifiers (`https:`, `jsr:`, `npm:`) are
 * left to the job's import, which names what failed.
 */
function missingModule(
  module: string | undefined,
  grant: FullGrant,
): string | undefined {
  if (module === undefined || !module.startsWith("file:")) return undefined;
  let path: string;
  try {
    path = decodeURIComponent(new URL(module).pathname);
    const readable = grant.read === true ||
      (Array.isArray(grant.read) &&
        grant.read.some((entry) => covers("read", entry, path)));
    if (!readable) return undefined;
    if (Deno.statSync(path).isFile) return undefined;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return undefined;
  }
  return `Cannot run module ${module} on this server as it does not exist ` +
    `here: a module target must be importable on the server (https:, ` +
    `jsr: or npm:, or a file: path that exists there)`;
}

/** One client's authenticated link. */
export class Session {
  readonly #channel: FramedChannel;
  readonly #host: SessionHost;
  /** The client's address, `host:port`. */
  readonly peer: string;
  /** The client's address without its port: what per-client limits count. */
  readonly client: string;
  readonly #jobs = new Map<number, Job>();
  /** Jobs this session has opened, for refusing a reused number. */
  readonly #opened = new Set<number>();
  #lastHeard = Date.now();
  #ending: string | undefined;
  /** Why the server stops this session's jobs (a drain), once it does. */

  constructor(
    channel: FramedChannel,
    peer: { hostname: string; port: number },
    host: SessionHost,
  ) {
    this.#channel = channel;
    this.#host = host;
    this.client = peer.hostname;
    this.peer = peer.hostname.includes(":")
      ? `[${peer.hostname}]:${peer.port}`
      : `${peer.hostname}:${peer.port}`;
  }

  /** How many of its jobs are running. */
  get jobs(): number {
    return this.#jobs.size;
  }

  /**
   * Serves the client until it leaves or is dropped; then ends every job
   * and resolves with why the session ended. Never rejects.
   */
  async serve(): Promise<string> {
    const watchdog = setInterval(() => {
      const silent = Date.now() - this.#lastHeard;
      if (silent > this.#host.silenceMs) {
        this.end(`the client was silent for ${silent} ms`);
      }
    }, Math.max(10, Math.min(1000, this.#host.silenceMs / 4)));
    let reason: string;
    try {
      for (;;) {
        const payload = await this.#channel.next();
        if (payload === null) {
          reason = "the client closed the connection";
          break;
        }
        this.#lastHeard = Date.now();
        if (this.#ending !== undefined) continue;
        this.#handle(payload);
      }
    } catch (error) {
      reason = this.#ending ?? (error as Error).message;
      // The client broke the link's rules (a frame over the limit, a
      // malformed one): it is told why, not just cut off.
      if (this.#ending === undefined) this.#send({ type: "close", reason });
    } finally {
      clearInterval(watchdog);
    }
    reason = this.#ending ?? reason;
    this.#ending ??= reason;
    // Its client is gone: each job is asked to stop (its ctx.signal, its
    // finally blocks), then killed.
    await this.#endJobs(END_GRACE_MS, `its client is gone: ${reason}`);
    this.#channel.close();
    // A write to a client that reads nothing stays pending even once the
    // connection is closed (Deno keeps the socket until it returns): the
    // session ends anyway, its slot freed.
    await within(this.#channel.drained(), END_GRACE_MS);
    return reason;
  }

  /**
   * Ends the session: tells the client why, and closes the link once that
   * is written (serve() then ends the jobs).
   */
  end(reason: string): void {
    if (this.#ending !== undefined) return;
    this.#ending = reason;
    this.#send({ type: "close", reason });
    const idle = this.#channel.idle;
    if (idle === undefined) this.#channel.close();
    else {
      // A client that reads nothing (stopped, or hostile) never lets the
      // queue drain: it gets a bounded time, then the link closes anyway.
      within(idle, END_GRACE_MS).finally(() => this.#channel.close());
    }
  }

  /**
   * Asks every job to stop, waits up to `graceMs` for them, then kills
   * what is left; resolves once all are gone. Their clients hear that they
   * were terminated, and `reason`.
   */
  async stopJobs(graceMs: number, reason: string): Promise<void> {
    await this.#endJobs(graceMs, reason);
  }

  /** Resolves once every job has ended on its own, or after `timeoutMs`. */
  async jobsEnded(timeoutMs: number): Promise<boolean> {
    return await within(
      Promise.all([...this.#jobs.values()].map((job) => job.child.exited)),
      timeoutMs,
    );
  }

  async #endJobs(graceMs: number, why: string): Promise<void> {
    const jobs = [...this.#jobs.values()];
    for (const job of jobs) {
      job.stoppedBy ??= why;
      // A job whose start message never came must not take a stop
      // request for it: it is only killed.
      if (!job.started) continue;
      // The graceful rung, as a client's terminate(): the message aborts
      // the target's ctx.signal, the control file reaches a busy loop.
      job.child.send(TERMINATE_FRAME);
      job.child.requestStop();
    }
    if (graceMs > 0) {
      await within(Promise.all(jobs.map((job) => job.child.exited)), graceMs);
    }
    await Promise.all(jobs.map((job) => job.child.kill()));
  }

  #send(frame: LinkFrame): void {
    try {
      this.#channel.send(encodeLinkFrame(frame));
    } catch {
      // The link broke: serve() ends when its read fails.
    }
  }

  #handle(payload: Uint8Array): void {
    // The hot path: a job's bytes, relayed without decoding or copying.
    const relayed = jobFrameOf(payload);
    if (relayed !== undefined) {
      const job = this.#jobs.get(relayed.job);
      if (job !== undefined) {
        job.started = true;
        job.child.send(relayed.bytes);
      } else if (!this.#opened.has(relayed.job)) {
        throw new LinkError(
          `Cannot relay a frame to job ${relayed.job} as this client never opened it`,
        );
      }
      // Else a job that has just exited: frames sent before the client
      // heard of it are dropped.
      return;
    }
    const frame = decodeLinkFrame(payload, {
      from: "client",
      authenticated: true,
    });
    switch (frame.type) {
      case "open":
        return this.#open(frame.job, frame.open);
      case "terminate":
        this.#jobs.get(frame.job)?.child.requestStop();
        return;
      case "kill": {
        const job = this.#jobs.get(frame.job);
        if (job !== undefined) {
          this.#host.log(`${job.label}: killed at the client's request`);
          job.child.kill();
        }
        return;
      }
      case "heartbeat":
        this.#send({ type: "heartbeat" });
        return;
      case "close":
        this.#ending ??= `the client closed the link: ${frame.reason}`;
        this.#channel.close();
        return;
    }
  }

  #open(id: number, open: OpenJob): void {
    if (this.#opened.has(id)) {
      this.end(`the client reused job number ${id}`);
      return;
    }
    this.#opened.add(id);
    const label = `job ${this.peer}#${id}${
      open.name === undefined ? "" : ` ${JSON.stringify(open.name)}`
    } (${JSON.stringify(open.target)})`;
    const refuse = (reason: string, name?: string): void => {
      this.#host.log(`${label}: refused: ${reason}`);
      this.#send({
        type: "error",
        job: id,
        reason,
        ...(name === undefined ? {} : { name }),
      });
    };
    let grant: FullGrant;
    try {
      grant = grantWithinCeiling(
        open.permissions as PermissionDescriptor,
        this.#host.ceiling,
      );
    } catch (error) {
      return refuse((error as Error).message, (error as Error).name);
    }
    // Only for a job that may read it: whether a file exists is not for a
    // client whose job could not look (its import then fails NotCapable).
    const missing = missingModule(open.module, grant);
    if (missing !== undefined) return refuse(missing, "NotFound");
    const full = this.#host.reserveJob(this.client);
    if (full !== undefined) return refuse(full, "Busy");
    const header = jobHeader(id);
    let job: Job;
    try {
      const child = launchJob({
        grant,
        env: open.env,
        sender: open.sender === true,
        onFrame: (frame) => this.#channel.sendParts([header, frame]),
        viewFrames: RELAY_VIEW_BYTES,
        onOutput: (stream, bytes) => {
          if (this.#channel.backlog > OUTPUT_BACKLOG_BYTES) {
            job.droppedOutput += bytes.length;
            return;
          }
          this.#send({ type: "output", job: id, stream, bytes });
        },
      });
      job = { label, child, droppedOutput: 0, started: false };
    } catch (error) {
      this.#host.releaseJob(this.client);
      return refuse(
        `Cannot start the job: ${(error as Error).message}`,
        (error as Error).name,
      );
    }
    this.#jobs.set(id, job);
    this.#host.log(`${label}: started as pid ${job.child.pid}`);
    job.child.exited.then(({ status, error }) => {
      this.#jobs.delete(id);
      this.#host.releaseJob(this.client);
      this.#host.log(
        `${label}: ended (${
          status.signal === null ? `code ${status.code}` : status.signal
        })${
          job.droppedOutput > 0
            ? `, ${job.droppedOutput} bytes of its output dropped (slow client)`
            : ""
        }${error === undefined ? "" : `: ${(error as Error).message}`}`,
      );
      this.#send({
        type: "exited",
        job: id,
        code: status.code,
        signal: status.signal,
        ...(job.stoppedBy === undefined ? {} : { stoppedBy: job.stoppedBy }),
      });
    });
  }
}
