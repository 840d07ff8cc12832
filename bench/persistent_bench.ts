/**
 * Per-item overhead of persistent workers, streamed: N items of a trivial
 * target `(x) => x` through one already-started worker, against the raw
 * floor of the same transport — a bare Worker echoing `postMessage`s, and a
 * bare `deno` child echoing bytes through its stdin/stdout pipes.
 *
 * Spawning is outside the timed part (`b.start()`/`b.end()`): this measures
 * only the stream. Items/s = N / time.
 *
 * @module
 */
import {
  PersistentProcessWorker,
  PersistentThreadWorker,
  type PersistentWorker,
} from "../mod.ts";
import { fixture, fixturePath, RUN_FLAGS } from "./_util.ts";

const N = 10_000;

/** Streams N items through an already-started worker; only that is timed. */
async function stream(
  b: Deno.BenchContext,
  worker: PersistentWorker<[number], number>,
): Promise<void> {
  await worker.ready;
  b.start();
  for (let i = 0; i < N; i++) worker.enqueue(i);
  worker.close();
  let received = 0;
  for await (const _ of worker.results()) received++;
  b.end();
  await worker.wait();
  if (received !== N) throw new Error(`got ${received} of ${N}`);
}

Deno.bench({
  name: `bare Worker: ${N} postMessage round trips, streamed`,
  group: "persistent thread, per item",
  baseline: true,
  async fn(b) {
    const worker = new Worker(fixture("stream_echo_worker.ts"), {
      type: "module",
    });
    let received = 0;
    const all = Promise.withResolvers<void>();
    worker.onmessage = () => {
      if (++received === N) all.resolve();
    };
    b.start();
    for (let i = 0; i < N; i++) worker.postMessage(i);
    await all.promise;
    b.end();
    worker.terminate();
  },
});

Deno.bench({
  name: `PersistentThreadWorker: ${N} items of (x) => x`,
  group: "persistent thread, per item",
  // deno bench awaits only functions declared async.
  async fn(b) {
    await stream(b, new PersistentThreadWorker({ target: (x: number) => x }));
  },
});

Deno.bench({
  name: `bare deno child: ${N} pipe round trips (8-byte records), streamed`,
  group: "persistent process, per item",
  baseline: true,
  async fn(b) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...RUN_FLAGS, fixturePath("pipe_echo_child.ts")],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    const reader = child.stdout.getReader();
    const record = new Uint8Array(8);
    b.start();
    // One write per item, as a naive protocol would; the child echoes.
    const writing = (async () => {
      for (let i = 0; i < N; i++) {
        new DataView(record.buffer).setFloat64(0, i);
        await writer.write(record.slice());
      }
    })();
    let bytes = 0;
    while (bytes < N * 8) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    await writing;
    b.end();
    await writer.close();
    reader.releaseLock();
    await child.stdout.cancel();
    await child.status;
  },
});

Deno.bench({
  name: `PersistentProcessWorker: ${N} items of (x) => x`,
  group: "persistent process, per item",
  // deno bench awaits only functions declared async.
  async fn(b) {
    await stream(b, new PersistentProcessWorker({ target: (x: number) => x }));
  },
});
