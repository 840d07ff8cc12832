/**
 * Bounded memory (issue 6.7): what the library keeps after the work is
 * done. Each case runs in its own `deno` with `--expose-gc`
 * (fixtures/retained.ts), and counts objects or heap after collection:
 * nothing here measures time.
 */
import assert from "node:assert/strict";

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
