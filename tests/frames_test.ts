/**
 * The framing layer on its own: FrameWriter's staging of small frames (a
 * remote server relays every result of a persistent job as its own frame)
 * and FrameReader's views into its read buffer.
 */
import assert from "node:assert/strict";
import { FrameReader, FrameWriter } from "../_protocol/frames.ts";

/** A byte sink that takes at most `chunk` bytes per write, a turn later. */
function slowSink(chunk: number): {
  write(p: Uint8Array): Promise<number>;
  bytes(): Uint8Array;
  writes: number;
} {
  const out: number[] = [];
  const sink = {
    writes: 0,
    async write(p: Uint8Array): Promise<number> {
      sink.writes++;
      await Promise.resolve();
      const n = Math.min(chunk, p.length);
      for (let i = 0; i < n; i++) out.push(p[i]!);
      return n;
    },
    bytes: () => Uint8Array.from(out),
  };
  return sink;
}

/** A reader over fixed bytes, `chunk` bytes per read. */
function bytesReader(bytes: Uint8Array, chunk = bytes.length): {
  read(p: Uint8Array): Promise<number | null>;
} {
  let at = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at === bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, chunk, bytes.length - at);
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

function payload(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 31 + i) & 0xff;
  return out;
}

Deno.test("FrameWriter.sendParts() keeps small and large frames in order across reused staging buffers", async () => {
  const sink = slowSink(40_000);
  const writer = new FrameWriter(sink);
  const sent: Uint8Array[] = [];
  const send = (parts: Uint8Array[]): void => {
    writer.sendParts(parts);
    let length = 0;
    for (const part of parts) length += part.length;
    const whole = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      whole.set(part, at);
      at += part.length;
    }
    sent.push(whole);
  };
  // Rounds of many small frames (several staging buffers' worth), a large
  // one, a frame that fills a buffer exactly, an empty one; each round
  // after the previous was written, so that staging buffers are reused.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5000; i++) {
      send([Uint8Array.of(round, i & 0xff), payload(i % 40, i)]);
    }
    send([payload(200_000, round)]);
    send([payload(64 * 1024 - 4, round + 1)]);
    send([new Uint8Array(0)]);
    send([payload(3, round), payload(70_000, round + 2)]);
    assert.ok(writer.backlog > 0);
    await writer.drained();
    assert.equal(writer.backlog, 0);
  }
  const reader = new FrameReader(bytesReader(sink.bytes(), 1000));
  const got: Uint8Array[] = [];
  for (let frame = await reader.next(); frame !== null;) {
    got.push(frame);
    frame = await reader.next();
  }
  assert.equal(got.length, sent.length);
  for (let i = 0; i < sent.length; i++) assert.deepEqual(got[i], sent[i]);
  // Small frames sent while a write was in flight went out together.
  assert.ok(sink.writes < sent.length / 10, `${sink.writes} writes`);
});

Deno.test("FrameWriter.sendParts() copies a small frame before it returns", async () => {
  const sink = slowSink(1 << 20);
  const writer = new FrameWriter(sink);
  // As a server relays a job's frame: a header, then the frame's bytes,
  // which are a view into a read buffer reused after the call.
  const part = Uint8Array.of(1, 2, 3);
  writer.sendParts([Uint8Array.of(7), part]);
  writer.sendParts([Uint8Array.of(8), part]);
  part.fill(9);
  await writer.drained();
  assert.deepEqual(
    sink.bytes(),
    Uint8Array.of(0, 0, 0, 4, 7, 1, 2, 3, 0, 0, 0, 4, 8, 1, 2, 3),
  );
});

Deno.test("FrameReader.take() and next() hand out views up to viewUpTo bytes, copies above", async () => {
  const frames = [payload(10, 1), payload(100, 2), payload(10, 3)];
  const sink = slowSink(1 << 20);
  const writer = new FrameWriter(sink);
  for (const frame of frames) writer.send(frame);
  await writer.drained();
  const reader = new FrameReader(bytesReader(sink.bytes()));
  const first = (await reader.next(50))!;
  assert.deepEqual(first, frames[0]);
  assert.ok(first.buffer.byteLength > first.length, "a view into the buffer");
  const second = reader.take(50)!;
  assert.deepEqual(second, frames[1]);
  assert.equal(second.buffer.byteLength, second.length, "a copy of its own");
  const third = reader.take()!;
  assert.deepEqual(third, frames[2]);
  assert.equal(third.buffer.byteLength, third.length, "a copy by default");
  assert.equal(await reader.next(), null);
});

Deno.test("FrameWriter.sendParts() writes a large frame's small leading parts with its length, in one write", async () => {
  const sink = slowSink(1 << 20);
  const writer = new FrameWriter(sink);
  // As a pool's chunk travels: an items frame's tag and header, then the
  // serialized arguments, too large to copy.
  const parts = [
    Uint8Array.of(1, 0, 0, 0, 3),
    payload(20, 1),
    payload(100_000, 2),
  ];
  writer.sendParts(parts);
  await writer.drained();
  assert.equal(sink.writes, 2);
  const reader = new FrameReader(bytesReader(sink.bytes()));
  const frame = await reader.next();
  assert.deepEqual(
    frame,
    Uint8Array.from([...parts[0]!, ...parts[1]!, ...parts[2]!]),
  );
  assert.equal(await reader.next(), null);
});
