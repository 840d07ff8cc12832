/**
 * A pool of persistent workers of any kinds, mixed, fed from one input:
 * the original's single-producer, multiple-consumer `Pool`. It never loses
 * an item (a dead worker's items go to the others and the worker is
 * restarted in place), stops items that overrun their deadline, sends
 * items in chunks, and streams results back as they finish.
 *
 * @example Square numbers in a thread and a process
 * ```ts
 * import { Pool, WorkerType } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool({ target: (x: number) => x * x });
 * pool.addWorker(WorkerType.THREAD);
 * pool.addWorker(WorkerType.PROCESS);
 * const results = await pool.run([[1], [2], [3], [4]]);
 * assert.deepEqual(results.sort((a, b) => a - b), [1, 4, 9, 16]);
 * ```
 *
 * @module
 */
import { ownOptions, positiveInteger } from "./_core/options.ts";
import { checkTimeout } from "./_protocol/time.ts";
import { PoolError, type PoolFailure, WorkerClosedError } from "./errors.ts";
import {
  PersistentWorker,
  type PersistentWorkerOptions,
} from "./persistent.ts";
import {
  type RemoteOptions,
  type Target,
  type TargetArgs,
  WorkerType,
} from "./types.ts";
import type { PoolEvent } from "./_pool/events.ts";
import { Run, type RunHost, type RunSettings, type Sink } from "./_pool/run.ts";
import { Slot } from "./_pool/slot.ts";
import { backoffMs, Pauses } from "./_pool/backoff.ts";
import { HostSet, type NameServer } from "./_pool/hosts.ts";
import type { PoolStats } from "./_pool/stats.ts";
import type { Task } from "./_pool/task.ts";

export type { PoolEvent } from "./_pool/events.ts";
export type { PoolStats, WorkerStats } from "./_pool/stats.ts";
export type { NameServer } from "./_pool/hosts.ts";

/** Restarts per worker per run after deaths, by default. */
const MAX_RESTARTS = 5;
/** How long `close()` waits for each worker before terminating it, by default. */
const CLOSE_TIMEOUT = 5000;
/** Items an `imap` holds at most (read and not yet yielded), by default. */
const STREAM_HIGH_WATER_MARK = 1024;

/** Options of a {@linkcode Pool}.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import type { PoolOptions } from "jsr:@x/pyworkers";
 *
 * const options: PoolOptions<[number], number> = {
 *   target: (x) => x + 1,
 *   timeout: 5000,
 *   maxRestarts: 2,
 * };
 * console.log(options.maxRestarts); // 2
 * ```
 */
export interface PoolOptions<A extends unknown[] = unknown[], R = unknown> {
  /** What every worker runs, unless `addWorker` is given its own. */
  target?: Target<A, R> | undefined;
  /** Default leading arguments of every item (each item's replace them from the left). */
  args?: TargetArgs<A> | undefined;
  /** The pool's name: workers are named "<name> worker <n>". @default {"Pool"} */
  name?: string | undefined;
  /** How long `close()` waits for each worker before terminating it (ms). @default {5000} */
  closeTimeout?: number | undefined;
  /** Each item's deadline (ms from when it starts running), for every run; none by default (nor with `Infinity`). */
  timeout?: number | undefined;
  /** Items sent to a worker at once, for every run; automatic by default. */
  chunkSize?: number | undefined;
  /** Restarts per worker per run after deaths. @default {5} */
  maxRestarts?: number | undefined;
}

/** Options of one run of a {@linkcode Pool}.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import type { PoolRunOptions } from "jsr:@x/pyworkers";
 *
 * const options: PoolRunOptions<[number], number> = {
 *   onEvent: (event) => console.log(event.type),
 *   signal: AbortSignal.timeout(60_000),
 *   timeout: 1000,
 * };
 * console.log(options.timeout); // 1000
 * ```
 */
export interface PoolRunOptions<A extends unknown[] = unknown[], R = unknown> {
  /** Called for each event of the run, before the run settles. */
  onEvent?: ((event: PoolEvent<A, R>) => void) | undefined;
  /** Aborting it drops the queued items and stops the running ones through the ladder. */
  signal?: AbortSignal | undefined;
  /** Each item's deadline (ms from when it starts running; `Infinity`: none); the pool's by default. */
  timeout?: number | undefined;
  /** Items sent to a worker at once; the pool's, else automatic. */
  chunkSize?: number | undefined;
}

/** Options of `imap` and `imapUnordered`.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import type { PoolStreamOptions } from "jsr:@x/pyworkers";
 *
 * const options: PoolStreamOptions<[number], number> = { highWaterMark: 100 };
 * console.log(options.highWaterMark); // 100
 * ```
 */
export interface PoolStreamOptions<
  A extends unknown[] = unknown[],
  R = unknown,
> extends PoolRunOptions<A, R> {
  /**
   * Items read from the input and not yet yielded, at most: an endless
   * input runs in bounded memory. @default {1024}
   */
  highWaterMark?: number | undefined;
}

/** What `addWorker` takes: a persistent worker's options (any kind's), each optional.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import type { PoolWorkerOptions } from "jsr:@x/pyworkers";
 *
 * const options: PoolWorkerOptions<[number], number> = { name: "fast one", window: 2 };
 * console.log(options.name); // fast one
 * ```
 */
export type PoolWorkerOptions<A extends unknown[] = unknown[], R = unknown> =
  & PersistentWorkerOptions<A, R>
  & { readonly [option: string]: unknown };

/** What `addHosts` takes: where the servers are, and each remote worker's options.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import type { PoolHostsOptions } from "jsr:@x/pyworkers";
 *
 * const listed: PoolHostsOptions = {
 *   hosts: ["10.0.0.2:6006", "10.0.0.3:6006"],
 *   workersPerHost: 2,
 *   token: "a long shared secret",
 * };
 * const named: PoolHostsOptions = { hosts: "dns:workers.internal:6006" };
 * console.log(listed.workersPerHost, named.hosts); // 2 dns:workers.internal:6006
 * ```
 */
export type PoolHostsOptions<A extends unknown[] = unknown[], R = unknown> =
  & Omit<PersistentWorkerOptions<A, R>, "host">
  & Omit<RemoteOptions, "host">
  & {
    /**
     * The servers: a list of "host:port" (`["10.0.0.2:6006", "[::1]:6006"]`),
     * or `"dns:NAME:PORT"` for every A and AAAA record of NAME, looked up
     * again every `resolveInterval` ms.
     */
    hosts: readonly string[] | string;
    /** Remote workers per host. @default {1} */
    workersPerHost?: number | undefined;
    /** How often a `dns:` name is looked up again (ms). @default {30000} */
    resolveInterval?: number | undefined;
    /** The DNS server to ask for a `dns:` name; the system's by default. */
    nameServer?: NameServer | undefined;
  };

/** The hosts `addHosts` added, followed while the pool lives.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import { Pool, spawnServer } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using server = await spawnServer({ port: 0 });
 * const [host, port] = server.address;
 * await using pool = new Pool({ target: (x: number) => x + 1 });
 * const hosts = pool.addHosts({ hosts: [`${host}:${port}`] });
 * await hosts.ready;
 * assert.deepEqual(hosts.hosts, [`${host}:${port}`]);
 * assert.equal(hosts.workers.length, 1);
 * ```
 */
export interface PoolHosts<A extends unknown[] = unknown[], R = unknown> {
  /** Resolves once the first lookup is done and its hosts have workers (at once for a list). */
  readonly ready: Promise<void>;
  /** The hosts now ("ip:port"). */
  readonly hosts: readonly string[];
  /** The workers on the hosts now (those of hosts that left are not). */
  readonly workers: readonly PersistentWorker<A, R>[];
  /** Looks a `dns:` name up now; resolves once its changes are made. */
  refresh(): Promise<void>;
}

/** What a run's input may be.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example
 * ```ts
 * import type { PoolInput } from "jsr:@x/pyworkers";
 *
 * const list: PoolInput<[number], number> = [[1], [2]];
 * let n = 0;
 * const perWorker: PoolInput<[number], number> = () => n < 10 ? [n++] : undefined;
 * console.log(Array.isArray(list), typeof perWorker); // true function
 * ```
 */
export type PoolInput<A extends unknown[] = unknown[], R = unknown> =
  | Iterable<Partial<TargetArgs<A>>>
  | AsyncIterable<Partial<TargetArgs<A>>>
  | ((worker: PersistentWorker<A, R>) => Partial<TargetArgs<A>> | undefined);

/**
 * Waits for a run's end: an abort rethrows its reason as it is; any other
 * early stop becomes a `PoolError` with its message and cause, holding
 * what the caller has gathered (`partial`).
 */
async function runEnd<A extends unknown[], R>(
  run: { readonly done: Promise<void>; readonly aborted: boolean },
  partial: { results?: R[]; failures?: PoolFailure<A>[] },
): Promise<void> {
  try {
    await run.done;
  } catch (error) {
    if (run.aborted) throw error;
    throw new PoolError<A, R>((error as Error).message, {
      cause: (error as Error).cause,
      ...partial,
    });
  }
}

/** The most workers `addHosts` puts on one host. */
const MAX_WORKERS_PER_HOST = 256;

/**
 * A pool of persistent workers fed from one input. Add workers of any kind
 * with `addWorker`, then `run` an input through them.
 *
 * - Results come in completion order. An item whose own call throws is not
 *   retried: `run` rejects with a {@linkcode PoolError} holding the partial
 *   results and each failure.
 * - A worker that dies mid-run has its unfinished items re-queued on the
 *   others and is restarted in place (at most `maxRestarts` times per run);
 *   the death is charged to the item it was running, which fails for good
 *   once 3 workers died running it. If no worker is left, the run fails at
 *   once with what is done and what is not. A restart that fails (a remote
 *   worker whose host is down) is tried again after a backoff: 100 ms
 *   doubling up to 2 s, jittered, within `maxRestarts`.
 * - `addHosts` adds remote workers on every host of a list or of a DNS
 *   name, joining hosts that appear and draining hosts that vanish.
 * - `timeout` is each item's deadline: an item that overruns is stopped
 *   through the ladder (its `ctx.signal` aborts; after 1000 ms its worker
 *   is stopped by force), fails alone with a `TimeoutError` (even if it
 *   finishes during that grace), and its worker is restarted.
 *
 * @typeParam A The target's parameters.
 * @typeParam R The target's result for one item.
 *
 * @example Events, and a per-worker input
 * ```ts
 * import { Pool, WorkerType } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * await using pool = new Pool({ target: (x: number) => x + 1 });
 * pool.addWorker(WorkerType.THREAD);
 * let next = 0;
 * const types: string[] = [];
 * const results = await pool.run(() => (next < 3 ? [next++] : undefined), {
 *   onEvent: (event) => types.push(event.type),
 * });
 * assert.deepEqual(results, [1, 2, 3]);
 * assert.equal(types.filter((type) => type === "finished").length, 3);
 * assert.equal(types.at(-1), "idle");
 * ```
 */
export class Pool<A extends unknown[] = unknown[], R = unknown>
  implements AsyncDisposable {
  /** The pool's name. */
  readonly name: string;
  readonly #target: Target<A, R> | undefined;
  readonly #args: TargetArgs<A> | undefined;
  readonly #closeTimeout: number;
  readonly #timeout: number | undefined;
  readonly #chunkSize: number | undefined;
  readonly #maxRestarts: number;
  readonly #slots: Slot[] = [];
  readonly #host: RunHost;
  #added = 0;
  #run: Run | undefined;
  #closed = false;
  /** Closing or terminating: a worker's end is not healed. */
  #closing = false;
  readonly #healing = new Map<Slot, Promise<void>>();
  /** The waits between failed restarts (cut short when the pool goes away). */
  readonly #pauses = new Pauses();
  /** The host sets of `addHosts`, followed until the pool closes. */
  readonly #hostSets: HostSet[] = [];

  /**
   * Creates an empty pool; add workers with `addWorker`.
   *
   * @param options The default target and arguments, and the pool's limits.
   * @throws {TypeError} If `options` is not an object.
   * @throws {RangeError} If a duration is negative, `chunkSize` is not an
   * integer >= 1 or `maxRestarts` not an integer >= 0.
   */
  constructor(options: PoolOptions<A, R> = {}) {
    const own = ownOptions(options, [
      "target",
      "args",
      "name",
      "closeTimeout",
      "timeout",
      "chunkSize",
      "maxRestarts",
    ], "pool options");
    this.name = own.name ?? "Pool";
    this.#target = own.target;
    this.#args = own.args;
    this.#closeTimeout = checkTimeout(
      "closeTimeout",
      own.closeTimeout ?? CLOSE_TIMEOUT,
    );
    this.#timeout = own.timeout === undefined
      ? undefined
      : checkTimeout("timeout", own.timeout);
    this.#chunkSize = own.chunkSize === undefined
      ? undefined
      : positiveInteger("chunkSize", own.chunkSize);
    const maxRestarts = own.maxRestarts ?? MAX_RESTARTS;
    if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
      throw new RangeError(
        `Cannot use maxRestarts ${
          Deno.inspect(maxRestarts)
        }: expected an integer >= 0`,
      );
    }
    this.#maxRestarts = maxRestarts;
    const slots = this.#slots;
    this.#host = {
      slots,
      maxRestarts,
      heal: (slot) => this.#heal(slot),
      kick: (slot) => {
        if (this.#run !== undefined && !this.#run.settled) this.#run.kick(slot);
      },
    };
  }

  /**
   * Adds a persistent worker of the given kind, started at once (its
   * `ready` tells when it runs). Options default to the pool's target and
   * arguments, the name "<pool name> worker <n>" and the user id `n` (its
   * index); a run in progress hands it items at once.
   *
   * @param type Where it runs: `WorkerType.THREAD`, `PROCESS` or `REMOTE`.
   * @param options The worker's own options (a target of its own, say).
   * @returns The worker.
   * @throws {WorkerClosedError} If the pool is closed.
   * @throws {TypeError} If neither the worker nor the pool has a target, or
   * as `PersistentWorker.create` throws.
   */
  addWorker(
    type: WorkerType,
    options: PoolWorkerOptions<A, R> = {},
  ): PersistentWorker<A, R> {
    if (this.#closed) {
      throw new WorkerClosedError(
        `Cannot add a worker to ${this.#describe()} as it is closed`,
      );
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `Cannot use ${
          Deno.inspect(options)
        } as worker options: expected an object`,
      );
    }
    const n = this.#added;
    // Own properties only, whatever the kind's options are.
    const own: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(options)) {
      own[key] = (options as Record<string, unknown>)[key];
    }
    own.target ??= this.#target;
    own.args ??= this.#args;
    own.name ??= `${this.name} worker ${n}`;
    if (!Object.hasOwn(options, "userid")) own.userid = n;
    if (own.target == null) {
      throw new TypeError(
        `Cannot add a worker to ${this.#describe()} as neither it nor the pool has a target`,
      );
    }
    const worker = PersistentWorker.create<A, R>(
      type,
      own as PersistentWorkerOptions<A, R>,
    );
    this.#added++;
    const slot = new Slot(worker as PersistentWorker, {
      finished: (s) => this.#finished(s),
      ready: (s) => {
        if (this.#run !== undefined && !this.#run.settled) {
          this.#run.slotReady(s);
        }
      },
    });
    this.#slots.push(slot);
    // Not now: this may be called from the run's own callbacks (the input,
    // onEvent), in the middle of handing out items.
    queueMicrotask(() => this.#host.kick(slot));
    return worker;
  }

  /**
   * Adds remote workers on every host of a list, or of a DNS name
   * (`"dns:NAME:PORT"`: every A and AAAA record, looked up again every
   * `resolveInterval` ms). A host that appears gets `workersPerHost`
   * workers; a host that vanishes is drained: its workers take no more
   * items, finish those they have (any they lose go to the others) and are
   * closed. A name with no record left in 3 lookups in a row drains every
   * host; a lookup that fails otherwise changes nothing. Lookups stop (one
   * in flight is aborted) when the pool closes or is terminated. Await
   * `ready` before a run that needs the hosts.
   *
   * @param options Where the servers are, and each worker's options
   * (`token`, `tls`, `heartbeat`, `permissions`, a target of its own...).
   * @returns The hosts, followed while the pool lives.
   * @throws {WorkerClosedError} If the pool is closed.
   * @throws {TypeError} If `hosts` is neither a list of "host:port" nor
   * "dns:NAME:PORT", or as `addWorker` throws.
   * @throws {RangeError} If `workersPerHost` is not an integer >= 1 or
   * `resolveInterval` not a number of ms >= 1.
   */
  addHosts(options: PoolHostsOptions<A, R>): PoolHosts<A, R> {
    if (this.#closed) {
      throw new WorkerClosedError(
        `Cannot add hosts to ${this.#describe()} as it is closed`,
      );
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `Cannot use ${
          Deno.inspect(options)
        } as hosts options: expected an object`,
      );
    }
    const { hosts, workersPerHost, resolveInterval, nameServer, ...rest } =
      ownOptions(options, Object.keys(options) as never, "hosts options") as
        & PoolHostsOptions<A, R>
        & Record<string, unknown>;
    const perHost = positiveInteger("workersPerHost", workersPerHost ?? 1);
    if (perHost > MAX_WORKERS_PER_HOST) {
      throw new RangeError(
        `Cannot use ${perHost} as workersPerHost: expected at most ${MAX_WORKERS_PER_HOST} (a server runs 32 jobs per client by default)`,
      );
    }
    delete rest.host;
    const byHost = new Map<string, PersistentWorker<A, R>[]>();
    const set = new HostSet(hosts, {
      join: (address) => {
        const workers: PersistentWorker<A, R>[] = [];
        for (let i = 0; i < perHost; i++) {
          workers.push(
            this.addWorker(WorkerType.REMOTE, {
              ...rest,
              host: address,
            } as PoolWorkerOptions<A, R>),
          );
        }
        byHost.set(address, workers);
      },
      leave: (address) => {
        for (const worker of byHost.get(address) ?? []) this.#retire(worker);
        byHost.delete(address);
      },
    }, {
      ...(resolveInterval === undefined ? {} : { resolveInterval }),
      ...(nameServer === undefined ? {} : { nameServer }),
    });
    this.#hostSets.push(set);
    return {
      ready: set.ready,
      get hosts() {
        return set.hosts;
      },
      get workers() {
        return Object.freeze([...byHost.values()].flat());
      },
      refresh: () => set.refresh(),
    };
  }

  /** Lets a worker go for good once it has finished its items (its host left). */
  #retire(worker: PersistentWorker<A, R>): void {
    const slot = this.#slots.find((slot) => slot.worker === worker);
    if (slot === undefined || slot.retired) return;
    slot.retired = true;
    // Restarting: #heal drains it once it is back (or gives up).
    if (slot.state !== "ready") return;
    this.#drain(slot);
  }

  #drain(slot: Slot): void {
    slot.state = "draining";
    slot.disarm();
    if (slot.worker.isAlive()) slot.worker.close();
    else this.#finished(slot);
  }

  /** The pool's workers, in the order added (dead ones included). */
  get workers(): readonly PersistentWorker<A, R>[] {
    return Object.freeze(
      this.#slots.map((slot) => slot.worker as PersistentWorker<A, R>),
    );
  }

  /** The current run's counters (the last run's once it ended); undefined before any run. */
  get stats(): PoolStats<PersistentWorker<A, R>> | undefined {
    return this.#run?.stats.snapshot(
      this.workers,
    ) as PoolStats<PersistentWorker<A, R>> | undefined;
  }

  #describe(): string {
    return `pool "${this.name}"`;
  }

  #finished(slot: Slot): void {
    if (this.#closing) return;
    if (slot.state === "draining") {
      // Its host left and it has finished: not a death, nothing to heal.
      slot.state = "dead";
      slot.unwatch();
      this.#host.kick(slot);
      return;
    }
    const run = this.#run;
    if (run !== undefined && !run.settled) run.slotFinished(slot);
  }

  /** Renews a slot's worker in place, retrying while restarts remain. */
  #heal(slot: Slot): Promise<void> {
    const current = this.#healing.get(slot);
    if (current !== undefined) return current;
    slot.state = "restarting";
    const healing = (async () => {
      let failures = 0;
      for (;;) {
        if (this.#closing || slot.retired) {
          slot.state = "dead";
          return;
        }
        try {
          await slot.worker.restart(0);
          slot.watch();
          slot.stopping = false;
          slot.timedOut = undefined;
          slot.idle = false;
          slot.state = "ready";
          if (slot.retired) this.#drain(slot);
          return;
        } catch {
          if (this.#closing || ++slot.restarts > this.#maxRestarts) {
            slot.state = "dead";
            return;
          }
          // Its host may be down (a remote worker): give it time to come back.
          await this.#pauses.pause(backoffMs(++failures));
        }
      }
    })().finally(() => {
      this.#healing.delete(slot);
      this.#host.kick(slot);
    });
    this.#healing.set(slot, healing);
    return healing;
  }

  /** Starts a run (one at a time), reviving workers that ended since the last one. */
  #begin(
    input: unknown,
    options: PoolStreamOptions<A, R> | undefined,
    sink: Sink,
  ): Run {
    if (this.#closed) {
      throw new WorkerClosedError(
        `Cannot run on ${this.#describe()} as it is closed`,
      );
    }
    if (this.#run !== undefined && !this.#run.settled) {
      throw new Error(
        `Cannot start a run on ${this.#describe()} as another run is in progress`,
      );
    }
    const own = ownOptions(options, [
      "onEvent",
      "signal",
      "timeout",
      "chunkSize",
    ], "run options");
    if (own.onEvent !== undefined && typeof own.onEvent !== "function") {
      throw new TypeError(
        `Cannot use ${
          Deno.inspect(own.onEvent)
        } as onEvent: expected a function`,
      );
    }
    if (own.signal !== undefined && !(own.signal instanceof AbortSignal)) {
      throw new TypeError(
        `Cannot use ${
          Deno.inspect(own.signal)
        } as signal: expected an AbortSignal`,
      );
    }
    // Given (null too) it is checked, as the constructor does.
    const timeout = own.timeout === undefined
      ? this.#timeout
      : checkTimeout("timeout", own.timeout);
    const settings: RunSettings = {
      onEvent: own.onEvent as RunSettings["onEvent"],
      signal: own.signal,
      // Infinity is no deadline (and leaves chunks on).
      timeout: timeout === Infinity ? undefined : timeout,
      chunkSize: own.chunkSize === undefined
        ? this.#chunkSize
        : positiveInteger("chunkSize", own.chunkSize),
    };
    for (const slot of this.#slots) {
      slot.restarts = 0;
      slot.exhausted = false;
      slot.idle = false;
    }
    const run = new Run(this.#host, input, settings, sink);
    this.#run = run;
    for (const slot of this.#slots) {
      if (
        !slot.worker.isAlive() && slot.state !== "restarting" && !slot.retired
      ) {
        void this.#heal(slot);
      }
    }
    run.start();
    return run;
  }

  /**
   * Runs every item of `input` through the workers.
   *
   * @param input An iterable or async iterable of argument arrays (each
   * replaces the default `args` from the left), or a function giving each
   * worker its next arguments (`undefined`: that worker gets no more).
   * @param options Events, a signal, a deadline per item, a chunk size.
   * @returns The results, in completion order.
   * @throws {PoolError} If an item failed (with the partial results and
   * every failure), or the run could not finish (no worker left, the pool
   * was terminated: every item taken is a result or a failure), or the
   * input threw (once the items taken have ended; its error is the cause).
   * @throws {WorkerClosedError} If the pool is closed.
   * @throws {Error} If another run (or `imap`) of this pool is in progress.
   * @throws {RangeError} If `timeout` is not a number >= 0, or `chunkSize`
   * not an integer >= 1.
   * @throws The signal's reason if it was aborted.
   */
  async run(
    input: PoolInput<A, R>,
    options?: PoolRunOptions<A, R>,
  ): Promise<R[]> {
    const results: R[] = [];
    const failures: PoolFailure<TargetArgs<A>>[] = [];
    const run = this.#begin(input, options, {
      value: (_task, value) => results.push(value as R),
      failure: (task, error) =>
        failures.push({ args: task.args as TargetArgs<A>, error }),
      admit: () => true,
    });
    await runEnd<TargetArgs<A>, R>(run, { results, failures });
    if (failures.length > 0) {
      throw new PoolError<TargetArgs<A>, R>(
        `${failures.length} of ${
          failures.length + results.length
        } items failed; the first: ${failures[0]!.error.message}`,
        { results, failures },
      );
    }
    return results;
  }

  /**
   * Runs `input` as `run` does, yielding each result in input order as
   * soon as it and those before it are done. At most `highWaterMark` items
   * are read and not yet yielded, so an endless input runs in bounded
   * memory. Leaving the loop early stops reading the input (items running
   * finish unheard).
   *
   * @param input As for `run`.
   * @param options As for `run`, and `highWaterMark` (default 1024).
   * @returns An async iterator over the results.
   * @throws {PoolError} When the next result is an item's failure (or the run could not go on).
   * @throws {Error} At the first `next()`, if another run of this pool is in progress.
   */
  imap(
    input: PoolInput<A, R>,
    options?: PoolStreamOptions<A, R>,
  ): AsyncIterableIterator<R> {
    return this.#stream(input, options, true);
  }

  /**
   * As `imap`, yielding each result as soon as it is done (completion order).
   *
   * @param input As for `run`.
   * @param options As for `imap`.
   * @returns An async iterator over the results.
   * @throws {PoolError} When an item failed (or the run could not go on).
   */
  imapUnordered(
    input: PoolInput<A, R>,
    options?: PoolStreamOptions<A, R>,
  ): AsyncIterableIterator<R> {
    return this.#stream(input, options, false);
  }

  async *#stream(
    input: PoolInput<A, R>,
    options: PoolStreamOptions<A, R> | undefined,
    ordered: boolean,
  ): AsyncIterableIterator<R> {
    const highWaterMark = positiveInteger(
      "highWaterMark",
      ownOptions(options, ["highWaterMark"], "stream options").highWaterMark ??
        STREAM_HIGH_WATER_MARK,
    );
    type Outcome = { task: Task; ok: boolean; value: unknown };
    const arrived: Outcome[] = [];
    const byIndex = new Map<number, Outcome>();
    let yielded = 0;
    let wake: (() => void) | undefined;
    const arrive = (outcome: Outcome) => {
      if (ordered) byIndex.set(outcome.task.index, outcome);
      else arrived.push(outcome);
      wake?.();
    };
    const run = this.#begin(input, options, {
      value: (task, value) => arrive({ task, ok: true, value }),
      failure: (task, error) => arrive({ task, ok: false, value: error }),
      admit: (read) => read - yielded < highWaterMark,
    });
    run.done.then(() => wake?.(), () => wake?.());
    try {
      for (;;) {
        const outcome = ordered ? byIndex.get(yielded) : arrived.shift();
        if (outcome !== undefined) {
          if (ordered) byIndex.delete(yielded);
          yielded++;
          if (!outcome.ok) {
            const error = outcome.value as Error;
            throw new PoolError<TargetArgs<A>, R>(
              `Item ${outcome.task.index} failed: ${error.message}`,
              {
                cause: error,
                failures: [{ args: outcome.task.args as TargetArgs<A>, error }],
              },
            );
          }
          run.kickAll(); // room for more input
          yield outcome.value as R;
          continue;
        }
        if (run.settled) {
          await runEnd<TargetArgs<A>, R>(run, {});
          if (ordered ? byIndex.size === 0 : arrived.length === 0) return;
          continue;
        }
        await new Promise<void>((resolve) => wake = resolve);
        wake = undefined;
      }
    } finally {
      run.cancel();
    }
  }

  /**
   * Renews every worker in place (each closes, gets up to `timeout` ms to
   * finish, and is terminated if it does not; then a new child starts).
   *
   * @param timeout How long each worker may take to finish, in ms. @default {1000}
   * @returns Resolves once every worker is ready again.
   * @throws {WorkerClosedError} If the pool is closed.
   * @throws {Error} If a run is in progress.
   */
  async restartWorkers(timeout = 1000): Promise<void> {
    checkTimeout("timeout", timeout);
    if (this.#closed) {
      throw new WorkerClosedError(
        `Cannot restart the workers of ${this.#describe()} as it is closed`,
      );
    }
    if (this.#run !== undefined && !this.#run.settled) {
      throw new Error(
        `Cannot restart the workers of ${this.#describe()} as a run is in progress`,
      );
    }
    await Promise.all(this.#slots.map(async (slot) => {
      await this.#healing.get(slot);
      if (slot.retired) return;
      await slot.worker.restart(timeout);
      slot.watch();
      slot.stopping = false;
      slot.state = "ready";
    }));
  }

  /**
   * Closes every worker (no more input), waits up to `closeTimeout` ms for
   * each to finish, and terminates those that do not. The pool then takes
   * no more runs.
   *
   * @returns Resolves once every worker was handled.
   * @throws {Error} If a run is in progress (use `terminate()` to stop it).
   */
  async close(): Promise<void> {
    if (this.#run !== undefined && !this.#run.settled) {
      throw new Error(
        `Cannot close ${this.#describe()} as a run is in progress: await it, or terminate() the pool`,
      );
    }
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#pauses.wakeAll();
    await Promise.all(this.#hostSets.map((set) => set.stop()));
    await Promise.all(this.#slots.map(async (slot) => {
      await this.#healing.get(slot);
      slot.unwatch();
      if (!(await slot.worker.wait(this.#closeTimeout))) {
        await slot.worker.terminate();
      }
    }));
  }

  /**
   * Stops every worker through the ladder (asked first, forced after 1000
   * ms). A run in progress fails with a {@linkcode PoolError}, once the
   * workers are stopped, in which each item it read is a result or a
   * failure (not done).
   *
   * @returns Resolves once every worker was handled.
   */
  async terminate(): Promise<void> {
    this.#closed = true;
    this.#closing = true;
    this.#pauses.wakeAll();
    const lookups = Promise.all(this.#hostSets.map((set) => set.stop()));
    const stopped = Promise.all(this.#slots.map(async (slot) => {
      await this.#healing.get(slot);
      slot.unwatch();
      await slot.worker.terminate();
    }));
    // Its items are accounted for now; it settles once they stopped.
    this.#run?.stop(`${this.#describe()} was terminated`, stopped);
    await stopped;
    await lookups;
  }

  /** Closes the pool; terminates it instead while a run is in progress. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#run !== undefined && !this.#run.settled) await this.terminate();
    else await this.close();
  }
}
