/**
 * The public types shared by every worker kind: what a target is, what it
 * receives, and the options every worker takes.
 *
 * @module
 */

/** The three places a worker can run.
 *
 * @example Pick the kind at run time
 * ```ts
 * import { Worker, WorkerType } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = Worker.create(WorkerType.PROCESS, { target: () => Deno.pid });
 * await worker.wait();
 * assert.equal(worker.isProcess, true);
 * assert.notEqual(worker.result, Deno.pid);
 * ```
 */
export enum WorkerType {
  /** A Web Worker in this process. */
  THREAD = 0,
  /** A `deno run` subprocess. */
  PROCESS = 1,
  /** A job on a remote `pyworkers` server. */
  REMOTE = 2,
}

/** Where a worker runs: `[host, pid, tid]`.
 *
 * @example
 * ```ts
 * import { ThreadWorker, type WorkerId } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ThreadWorker({ target: () => 1 });
 * await worker.ready;
 * const [host, pid, tid]: WorkerId = worker.id;
 * assert.deepEqual([host, pid], [worker.parentHost, Deno.pid]);
 * assert.notEqual(tid, worker.parentTid);
 * await worker.wait();
 * ```
 */
export type WorkerId = readonly [host: string, pid: number, tid: number];

/** The ids of the worker a target runs in, as seen from inside it.
 *
 * @example Where am I running?
 * ```ts
 * import { ProcessWorker, type WorkerContext } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ProcessWorker({
 *   target: (ctx: WorkerContext) => ctx.worker.pid,
 *   name: "where",
 * });
 * await worker.wait();
 * assert.equal(worker.result, worker.pid);
 * ```
 */
export interface WorkerInfo {
  /** Host name of the machine running the target. */
  readonly host: string;
  /** Process id of the process running the target. */
  readonly pid: number;
  /** Thread id of the thread running the target. */
  readonly tid: number;
  /** `[host, pid, tid]`. */
  readonly id: WorkerId;
  /** The worker's name, as given to its constructor. */
  readonly name: string | undefined;
  /** The worker's user id, as given to its constructor. */
  readonly userid: unknown;
}

/**
 * What every target receives as its last argument, right after the
 * arguments actually passed. (A target with default parameters therefore
 * gets the context in place of the first missing one: pass every argument
 * explicitly.)
 *
 * @example A cooperative target
 * ```ts
 * import { ThreadWorker, type WorkerContext } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ThreadWorker({
 *   target: (limit: number, ctx: WorkerContext) => {
 *     let i = 0;
 *     while (i < limit) {
 *       ctx.throwIfTerminated(); // sees terminate() even in this sync loop
 *       i++;
 *     }
 *     ctx.userState = i;
 *     return i;
 *   },
 *   args: [1000],
 * });
 * await worker.wait();
 * assert.equal(worker.result, 1000);
 * assert.equal(worker.userState, 1000);
 * ```
 */
export interface WorkerContext {
  /** Aborted when graceful termination is requested; its reason is a `WorkerTerminatedError`. */
  readonly signal: AbortSignal;
  /**
   * Throws `WorkerTerminatedError` if termination was requested. Sees the
   * request even while the target runs synchronous code that never yields.
   */
  throwIfTerminated(): void;
  /** State reported to the parent when the worker finishes; starts as `initState`. */
  userState: unknown;
  /** Where the target runs. */
  readonly worker: WorkerInfo;
}

/**
 * A reference to an exported function of a module, run by importing the
 * module in the worker. Use it for targets that need imports or module
 * state. A path is resolved against the current working directory (a name
 * like `"lib/x.ts"` too, when that file exists; otherwise it is a bare
 * specifier for the import map); prefer `new URL("./x.ts", import.meta.url)`.
 *
 * @example
 * ```ts
 * import { ProcessWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * // Any module the child can import; here a data: URL for a self-contained example.
 * const module = "data:text/javascript,export function twice(x) { return 2 * x; }";
 * const worker = new ProcessWorker<[number], number>({
 *   target: { module, name: "twice" },
 *   args: [21],
 * });
 * await worker.wait();
 * assert.equal(worker.result, 42);
 * ```
 */
export interface ModuleTarget {
  /** The module's specifier: a URL, a path, or a `jsr:`/`npm:`/`https:` specifier. */
  readonly module: string | URL;
  /** The export to call. @default {"default"} */
  readonly name?: string;
}

/**
 * A function run in the worker. It is shipped as source text, so it must be
 * self-contained: no captured variables (globals and dynamic `import()` are
 * fine).
 *
 * @example
 * ```ts
 * import type { TargetFunction } from "jsr:@x/pyworkers";
 *
 * const square: TargetFunction<[number], number> = (x) => x ** 2;
 * console.log(square(3)); // 9
 * ```
 */
export type TargetFunction<A extends unknown[], R> = (
  ...args: A
) => R | PromiseLike<R>;

/** What a worker runs: a self-contained function or a module export.
 *
 * @example
 * ```ts
 * import type { Target } from "jsr:@x/pyworkers";
 *
 * const targets: Target<[number], number>[] = [
 *   (x) => x + 1,
 *   { module: "jsr:@example/math", name: "increment" },
 * ];
 * console.log(targets.length); // 2
 * ```
 */
export type Target<A extends unknown[], R> =
  | TargetFunction<A, R>
  | ModuleTarget;

/** The arguments of a target: its parameters without a trailing `WorkerContext`.
 *
 * @example
 * ```ts
 * import type { TargetArgs, WorkerContext } from "jsr:@x/pyworkers";
 *
 * type Args = TargetArgs<[x: number, ctx: WorkerContext]>; // [x: number]
 * const args: Args = [1];
 * console.log(args);
 * ```
 */
export type TargetArgs<A extends unknown[]> = A extends [...infer H, infer L]
  ? ([L] extends [WorkerContext] ? H : A)
  : A;

/**
 * The `args` option as a one-shot worker's constructor takes it: required
 * when the target has parameters besides the context (else the first one
 * would receive the context), optional when it has none or only optional
 * ones.
 *
 * @example
 * ```ts
 * import type { ArgsOption, WorkerContext } from "jsr:@x/pyworkers";
 *
 * const needed: ArgsOption<[x: number, ctx: WorkerContext]> = { args: [1] };
 * const optional: ArgsOption<[ctx: WorkerContext]> = {};
 * console.log(needed, optional);
 * ```
 */
export type ArgsOption<A extends unknown[]> = [] extends TargetArgs<A>
  ? { args?: TargetArgs<A> | undefined }
  // A last parameter typed loosely enough to take the context (such as
  // `ctx: { signal: AbortSignal }`) is taken to be it.
  : A extends [...infer H, infer L]
    ? [WorkerContext] extends [L]
      ? [] extends H ? { args?: TargetArgs<A> | undefined }
      : { args: TargetArgs<A> }
    : { args: TargetArgs<A> }
  : { args: TargetArgs<A> };

/**
 * Permissions for a worker, in Deno's descriptor shape. In the object form an
 * omitted key is denied.
 *
 * @example A target that may read one directory and nothing else
 * ```ts
 * import { ProcessWorker } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ProcessWorker({
 *   target: () => Deno.readTextFile("/etc/hostname"),
 *   permissions: { read: ["/tmp"] },
 * });
 * await worker.wait();
 * assert.equal(worker.error?.name, "NotCapable");
 * ```
 */
export type PermissionDescriptor =
  | "inherit"
  | "none"
  | {
    /** Read access: all, none, or these paths. */
    read?: boolean | string[];
    /** Write access: all, none, or these paths. */
    write?: boolean | string[];
    /** Network access: all, none, or these hosts. */
    net?: boolean | string[];
    /** Environment access: all, none, or these variables. */
    env?: boolean | string[];
    /** Subprocess access: all, none, or these programs. */
    run?: boolean | string[];
    /** FFI access: all, none, or these libraries. */
    ffi?: boolean | string[];
    /** System information access: all, none, or these kinds. */
    sys?: boolean | string[];
    /** Module import access: all, none, or these hosts. */
    import?: boolean | string[];
  };

/** Options every worker takes.
 *
 * @example
 * ```ts
 * import { ProcessWorker, type WorkerOptions } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const options = {
 *   target: (greeting: string) => `${greeting}, ${Deno.env.get("WHO")}`,
 *   args: ["hello"],
 *   name: "greeter",
 *   env: { WHO: "world" },
 *   permissions: { env: ["WHO"] },
 * } satisfies WorkerOptions<[string], string>;
 * const worker = new ProcessWorker(options);
 * await worker.wait();
 * assert.equal(worker.result, "hello, world");
 * ```
 */
export interface WorkerOptions<A extends unknown[] = unknown[], R = unknown> {
  /** What to run. Without a target the worker is dead from the start. */
  target?: Target<A, R> | undefined;
  /**
   * The arguments passed to the target (before the context). The one-shot
   * constructors require them when the target has parameters besides the
   * context ({@linkcode ArgsOption}). @default {[]}
   */
  args?: TargetArgs<A> | undefined;
  /** A name for the worker, used in messages and as the thread's name. */
  name?: string | undefined;
  /** Any value identifying the worker to its user. */
  userid?: unknown;
  /** Set to false to create a worker that never runs. @default {true} */
  run?: boolean | undefined;
  /** The initial `ctx.userState` in the child and `userState` in the parent. */
  initState?: unknown;
  /** What the target may do. @default {"inherit"} */
  permissions?: PermissionDescriptor | undefined;
  /** Extra environment variables for a process worker's child. */
  env?: Record<string, string> | undefined;
}

/**
 * Options a remote worker takes besides every worker's.
 *
 * @example
 * ```ts
 * import type { RemoteOptions } from "jsr:@x/pyworkers";
 *
 * const options: RemoteOptions = { host: "127.0.0.1:6006", token: "s3cret" };
 * console.log(options.host);
 * ```
 */
export interface RemoteOptions {
  /** The server: `["127.0.0.1", 6006]` or `"127.0.0.1:6006"` (`"[::1]:6006"`). */
  host: readonly [string, number] | string;
  /** The server's token; required beyond loopback. @default {the PYWORKERS_TOKEN environment variable, else none} */
  token?: string | undefined;
  /**
   * Connect with TLS: `true` trusts the system's roots, `{ caCerts }`
   * these PEM certificates.
   */
  tls?: true | { caCerts?: string[] } | undefined;
  /**
   * How often to ping the server, in ms (1 to 10,000); a server silent for
   * 3 intervals counts as gone (the worker dies with `WorkerDiedError`).
   * @default {5000}
   */
  heartbeat?: number | undefined;
}

/** Options of `terminate()`.
 *
 * @example Ask only, then wait
 * ```ts
 * import { ThreadWorker, type WorkerContext } from "jsr:@x/pyworkers";
 * import assert from "node:assert/strict";
 *
 * const worker = new ThreadWorker({
 *   target: (ctx: WorkerContext) => {
 *     for (;;) ctx.throwIfTerminated();
 *   },
 * });
 * await worker.terminate({ timeout: 0, force: false }); // returns at once
 * assert.equal(await worker.wait(5000), true);
 * ```
 */
export interface TerminateOptions {
  /** How long the target gets to stop gracefully, in ms. @default {1000} */
  timeout?: number;
  /** Whether to force the worker to stop after `timeout`. @default {true} */
  force?: boolean;
}
