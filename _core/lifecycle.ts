/**
 * The parent side of one worker, whatever kind: its state, its outcome and
 * the termination ladder. A kind (thread, process, remote) supplies a
 * {@linkcode Backend} that moves messages and can kill the child; this file
 * decides what they mean.
 *
 * @module
 */
import { WorkerDiedError, WorkerTerminatedError } from "../errors.ts";
import {
  asError,
  decodeError,
  type Encoded,
} from "../_protocol/error_codec.ts";
import type {
  ChildMessage,
  ItemResult,
  ParentMessage,
} from "../_protocol/messages.ts";
import type { WorkerId } from "../types.ts";
import { checkTimeout, within } from "../_protocol/time.ts";

/**
 * What a backend may tell the core, and all it may see of it: a backend
 * gets this narrow sink, not the core. Kind-specific messages (a thread's
 * "terminating") stay in the backend.
 */
export interface BackendSink {
  /** How messages name the worker (a noun phrase; capitalized for a sentence's start). */
  describe(capital?: boolean): string;
  /** A message from the child. */
  message(message: ChildMessage): void;
  /** The child is gone; if it had not reported, it died of `error`. */
  exited(error: Error): void;
}

/**
 * How long `terminate()` waits for a backend's `kill()` before it reports
 * the worker dead anyway: a wedged backend (a remote host that never
 * answers) must not hang `terminate()`.
 */
const KILL_BOUND_MS = 10_000;

/** What a worker kind provides to the core. */
export interface Backend {
  /** Sends a message to the child. Throws `TypeError` if it cannot be cloned. */
  send(message: ParentMessage): void;
  /** Asks the child to stop: sets its flag and aborts `ctx.signal`. */
  requestTerminate(): void;
  /**
   * Stops the child by force; resolves once it is gone, with a note when
   * that cannot be promised. Never rejects. The core waits for it at most
   * {@linkcode KILL_BOUND_MS}.
   */
  kill(): Promise<string | void>;
  /** Frees what is left once the child is gone (idempotent). */
  release(): void;
  /**
   * True when the child's report is not the end: the core then waits for
   * `sink.exited` (the process has exited and its channels are closed) before the
   * worker counts as finished.
   */
  readonly waitsForExit: boolean;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

/**
 * How one persistent item ended, as a pool needs to know it: its value, its
 * own failure (`by: "item"`), or its worker's end (`by: "worker"`: the item
 * was running, or next to run, when the worker died, or it never ran).
 */
export type ItemOutcome =
  | {
    readonly seq: number;
    readonly call: boolean;
    readonly ok: true;
    readonly value: unknown;
  }
  | {
    readonly seq: number;
    readonly call: boolean;
    readonly ok: false;
    readonly error: Error;
    readonly by: "item" | "worker";
    /** False when the item was never handed to the child, or waited behind the one that was running. */
    readonly ran: boolean;
  };

/**
 * Watches one worker's core. Several observers may watch one core (a pool
 * watches workers their user also watches); each method is optional.
 */
export interface CoreObserver {
  /** Each batch of item results, in order (persistent workers). */
  results?(results: readonly ItemResult[]): void;
  /** Each item's outcome, in order, once known (persistent workers). */
  item?(outcome: ItemOutcome): void;
  /** `close()` was called (persistent workers send `close` after their backlog). */
  closed?(): void;
  /** Once, when the worker has finished, after its outcome is set. */
  finished?(): void;
}

/** Every live worker this process created. */
export const activeCores: Set<Core> = new Set();

/** The lifecycle of one worker, seen from its parent. */
export class Core {
  /** The public object this core belongs to. */
  readonly owner: object;
  readonly name: string | undefined;
  readonly persistent: boolean;
  /** The kind's name ("thread", "process"), for messages. */
  readonly kind: string;
  /** What the backend sees of this core. */
  readonly sink: BackendSink;
  host: string;
  pid: number;
  tid: number;
  userState: unknown;
  readonly ready: Promise<void>;
  readonly finished: Promise<void>;
  readonly #observers = new Set<CoreObserver>();

  #backend: Backend | undefined;
  #outcome: Outcome | undefined;
  #reported: Outcome | undefined;
  #readySettled = false;
  #resolveReady!: () => void;
  #rejectReady!: (error: Error) => void;
  #resolveFinished!: () => void;
  #terminateRequested = false;
  #forcing = false;
  #closed = false;
  #started = false;
  /** Why the child said it is dying, before its exit is confirmed. */
  #dying: Error | undefined;
  /** The child's last uncaught error: the cause if it dies without a word. */
  #uncaught: Encoded | undefined;
  readonly #killBoundMs: number;

  constructor(
    owner: object,
    options: {
      name: string | undefined;
      persistent: boolean;
      id: WorkerId;
      initState: unknown;
      kind?: string;
      /** For tests: how long `terminate()` waits for `kill()`. */
      killBoundMs?: number;
    },
  ) {
    this.owner = owner;
    this.name = options.name;
    this.persistent = options.persistent;
    this.kind = options.kind ?? "";
    this.#killBoundMs = options.killBoundMs ?? KILL_BOUND_MS;
    this.sink = {
      describe: (capital) => this.describe(capital),
      message: (message) => this.onMessage(message),
      exited: (error) => this.onExit(error),
    };
    [this.host, this.pid, this.tid] = options.id;
    this.userState = options.initState;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // A caller who never awaits `ready` must not crash on its rejection.
    this.ready.catch(() => {});
    this.finished = new Promise<void>((resolve) => {
      this.#resolveFinished = resolve;
    });
  }

  /** Marks a worker that will never run: dead from the start, no error. */
  notRun(): void {
    this.#settleReady();
    this.#finish({ ok: true, value: undefined });
  }

  /** Marks a worker whose child could not be started: dead, with `error`. */
  fail(error: Error): void {
    this.#finish({ ok: false, error });
  }

  /** Attaches the backend of a started child. */
  attach(backend: Backend): void {
    this.#backend = backend;
    activeCores.add(this);
  }

  /**
   * Adds an observer; returns what removes it. A persistent worker's own
   * observer sends `close` when asked (the core leaves that to it).
   */
  observe(observer: CoreObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Tells the observers how an item ended (called by the persistent worker). */
  itemEnded(outcome: ItemOutcome): void {
    for (const observer of this.#observers) observer.item?.(outcome);
  }

  /**
   * How messages name this worker: by its name, else by its ids once the
   * child has reported them (before that they would be its parent's).
   */
  describe(capital = false): string {
    const phrase = this.name !== undefined
      ? `worker "${this.name}"`
      : this.#started
      ? `worker ${JSON.stringify([this.host, this.pid, this.tid])}`
      : `a ${this.kind ? `${this.kind} ` : ""}worker that has not started`;
    return capital ? phrase[0]!.toUpperCase() + phrase.slice(1) : phrase;
  }

  get alive(): boolean {
    return this.#outcome === undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get outcome(): Outcome | undefined {
    return this.#outcome;
  }

  /** Sends to the child (persistent input). */
  send(message: ParentMessage): void {
    this.#backend!.send(message);
  }

  /** Handles a message from the child. */
  onMessage(message: ChildMessage): void {
    switch (message.t) {
      case "ready":
        this.host = message.host;
        this.pid = message.pid;
        this.tid = message.tid;
        this.#started = true;
        this.#settleReady();
        break;
      case "uncaught":
        this.#uncaught = message.error;
        break;
      case "results":
        // Results after an uncaught error: the target handled it.
        this.#uncaught = undefined;
        for (const observer of this.#observers) {
          observer.results?.(message.results);
        }
        break;
      case "done":
        if (message.stateSent) this.userState = message.userState;
        this.#reported = message.ok
          ? { ok: true, value: message.value }
          : { ok: false, error: asError(decodeError(message.error!)) };
        if (!this.#backend?.waitsForExit) this.#finish(this.#reported);
        break;
      case "exit": {
        const error = message.error === undefined
          ? new WorkerDiedError(
            `${this.describe(true)} exited with code ${message.code}`,
            { exitCode: message.code },
          )
          : this.#diedOf(asError(decodeError(message.error)), message.code);
        // A process still has to exit and free its channels: keep the
        // reason until it has.
        if (this.#backend?.waitsForExit) this.#dying ??= error;
        else this.onExit(error);
        break;
      }
    }
  }

  /** The child is gone. If it had not reported, it died of `error`. */
  onExit(error: Error): void {
    if (!this.alive) return;
    this.#finish(
      this.#reported ??
        {
          ok: false,
          error: this.#forcing && !(error instanceof WorkerTerminatedError)
            ? this.#forcedError()
            : this.#dying ?? this.#diedOfUncaught(error) ?? error,
        },
    );
  }

  /** The death by the uncaught error the child noted, if it noted one. */
  #diedOfUncaught(exit: Error): WorkerDiedError | undefined {
    if (this.#uncaught === undefined || !(exit instanceof WorkerDiedError)) {
      return undefined;
    }
    return this.#diedOf(asError(decodeError(this.#uncaught)), exit.exitCode);
  }

  /** The death of a child by an uncaught error. */
  #diedOf(cause: Error, exitCode: number | undefined): WorkerDiedError {
    return new WorkerDiedError(
      `${this.describe(true)} died of an uncaught error: ${cause.message}`,
      {
        ...(exitCode === undefined ? {} : { exitCode }),
        reason: cause.message,
        cause,
      },
    );
  }

  #forcedError(note?: string | void): WorkerTerminatedError {
    return new WorkerTerminatedError(
      `${this.describe(true)} was terminated by force${
        note ? `: ${note}` : ""
      }`,
      { forced: true },
    );
  }

  #settleReady(error?: Error): void {
    if (this.#readySettled) return;
    this.#readySettled = true;
    if (error === undefined) this.#resolveReady();
    else this.#rejectReady(error);
  }

  #finish(outcome: Outcome): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    this.#settleReady(outcome.ok ? undefined : outcome.error);
    activeCores.delete(this);
    this.#backend?.release();
    for (const observer of this.#observers) observer.finished?.();
    this.#resolveFinished();
  }

  /** No more input will come. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.persistent || !this.alive) return;
    for (const observer of this.#observers) observer.closed?.();
  }

  /** `wait()`: close, then wait until dead or `timeout` ms. */
  async wait(timeout?: number): Promise<boolean> {
    const limit = checkTimeout("timeout", timeout ?? Infinity);
    this.close();
    if (!this.alive) return true;
    await within(this.finished, limit);
    return !this.alive;
  }

  /** The termination ladder: ask, wait `timeout`, then force if allowed. */
  async terminate(timeout: number, force: boolean): Promise<boolean> {
    checkTimeout("timeout", timeout);
    if (!this.alive) return true;
    if (!this.#terminateRequested) {
      this.#terminateRequested = true;
      this.#backend?.requestTerminate();
    }
    // A zero timeout only asks: no waiting, not even one turn of the loop.
    if (timeout > 0 && await within(this.finished, timeout)) return true;
    if (!force) return !this.alive;
    this.#forcing = true;
    let note: string | void = undefined;
    const killed = (this.#backend?.kill() ?? Promise.resolve()).then((n) => {
      note = n;
    });
    if (!await within(killed, this.#killBoundMs)) {
      note = `its ${
        this.kind || "worker"
      } backend did not confirm the kill within ${this.#killBoundMs} ms`;
    }
    this.onExit(this.#forcedError(note));
    return !this.alive;
  }
}
