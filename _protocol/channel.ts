/**
 * One framed, two-way channel over any byte stream that reads, writes and
 * closes like a `Deno.Conn`: the private Unix socket between a parent and
 * its process child now, the TCP link of remote workers next. Framing is in
 * frames.ts; this puts a reader and a writer together with one `close()`.
 *
 * @module
 */
import { FrameReader, FrameWriter } from "./frames.ts";

/** The part of a `Deno.Conn` a channel uses. */
export interface ByteStream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** Length-prefixed frames both ways over one byte stream. */
export class FramedChannel {
  readonly #conn: ByteStream;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  #closed = false;

  /**
   * @param conn The stream; the channel owns it from now on.
   * @param maxFrame The largest frame it accepts (bigger ones are refused
   * before they are allocated).
   */
  constructor(conn: ByteStream, maxFrame?: number) {
    this.#conn = conn;
    this.#reader = new FrameReader(conn, maxFrame);
    this.#writer = new FrameWriter(conn);
  }

  /**
   * The largest frame accepted from now on: small before a peer is
   * authenticated, larger after.
   */
  set maxFrame(bytes: number) {
    this.#reader.maxFrame = bytes;
  }

  /** Queues one frame; never blocks. Throws if an earlier write failed. */
  send(payload: Uint8Array): void {
    this.#writer.send(payload);
  }

  /** Queues bytes that are already one whole frame (length first). */
  sendFrame(framed: Uint8Array): void {
    this.#writer.sendFrame(framed);
  }

  /** Queues one frame made of `parts`, written without copying large ones. */
  sendParts(parts: readonly Uint8Array[]): void {
    this.#writer.sendParts(parts);
  }

  /** Undefined when nothing is being written; else resolves once the queue is out. */
  get idle(): Promise<void> | undefined {
    return this.#writer.idle;
  }

  /**
   * The next frame, or null at a clean end of the stream. Frames of at most
   * `viewUpTo` bytes come as views valid only until the next read
   * (`FrameReader.next()`).
   */
  next(viewUpTo?: number): Promise<Uint8Array | null> {
    return this.#reader.next(viewUpTo);
  }

  /**
   * The next frame if it is already wholly buffered, else undefined (reads
   * nothing). Frames of at most `viewUpTo` bytes come as views valid only
   * until the next read.
   */
  take(viewUpTo?: number): Uint8Array | undefined {
    return this.#reader.take(viewUpTo);
  }

  /** Every frame until the end of the stream (throws on a broken one). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, void> {
    for (;;) {
      const frame = await this.#reader.next();
      if (frame === null) return;
      yield frame;
    }
  }

  /** Resolves when everything sent so far is written (or writing failed). */
  drained(): Promise<void> {
    return this.#writer.drained();
  }

  /** Bytes queued but not yet written. */
  get backlog(): number {
    return this.#writer.backlog;
  }

  /** Closes the stream (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}
