/**
 * The messages a parent and its worker exchange, for every worker kind
 * (framing is in frames.ts).
 *
 * ```
 *  parent (Worker handle)                      child (_child.ts)
 *  ──────────────────────                      ─────────────────
 *  start {target, args, initState, ...}  ──▶   resolve target, report ids
 *                                        ◀──   ready {host, pid, tid}
 *  items [{seq, args, call}]  (persistent) ──▶  run each item in order
 *                                        ◀──   results [{seq, ok, value}]
 *                                              (one per item, sent as it finishes)
 *  close                                 ──▶   no more items: finish the loop
 *  terminate (control path, see below)   ──▶   abort ctx.signal
 *                                        ◀──   done {ok, value | error, userState}
 * ```
 *
 * Threads carry these objects with `postMessage`. Processes carry them as
 * length-prefixed V8-serialized frames over a private Unix socket, so nothing
 * the target prints can corrupt them. The terminate request also travels on
 * a path that a busy target cannot block, read by `ctx.throwIfTerminated()`:
 * a shared flag the parent sets (thread), or a control file the parent
 * writes and the child polls (process).
 *
 * @module
 */
import type { Encoded } from "./error_codec.ts";

/** How the child finds its target. */
export type TargetSpec =
  | { readonly kind: "source"; readonly source: string }
  | { readonly kind: "module"; readonly module: string; readonly name: string };

/** The first message: everything the child needs to run. */
export interface StartMessage {
  readonly t: "start";
  readonly target: TargetSpec;
  readonly args: readonly unknown[];
  readonly initState: unknown;
  readonly persistent: boolean;
  readonly name: string | undefined;
  readonly userid: unknown;
  readonly host: string;
  readonly parentId: readonly [string, number, number];
}

/**
 * What a thread worker's Web Worker receives first: `start`, and beside it
 * what only threads have (the process child builds its own flag and reads
 * its own thread id).
 */
export interface ThreadStart {
  readonly start: StartMessage;
  /** The protocol's private port (the worker's global scope is the target's). */
  readonly port: MessagePort;
  /** The terminate flag the parent sets, read by `throwIfTerminated()`. */
  readonly flag: SharedArrayBuffer;
  /** The thread id to report when the OS id cannot be read. */
  readonly fallbackTid: number;
}

/**
 * One input of a persistent worker. Its arguments are captured when the
 * caller submits it: the parent's transport clones them (thread) or
 * serializes them to bytes (process: see items.ts); the child always sees
 * the array.
 */
export interface Item {
  readonly seq: number;
  readonly args: readonly unknown[] | Uint8Array;
  /** True for `call()` items: their failure rejects only their own promise. */
  readonly call: boolean;
  /**
   * True for a pool's chunk (a `call` item): `args` holds one argument list
   * per item, the child runs them in order, and the result's value is a
   * {@linkcode ChunkResult} (one message for them all).
   */
  readonly chunk?: boolean;
}

/** How the items of a chunk ended: compact, as it carries thousands. */
export interface ChunkResult {
  /** Each item's value, by position (undefined for a failed one); all numbers: packed. */
  readonly values: unknown[] | Float64Array;
  /** The items that threw: their position and error. */
  readonly failed: [index: number, error: Encoded][];
  /** How long the child took to run them (ms): the pool sizes chunks by it. */
  readonly ms: number;
}

/** One output of a persistent worker. */
export type ItemResult =
  | { readonly seq: number; readonly ok: true; readonly value: unknown }
  | { readonly seq: number; readonly ok: false; readonly error: Encoded };

/** Messages from parent to child. */
export type ParentMessage =
  | StartMessage
  | { readonly t: "items"; readonly items: readonly Item[] }
  | { readonly t: "close" }
  | { readonly t: "terminate" };

/** Messages from child to parent. */
export type ChildMessage =
  /** The child runs: where (a remote job reports its server's host). */
  | {
    readonly t: "ready";
    readonly host: string;
    readonly pid: number;
    readonly tid: number;
  }
  | { readonly t: "results"; readonly results: readonly ItemResult[] }
  | {
    readonly t: "done";
    readonly ok: boolean;
    readonly value?: unknown;
    readonly error?: Encoded;
    readonly userState: unknown;
    readonly stateSent: boolean;
  }
  /**
   * The child is ending on its own: the target called `Deno.exit()` or
   * `close()` (thread).
   */
  | { readonly t: "exit"; readonly code: number; readonly error?: Encoded }
  /**
   * An error nobody caught (a stray timer's throw, an unhandled rejection),
   * sent before Deno decides: the child dies of it unless a listener of the
   * target's prevents that, and then the parent forgets it.
   */
  | { readonly t: "uncaught"; readonly error: Encoded }
  /** A thread's event loop saw the terminate request (so it is not stuck in sync code). */
  | { readonly t: "terminating" };

/**
 * How a process child guards against outliving its parent (a bootstrap
 * argument): the kernel's parent-death signal through the C library at
 * `libc`, or a control thread watching stdin.
 */
export type OrphanGuard =
  | { readonly kind: "pdeathsig"; readonly libc: string }
  | { readonly kind: "thread" };
