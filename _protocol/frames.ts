/**
 * Length-prefixed frames over a byte stream (a Unix socket now, TCP for
 * remote workers): a 4-byte big-endian length, then the payload. The reader
 * refuses a length over its limit before allocating it.
 *
 * @module
 */

/** Frames `payload` with a 4-byte big-endian length. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/**
 * A frame refused from its length prefix, which it keeps: the first four
 * bytes of what the peer sent, which tell e.g. a TLS record apart.
 */
export class FrameSizeError extends RangeError {
  /** The refused length (the stream's four bytes, big-endian). */
  readonly length: number;

  constructor(length: number, maxFrame: number) {
    super(`Cannot read a frame of ${length} bytes as the limit is ${maxFrame}`);
    this.name = "RangeError";
    this.length = length;
  }
}

/** The read buffer's usual size; it grows for a larger frame, then shrinks back. */
const READ_BYTES = 64 * 1024;

/**
 * A buffer larger than this is let go once it holds nothing unread: grown
 * for one large frame, it would otherwise stay that large for good.
 */
const SHRINK_ABOVE = 1 << 20;

/**
 * Reads length-prefixed frames from a byte stream, one at a time. Refuses a
 * frame larger than `maxFrame` (a malformed or hostile peer) with a
 * `RangeError` instead of allocating it.
 */
export class FrameReader {
  #reader: { read(p: Uint8Array): Promise<number | null> };
  #buffer = new Uint8Array(READ_BYTES);
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

  /**
   * The largest frame accepted from now on (a server raises it once its
   * peer is authenticated).
   */
  set maxFrame(bytes: number) {
    this.#maxFrame = bytes;
  }

  /**
   * The next frame if it is already wholly buffered, else undefined
   * (reads nothing). A persistent process child's results come many per
   * read: taking them this way costs no promise each.
   */
  take(): Uint8Array | undefined {
    const available = this.#end - this.#start;
    if (available < 4) return undefined;
    const length = this.#length();
    if (available < 4 + length) return undefined;
    return this.#consume(length);
  }

  /**
   * A copy of the buffered frame of `length` bytes, which it then skips;
   * a buffer grown for a large frame is let go once all of it is read.
   */
  #consume(length: number): Uint8Array {
    const payload = this.#buffer.slice(
      this.#start + 4,
      this.#start + 4 + length,
    );
    this.#start += 4 + length;
    if (this.#start === this.#end && this.#buffer.length > SHRINK_ABOVE) {
      this.#buffer = new Uint8Array(READ_BYTES);
      this.#start = this.#end = 0;
    }
    return payload;
  }

  /** The length in the buffered frame header (refused if over the limit). */
  #length(): number {
    const length = new DataView(
      this.#buffer.buffer,
      this.#buffer.byteOffset + this.#start,
      4,
    ).getUint32(0);
    if (length > this.#maxFrame) {
      throw new FrameSizeError(length, this.#maxFrame);
    }
    return length;
  }

  /** The next frame, or null at a clean end of stream between frames. */
  async next(): Promise<Uint8Array | null> {
    // A frame already buffered is taken without awaiting the stream: a
    // process worker's results come as many small frames per read.
    if (this.#end - this.#start < 4 && !(await this.#fill(4))) {
      if (this.#end === this.#start) return null;
      throw new Deno.errors.UnexpectedEof("Stream ended inside a frame header");
    }
    const length = this.#length();
    if (
      this.#end - this.#start < 4 + length && !(await this.#fill(4 + length))
    ) {
      throw new Deno.errors.UnexpectedEof("Stream ended inside a frame");
    }
    return this.#consume(length);
  }

  /** Ensures `n` buffered bytes; false if the stream ended first. */
  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#buffer.length - this.#start < n) {
        // Not enough room past #start: compact, growing first if n is
        // larger, or into a smaller buffer if a large frame grew this one.
        const length = this.#buffer.length;
        const target = length < n
          ? new Uint8Array(Math.max(n, length * 2))
          : length > Math.max(SHRINK_ABOVE, 2 * n)
          ? new Uint8Array(Math.max(n, READ_BYTES))
          : this.#buffer;
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

/** Chunks below this size are copied together into one write; larger ones are written as they are. */
const COALESCE_BYTES = 64 * 1024;

/**
 * Writes frames in order without interleaving them, however many senders
 * call `send` at once. `send` never blocks: when no write is in flight it
 * starts one at once (a socket write whose bytes fit its buffer leaves
 * inside the call); frames sent while a write is in flight are coalesced
 * into the next. `busy` and `drained()` tell when all is out.
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
    this.sendParts([payload]);
  }

  /** Queues bytes that are already one whole frame (length first). */
  sendFrame(framed: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    this.#queue.push(framed);
    this.#busy ??= this.#pump();
  }

  /**
   * Queues one frame whose payload is `parts` in order, without copying
   * large parts (a 200 MB argument is written from where it lies). Throws
   * if an earlier write failed.
   */
  sendParts(parts: readonly Uint8Array[]): void {
    if (this.#error !== undefined) throw this.#error;
    let length = 0;
    for (const part of parts) length += part.length;
    if (parts.length === 1 && length < COALESCE_BYTES) {
      this.#queue.push(frame(parts[0]!));
    } else {
      const header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, length);
      this.#queue.push(header, ...parts);
    }
    this.#busy ??= this.#pump();
  }

  /** Whether a write is in flight or queued. */
  get busy(): boolean {
    return this.#busy !== undefined;
  }

  /**
   * Undefined when nothing is being written; else resolves once what is
   * queued has been written (or writing failed). Cheaper than `drained()`.
   */
  get idle(): Promise<void> | undefined {
    return this.#busy;
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
        const data = this.#next();
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

  /** The next chunk to write: a large one as it is, or small ones copied together. */
  #next(): Uint8Array {
    const queue = this.#queue;
    let count = 0;
    let bytes = 0;
    while (
      count < queue.length && queue[count]!.length < COALESCE_BYTES &&
      bytes + queue[count]!.length <= COALESCE_BYTES * 4
    ) bytes += queue[count++]!.length;
    if (count <= 1) return queue.shift()!;
    const data = new Uint8Array(bytes);
    let offset = 0;
    for (const chunk of queue.splice(0, count)) {
      data.set(chunk, offset);
      offset += chunk.length;
    }
    return data;
  }
}
