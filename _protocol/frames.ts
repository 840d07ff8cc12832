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
   *
   * @param viewUpTo Frames of at most this many bytes come as views into
   * the read buffer instead of copies, valid only until the next call of
   * `take()` or `next()`: for a caller that decodes or copies each frame
   * at once (a `new Uint8Array` costs about a microsecond here, as much as
   * relaying the frame).
   */
  take(viewUpTo = 0): Uint8Array | undefined {
    const available = this.#end - this.#start;
    if (available < 4) return undefined;
    const length = this.#length();
    if (available < 4 + length) return undefined;
    return this.#consume(length, viewUpTo);
  }

  /**
   * The buffered frame of `length` bytes (a view up to `viewUpTo` bytes,
   * else a copy), which it then skips; a buffer grown for a large frame is
   * let go once all of it is read.
   */
  #consume(length: number, viewUpTo: number): Uint8Array {
    const from = this.#start + 4;
    const payload = length <= viewUpTo
      ? this.#buffer.subarray(from, from + length)
      : this.#buffer.slice(from, from + length);
    this.#start += 4 + length;
    if (this.#start === this.#end && this.#buffer.length > SHRINK_ABOVE) {
      this.#buffer = new Uint8Array(READ_BYTES);
      this.#start = this.#end = 0;
    }
    return payload;
  }

  /** The length in the buffered frame header (refused if over the limit). */
  #length(): number {
    // Read by hand: a DataView per frame costs more than the rest of this.
    const buffer = this.#buffer;
    const at = this.#start;
    const length = ((buffer[at]! << 24) | (buffer[at + 1]! << 16) |
      (buffer[at + 2]! << 8) | buffer[at + 3]!) >>> 0;
    if (length > this.#maxFrame) {
      throw new FrameSizeError(length, this.#maxFrame);
    }
    return length;
  }

  /**
   * The next frame, or null at a clean end of stream between frames.
   *
   * @param viewUpTo As for `take()`: frames of at most this many bytes come
   * as views valid only until the next call.
   */
  async next(viewUpTo = 0): Promise<Uint8Array | null> {
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
    return this.#consume(length, viewUpTo);
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

/**
 * Frames up to this size (length included) are copied, as they are sent,
 * into a staging buffer that is written as one chunk; larger ones are
 * written from where they lie.
 */
const STAGE_BYTES = 64 * 1024;

/**
 * A writer's first staging buffer: buffers double (up to STAGE_BYTES)
 * each time one fills before it could be written, so a quiet link (an idle
 * client of a server) holds little and a busy one writes in large chunks.
 */
const FIRST_STAGE_BYTES = 4 * 1024;

/**
 * `FrameWriter.sendParts()` copies a frame whose payload is at most this
 * many bytes before it returns: its caller may reuse the parts' memory.
 */
export const COPIED_PAYLOAD_BYTES: number = STAGE_BYTES - 4;

/**
 * Writes frames in order without interleaving them, however many senders
 * call `send` at once. `send` never blocks: when no write is in flight it
 * starts one at once (a socket write whose bytes fit its buffer leaves
 * inside the call); frames sent while a write is in flight are coalesced
 * into the next. `busy` and `drained()` tell when all is out.
 *
 * Small frames are copied straight into a staging buffer (no allocation
 * per frame: a remote server relays every result of a persistent job as
 * its own frame), and a staging buffer that has been written is reused.
 */
export class FrameWriter {
  #writer: { write(p: Uint8Array): Promise<number> };
  /** Chunks to write, in order; anything staged comes after them. */
  #queue: Uint8Array[] = [];
  /** The staging buffer small frames are copied into, and how full it is. */
  #stage: Uint8Array | undefined;
  #staged = 0;
  /** A staging buffer already written, to be filled again. */
  #spare: Uint8Array | undefined;
  /** The size of the next staging buffer. */
  #stageBytes = FIRST_STAGE_BYTES;
  /** The queued chunks that are staging buffers (reused once written). */
  readonly #stages = new WeakSet<Uint8Array>();
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
    if (framed.length <= STAGE_BYTES) {
      const stage = this.#room(framed.length);
      stage.set(framed, this.#staged);
      this.#staged += framed.length;
    } else {
      this.#seal();
      this.#queue.push(framed);
    }
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
    const small = 4 + length <= STAGE_BYTES;
    // A large frame's small leading parts (an items frame's tag and
    // header) are staged with its length, so that they leave in one write
    // with it rather than one write (and one await) each.
    let copied = small ? parts.length : 0;
    let staged = small ? length : 0;
    while (
      copied < parts.length &&
      4 + staged + parts[copied]!.length <= FIRST_STAGE_BYTES
    ) staged += parts[copied++]!.length;
    const stage = this.#room(4 + staged);
    let at = this.#staged;
    stage[at++] = length >>> 24;
    stage[at++] = (length >>> 16) & 0xff;
    stage[at++] = (length >>> 8) & 0xff;
    stage[at++] = length & 0xff;
    for (let i = 0; i < copied; i++) {
      stage.set(parts[i]!, at);
      at += parts[i]!.length;
    }
    this.#staged = at;
    if (copied < parts.length) {
      // The length goes out with what was staged before it; the rest of
      // the parts follow as they are.
      this.#seal();
      for (let i = copied; i < parts.length; i++) this.#queue.push(parts[i]!);
    }
    this.#busy ??= this.#pump();
  }

  /** The staging buffer, with room for `bytes` more (sealing a full one first). */
  #room(bytes: number): Uint8Array {
    const full = this.#stage;
    if (full !== undefined && this.#staged + bytes > full.length) {
      // Frames come faster than they leave: stage more at once.
      this.#stageBytes = Math.min(STAGE_BYTES, this.#stageBytes * 2);
      this.#seal();
    }
    if (this.#stage === undefined) {
      const size = Math.max(this.#stageBytes, bytes);
      const spare = this.#spare;
      this.#spare = undefined;
      this.#stage = spare !== undefined && spare.length >= size
        ? spare
        : new Uint8Array(size);
    }
    return this.#stage;
  }

  /** Queues what is staged, so that what is sent next comes after it. */
  #seal(): void {
    const stage = this.#stage;
    if (stage === undefined) return;
    if (this.#staged > 0) {
      const chunk = stage.subarray(0, this.#staged);
      this.#stages.add(chunk);
      this.#queue.push(chunk);
    } else if (stage.length > (this.#spare?.length ?? 0)) this.#spare = stage;
    this.#stage = undefined;
    this.#staged = 0;
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
    let n = this.#staged;
    for (const chunk of this.#queue) n += chunk.length;
    return n;
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        if (this.#queue.length === 0) {
          if (this.#staged === 0) break;
          this.#seal();
        }
        const data = this.#queue.shift()!;
        for (let offset = 0; offset < data.length;) {
          offset += await this.#writer.write(data.subarray(offset));
        }
        // Written: a staging buffer can take the next frames.
        if (
          this.#stages.has(data) &&
          data.buffer.byteLength > (this.#spare?.length ?? 0)
        ) this.#spare = new Uint8Array(data.buffer);
      }
    } catch (error) {
      this.#error = error;
      this.#queue = [];
      this.#stage = undefined;
      this.#staged = 0;
    } finally {
      this.#busy = undefined;
    }
  }
}
