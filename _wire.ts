/**
 * The messages a parent and its worker exchange, for every worker kind.
 *
 * ```
 *  parent (Worker handle)                      child (_child.ts)
 *  ──────────────────────                      ─────────────────
 *  start {target, args, initState, ...}  ──▶   resolve target, report ids
 *                                        ◀──   ready {pid, tid}
 *  items [{seq, args, call}]  (persistent) ──▶  run each item in order
 *                                        ◀──   results [{seq, ok, value}]
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
import type { Encoded } from "./_error_codec.ts";

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
  /** Process-wide terminate flag (threads only; processes build their own). */
  readonly flag?: SharedArrayBuffer;
  readonly name: string | undefined;
  readonly userid: unknown;
  readonly host: string;
  readonly parentId: readonly [string, number, number];
  /** The thread id to report when the OS id cannot be read. */
  readonly fallbackTid: number;
}

/** One input of a persistent worker. */
export interface Item {
  readonly seq: number;
  readonly args: readonly unknown[];
  /** True for `call()` items: their failure rejects only their own promise. */
  readonly call: boolean;
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
  | { readonly t: "ready"; readonly pid: number; readonly tid: number }
  | { readonly t: "results"; readonly results: readonly ItemResult[] }
  | {
    readonly t: "done";
    readonly ok: boolean;
    readonly value?: unknown;
    readonly error?: Encoded;
    readonly userState: unknown;
    readonly stateSent: boolean;
  }
  | { readonly t: "exit"; readonly code: number }
  /** A thread's event loop saw the terminate request (so it is not stuck in sync code). */
  | { readonly t: "terminating" };

/** Frames `payload` with a 4-byte big-endian length. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/**
 * Reads length-prefixed frames from a byte stream, one at a time. Refuses a
 * frame larger than `maxFrame` (a malformed or hostile peer) with a
 * `RangeError` instead of allocating it.
 */
export class FrameReader {
  #reader: { read(p: Uint8Array): Promise<number | null> };
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #maxFrame: number;

  constructor(
    reader: { read(p: Uint8Array): Promise<number | null> },
    maxFrame = 1 << 30,
  ) {
    this.#reader = reader;
    this.#maxFrame = maxFrame;
  }

  /** The next frame, or null at a clean end of stream between frames. */
  async next(): Promise<Uint8Array | null> {
    if (!(await this.#fill(4))) {
      if (this.#end === this.#start) return null;
      throw new Deno.errors.UnexpectedEof("Stream ended inside a frame header");
    }
    const length = new DataView(
      this.#buffer.buffer,
      this.#buffer.byteOffset + this.#start,
      4,
    ).getUint32(0);
    if (length > this.#maxFrame) {
      throw new RangeError(
        `Cannot read a frame of ${length} bytes as the limit is ${this.#maxFrame}`,
      );
    }
    if (!(await this.#fill(4 + length))) {
      throw new Deno.errors.UnexpectedEof("Stream ended inside a frame");
    }
    const payload = this.#buffer.slice(
      this.#start + 4,
      this.#start + 4 + length,
    );
    this.#start += 4 + length;
    return payload;
  }

  /** Ensures `n` buffered bytes; false if the stream ended first. */
  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#buffer.length - this.#start < n) {
        // Not enough room past #start: compact, growing first if n is larger.
        const target = this.#buffer.length >= n
          ? this.#buffer
          : new Uint8Array(Math.max(n, this.#buffer.length * 2));
        target.set(this.#buffer.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buffer = target;
      }
      const read = await this.#reader.read(this.#buffer.subarray(this.#end));
      if (read === null) return false;
      this.#end += read;
    }
    return true;
  }
}

/**
 * Writes frames in order without interleaving them, however many senders
 * call `send` at once. `send` never blocks; `drained()` tells when all is out.
 */
export class FrameWriter {
  #writer: { write(p: Uint8Array): Promise<number> };
  #queue: Uint8Array[] = [];
  #busy: Promise<void> | undefined;
  #error: unknown;

  constructor(writer: { write(p: Uint8Array): Promise<number> }) {
    this.#writer = writer;
  }

  /** Queues one frame. Throws if an earlier write failed. */
  send(payload: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    this.#queue.push(frame(payload));
    this.#busy ??= this.#pump();
  }

  /** Resolves when everything queued so far has been written (or writing failed). */
  async drained(): Promise<void> {
    while (this.#busy !== undefined) await this.#busy;
  }

  /** Bytes queued but not yet written. */
  get backlog(): number {
    let n = 0;
    for (const chunk of this.#queue) n += chunk.length;
    return n;
  }

  async #pump(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Coalesce small frames into one write.
        const chunks = this.#queue.splice(0, this.#queue.length);
        let data: Uint8Array = chunks[0]!;
        if (chunks.length > 1) {
          data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          let offset = 0;
          for (const chunk of chunks) {
            data.set(chunk, offset);
            offset += chunk.length;
          }
        }
        for (let offset = 0; offset < data.length;) {
          offset += await this.#writer.write(data.subarray(offset));
        }
      }
    } catch (error) {
      this.#error = error;
      this.#queue = [];
    } finally {
      this.#busy = undefined;
    }
  }
}
