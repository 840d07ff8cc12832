/**
 * The sender thread of a persistent process child: a Web Worker that owns
 * the child's socket, so that the main thread (which runs the target) never
 * waits on it.
 *
 * Why: each item's result must leave the child as the item finishes (the
 * next item may block the main thread for minutes, exit or be killed), so
 * without this thread the main thread writes every result on its own, one
 * syscall each (~2 µs), and the parent wakes and reads once per result.
 * With it, the main thread copies each framed result into a shared ring
 * (no syscall; a futex wake only when the sender sleeps) and goes on to the
 * next item, while the sender writes whatever has accumulated in one write:
 * the target cannot block it, so it may coalesce freely, and the parent
 * gets many results per read.
 *
 * ```
 *  main thread (target)                 sender thread             parent
 *  ────────────────────                 ─────────────             ──────
 *  frames ── ring (SharedArrayBuffer) ──▶ one write per batch ──▶ 2nd socket
 *  reads its own socket ◀──────────────────────────────────────── 1st socket
 * ```
 *
 * A `Deno.Conn` cannot be shared between isolates, so the sender makes a
 * second connection to the parent and only writes on it, and the main
 * thread only reads the first (the launcher accepts both). So frames from
 * the parent reach the main thread as directly as before, and each way
 * keeps its order. (Forwarding them through the sender instead cost a
 * message hop, ~0.2 ms more per `call()` round trip here.)
 *
 * Costs: `new Worker` blocks the main thread ~20 ms at start, so only
 * persistent process workers have a sender; a thread wake-up on the way
 * back of each `call()` that finds the sender asleep; and a result sits in
 * the ring until the sender writes it (at most LINGER_MS plus a wake-up: a
 * SIGKILL in that window loses it; `Deno.exit()` does not: the child's
 * wrapper waits, bounded, for the ring to empty, see
 * {@linkcode SenderLink.flushSync}).
 *
 * @module
 */

import type { FramedChannel } from "../_protocol/channel.ts";

/**
 * How long the sender holds results while the main thread has more items
 * queued, to send them together: far within the 10 ms a finished result
 * may take to reach the parent, and ended at once when the queue empties
 * or the target awaits.
 */
const LINGER_MS = 0.5;

/** Bytes in the ring: results larger than this wait for room, in pieces. */
const RING_BYTES = 1 << 20;

// Control words (byte counts wrap at 2^32; the ring's size is a power of 2).
// Grouped by writer, each group on a cache line of its own: a word one
// thread writes often, on the line of a word the other reads per item,
// made each item's first read of it a cache miss (measured: the main
// thread's per-item MORE check was its costliest line).
/** Int32 words per cache line (64 bytes). */
const LINE = 16;
/** Bytes the main thread has put in the ring. */
const WRITTEN = 0;
/** Whether the main thread has more items queued (so more results come soon). */
const MORE = 1;
/** Set when the sender can write no more (once). */
const DEAD = LINE;
/** Bytes the sender has taken out of the ring (that room is free again). */
const TAKEN = 2 * LINE;
/** Bytes the socket has accepted. */
const SENT = 2 * LINE + 1;
/** Whether the sender waits for WRITTEN to change (then it needs a notify). */
const SLEEPING = 3 * LINE;
/** How many words the control block holds. */
const WORDS = 4 * LINE;
/** The control words' indices, for the sender thread (which sees no module scope). */
const SLOTS = { WRITTEN, TAKEN, SLEEPING, DEAD, SENT, MORE, LINGER_MS };

/**
 * The sender thread. Shipped as source (a blob worker needs no read
 * permission to load), so it must be self-contained.
 */
function senderMain(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent) => void) | null;
    postMessage(message: unknown, transfer?: Transferable[]): void;
  };
  scope.onmessage = async (event: MessageEvent) => {
    scope.onmessage = null;
    const { path, control, ring, slots } = event.data as {
      path: string;
      control: SharedArrayBuffer;
      ring: SharedArrayBuffer;
      slots: typeof SLOTS;
    };
    const { WRITTEN, TAKEN, SLEEPING, DEAD, SENT, MORE, LINGER_MS } = slots;
    const words = new Int32Array(control);
    const bytes = new Uint8Array(ring);
    const size = bytes.length;
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path });
    } catch {
      scope.postMessage({ t: "failed" });
      return;
    }
    scope.postMessage({ t: "connected" });

    // Writing: whatever the ring holds, in one write (two if it wraps).
    const out = new Uint8Array(size);
    try {
      for (;;) {
        const taken = Atomics.load(words, TAKEN);
        let written = Atomics.load(words, WRITTEN);
        if (written === taken) {
          Atomics.store(words, SLEEPING, 1);
          // Against a lost wake-up: the main thread stores WRITTEN, then
          // reads SLEEPING; this stores SLEEPING, then reads WRITTEN.
          written = Atomics.load(words, WRITTEN);
          // Blocking: this thread has nothing else to do, and a futex wakes
          // it far sooner than Atomics.waitAsync or a message would (~0.1 ms
          // against 0.1–3 ms here).
          if (written === taken) Atomics.wait(words, WRITTEN, taken);
          Atomics.store(words, SLEEPING, 0);
          continue;
        }
        if (
          Atomics.load(words, MORE) !== 0 && ((written - taken) | 0) < size / 2
        ) {
          // More results come within microseconds: let them join this
          // write (the parent then reads them at once), unless the main
          // thread runs out of items or the wait ends first. Not when the
          // ring fills: the main thread may be waiting for room.
          Atomics.wait(words, MORE, 1, LINGER_MS);
          written = Atomics.load(words, WRITTEN);
        }
        const length = (written - taken) | 0;
        const from = taken & (size - 1);
        const first = Math.min(length, size - from);
        out.set(bytes.subarray(from, from + first));
        if (first < length) out.set(bytes.subarray(0, length - first), first);
        // Copied out: the main thread may reuse that room while this writes.
        Atomics.store(words, TAKEN, written);
        Atomics.notify(words, TAKEN);
        for (let offset = 0; offset < length;) {
          offset += await conn.write(out.subarray(offset, length));
        }
        Atomics.store(words, SENT, written);
        Atomics.notify(words, SENT);
      }
    } catch {
      Atomics.store(words, DEAD, 1);
      Atomics.notify(words, TAKEN);
      Atomics.notify(words, SENT);
    }
  };
}

/** What the main thread needs of its link to the parent. */
export interface ChildLink {
  /** The next frame, or null at the end of the stream. */
  next(): Promise<Uint8Array | null>;
  /** Sends one frame whose payload is `payload`. */
  send(payload: Uint8Array): void;
  /** Sends bytes that are already one whole frame (length first). */
  sendFrame(framed: Uint8Array): void;
  /** Undefined when everything sent has left; else resolves once it has. */
  readonly idle: Promise<void> | undefined;
  /** Resolves when everything sent so far has left (or cannot). */
  drained(): Promise<void>;
}

/**
 * The main thread's end: reads the parent's frames from the first
 * connection, and writes frames into the sender's ring.
 */
export class SenderLink implements ChildLink {
  /** The sender thread (it lives as long as this process). */
  readonly #worker: Worker;
  readonly #words = new Int32Array(new SharedArrayBuffer(WORDS * 4));
  readonly #ring = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
  readonly #input: FramedChannel;
  /** Bytes put in the ring (published or not: only this thread writes it). */
  #written = 0;
  /**
   * TAKEN as last read: room is known to be at least what it leaves, so
   * the sender's word is read again only when that is not enough.
   */
  #taken = 0;
  /** Whether MORE is set, as this thread (its only writer) last set it. */
  #more = false;

  /**
   * Starts the sender, which connects to `path` a second time; resolves
   * once it has, or rejects if it could not (the parent is gone).
   *
   * @param input The first connection, read by the main thread.
   * @param permissions The sender's: what it needs to connect, and no more.
   */
  static async connect(
    input: FramedChannel,
    path: string,
    permissions: Deno.PermissionOptionsObject,
  ): Promise<SenderLink> {
    const worker = new Worker(
      URL.createObjectURL(
        new Blob([`(${senderMain.toString()})()`], {
          type: "text/javascript",
        }),
      ),
      {
        type: "module",
        name: "pyworkers sender",
        deno: { permissions },
      },
    );
    const link = new SenderLink(worker, input);
    const connected = Promise.withResolvers<void>();
    worker.onmessage = (event: MessageEvent) => {
      if (event.data.t === "connected") connected.resolve();
      else connected.reject(new Error("Cannot connect the sender thread"));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      connected.reject(event.error);
    };
    worker.postMessage({
      path,
      control: link.#words.buffer,
      ring: link.#ring.buffer,
      slots: SLOTS,
    });
    try {
      await connected.promise;
    } catch (error) {
      worker.terminate();
      throw error;
    }
    worker.onmessage = null;
    return link;
  }

  private constructor(worker: Worker, input: FramedChannel) {
    this.#worker = worker;
    this.#input = input;
  }

  /** The next frame the parent sent, or null at the end of the stream. */
  next(): Promise<Uint8Array | null> {
    return this.#input.next();
  }

  /** Sends one frame whose payload is `payload`. */
  send(payload: Uint8Array): void {
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, payload.length);
    this.#write(header, false);
    this.#write(payload, true);
  }

  /** Sends bytes that are already one whole frame (length first). */
  sendFrame(framed: Uint8Array): void {
    this.#write(framed, true);
  }

  /**
   * Copies `data` into the ring and publishes it (when `publish`, or
   * whenever the ring fills). Waits for room when the ring is full (a
   * result larger than it, or a parent that does not read): the main thread
   * blocks then, as a blocking write would.
   */
  #write(data: Uint8Array, publish: boolean): void {
    const words = this.#words;
    const ring = this.#ring;
    const size = ring.length;
    let written = this.#written;
    if (Atomics.load(words, DEAD) !== 0) {
      throw new Deno.errors.BrokenPipe("The sender thread stopped");
    }
    const at = written & (size - 1);
    if (
      data.length <= size - at &&
      data.length <= size - ((written - this.#taken) | 0)
    ) {
      // The common case (a small result, room known): one copy, no view.
      ring.set(data, at);
      written = this.#written = (written + data.length) | 0;
      if (publish) this.#publish(written);
      return;
    }
    for (let offset = 0; offset < data.length;) {
      if (Atomics.load(words, DEAD) !== 0) {
        throw new Deno.errors.BrokenPipe("The sender thread stopped");
      }
      const taken = this.#taken = Atomics.load(words, TAKEN);
      const room = size - ((written - taken) | 0);
      if (room === 0) {
        this.#publish(written);
        Atomics.wait(words, TAKEN, taken, 100);
        continue;
      }
      const n = Math.min(room, data.length - offset);
      const at = written & (size - 1);
      const first = Math.min(n, size - at);
      ring.set(data.subarray(offset, offset + first), at);
      if (first < n) {
        ring.set(data.subarray(offset + first, offset + n), 0);
      }
      offset += n;
      written = (written + n) | 0;
      this.#written = written;
    }
    if (publish) this.#publish(written);
  }

  /**
   * Whether the main thread has more items queued: then the sender may
   * hold what it has for a moment, to send it with their results.
   */
  more: () => boolean = () => false;

  #publish(written: number): void {
    const words = this.#words;
    this.#hint(this.more());
    // Only this thread writes WRITTEN: no need to read it back first.
    Atomics.store(words, WRITTEN, written);
    if (Atomics.load(words, SLEEPING) !== 0) Atomics.notify(words, WRITTEN);
  }

  /** Sets MORE; a sender holding results for more is woken when none come. */
  #hint(more: boolean): void {
    if (more === this.#more) return;
    this.#more = more;
    const words = this.#words;
    if (more) Atomics.store(words, MORE, 1);
    else {
      Atomics.store(words, MORE, 0);
      Atomics.notify(words, MORE);
    }
  }

  /**
   * Returns once everything sent has been written to the socket (or
   * `ms` have passed): for an item that must not start before.
   */
  flush(ms: number): void {
    this.#hint(false);
    this.flushSync(ms);
  }

  /** Whether everything published has been handed to the socket (or never will be). */
  #empty(): boolean {
    return Atomics.load(this.#words, DEAD) !== 0 ||
      Atomics.load(this.#words, SENT) === Atomics.load(this.#words, WRITTEN);
  }

  /**
   * Always undefined: the main thread need not wait for a result to leave
   * before the next item, since the sender writes it whatever that item does.
   */
  get idle(): Promise<void> | undefined {
    return undefined;
  }

  /** Resolves when the ring is empty (or the sender died). */
  async drained(): Promise<void> {
    while (!this.#empty()) {
      await Atomics.waitAsync(
        this.#words,
        SENT,
        Atomics.load(this.#words, SENT),
        100,
      ).value;
    }
  }

  /**
   * Blocks until the ring is empty, or `ms` have passed: before an exit,
   * so that nothing finished is lost. The sender needs no help from this
   * thread to write.
   */
  flushSync(ms: number): void {
    const deadline = Date.now() + ms;
    while (!this.#empty()) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      Atomics.wait(this.#words, SENT, Atomics.load(this.#words, SENT), left);
    }
  }
}
