/**
 * Bounded memory (issue 6.7): what the library keeps after the work is
 * done. Each case runs in its own `deno` with `--expose-gc`
 * (fixtures/retained.ts), and counts objects or heap after collection:
 * nothing here measures time.
 */
import assert from "node:assert/strict";
import { FrameReader } from "../_protocol/frames.ts";

const RETAINED = new URL("./fixtures/retained.ts", import.meta.url);
const decoder = new TextDecoder();

async function retained(...args: string[]): Promise<Record<string, number>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", RETAINED.href, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, decoder.decode(stderr));
  const lines = decoder.decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

Deno.test("serializeMessage() keeps nothing of the values it serialized (issue 6.7)", async () => {
  // Deno 2.8.2's node:v8 Serializer is never collected (denoland/deno#35074)
  // and its identity map holds every object it wrote.
  const { alive } = await retained("serialize", "", "1000");
  assert.ok(alive! <= 2, `${alive} of 2000 serialized values are still alive`);
});

Deno.test("PersistentProcessWorker.put() keeps no item's arguments once its result is read (issue 6.7)", async () => {
  const { alive } = await retained("put", "process", "2000");
  assert.ok(alive! <= 2, `${alive} of 2000 items' arguments are still alive`);
});

Deno.test("PersistentThreadWorker.put() keeps no item's arguments once its result is read (issue 6.7)", async () => {
  const { alive } = await retained("put", "thread", "2000");
  assert.ok(alive! <= 2, `${alive} of 2000 items' arguments are still alive`);
});

Deno.test("PersistentProcessWorker's child keeps no result once it is sent (issue 6.7)", async () => {
  const { alive } = await retained("child", "2000");
  assert.ok(alive! <= 2, `the child still holds ${alive} of 2000 results`);
});

for (const kind of ["process", "thread"]) {
  Deno.test(
    `Persistent${
      kind === "process" ? "Process" : "Thread"
    }Worker heap does not grow with the number of items put (issue 6.7)`,
    async () => {
      // 50k tiny items: a record of ~100 bytes per item would be ~5 MB; the
      // bound is generous for the collector's noise.
      const { growth } = await retained("heap", kind, "50000");
      assert.ok(
        growth! < 2_000_000,
        `the heap grew ${growth} bytes over 50000 more items`,
      );
    },
  );
}

for (const kind of ["process", "thread"]) {
  Deno.test(
    `Persistent${
      kind === "process" ? "Process" : "Thread"
    }Worker keeps no big argument or result once its call() has returned (issue 6.7)`,
    async () => {
      // 20 MB each way; what is left after collection must be far less.
      const report = await retained("big", kind, "20000000");
      assert.ok(
        report.out! < 5_000_000,
        `${report.out} bytes of a result kept`,
      );
      assert.ok(
        report.in! < 5_000_000,
        `${report.in} bytes of an argument kept`,
      );
    },
  );
}

Deno.test("FrameReader lets go of a large frame's buffer once that frame is read (issue 6.7)", async () => {
  // One 8 MB frame, then small ones: the reader must not keep 8 MB for the
  // rest of the stream (a 200 MB item would otherwise stay 200 MB for good).
  const big = new Uint8Array(4 + 8_000_000);
  new DataView(big.buffer).setUint32(0, 8_000_000);
  const small = Uint8Array.of(0, 0, 0, 2, 7, 7);
  const chunks = [big, small, small];
  const buffers: number[] = [];
  const reader = new FrameReader({
    read(p) {
      buffers.push(p.buffer.byteLength);
      const chunk = chunks.shift();
      if (chunk === undefined) return Promise.resolve(null);
      // Bigger chunks than `p` come in pieces, as a socket gives them.
      const n = Math.min(p.length, chunk.length);
      p.set(chunk.subarray(0, n));
      if (n < chunk.length) chunks.unshift(chunk.subarray(n));
      return Promise.resolve(n);
    },
  });
  assert.equal((await reader.next())?.length, 8_000_000);
  assert.deepEqual(await reader.next(), Uint8Array.of(7, 7));
  assert.deepEqual(await reader.next(), Uint8Array.of(7, 7));
  assert.equal(await reader.next(), null);
  assert.ok(
    buffers.at(-1)! <= 1 << 20,
    `the reader still reads into a buffer of ${buffers.at(-1)} bytes`,
  );
});

Deno.test("encodeItems() writes items of primitive arguments without a node:v8 serializer (issue 6.7)", async () => {
  // Even collectable, each serializer holds what it wrote until two major
  // collections have passed: one per batch grew the heap between them.
  const { DefaultSerializer } = await import("node:v8");
  const { encodeItems, decodeItems } = await import("../_protocol/items.ts");
  const values = [0, -0, NaN, 1.5e300, "", "héllo ✓ 😀", true, false, null];
  const items = [
    { seq: 0, call: false, args: values },
    { seq: 1, call: true, args: [undefined, 12n, -3n, 2 ** 53] },
    { seq: 2, call: false, args: [] },
  ];
  const writeHeader = DefaultSerializer.prototype.writeHeader;
  let serializers = 0;
  DefaultSerializer.prototype.writeHeader = function (this: unknown) {
    serializers++;
    return writeHeader.call(this as typeof DefaultSerializer.prototype);
  };
  let parts: Uint8Array[];
  try {
    parts = encodeItems(items);
  } finally {
    DefaultSerializer.prototype.writeHeader = writeHeader;
  }
  assert.equal(serializers, 0);
  const payload = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    payload.set(part, offset);
    offset += part.length;
  }
  const decoded = decodeItems(payload);
  assert.deepEqual(decoded, items);
  assert.ok(Object.is((decoded[0]!.args as unknown[])[1], -0));
});
