/**
 * What a big item costs the parent: three 200 MB `Uint8Array` items through
 * one persistent process worker (`call()`, so each is answered on its own).
 * Reports the time each `call()` holds the parent's thread synchronously, the
 * longest stall of the parent's event loop (a 1 ms interval's worst gap), the
 * wall time to all three answers, and the peak RSS of the parent.
 *
 * A plain script (`deno run -A bench/big_item.ts`), not `deno bench`: one
 * run is seconds long and the stall is what matters.
 *
 * @module
 */
import { PersistentProcessWorker } from "../mod.ts";

const MB = 1024 * 1024;
const SIZE = 200 * MB;
const COUNT = 3;

const worker = new PersistentProcessWorker<[Uint8Array], number>({
  target: (bytes: Uint8Array) => bytes.length,
});
await worker.ready;

let worstGap = 0;
let peakRss = Deno.memoryUsage().rss;
let last = performance.now();
const ticker = setInterval(() => {
  const now = performance.now();
  worstGap = Math.max(worstGap, now - last);
  last = now;
  peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
}, 1);

const items = Array.from(
  { length: COUNT },
  (_, i) => new Uint8Array(SIZE).fill(i),
);
const baseRss = Deno.memoryUsage().rss;
const start = performance.now();
const syncMs: number[] = [];
const answers: Promise<number>[] = [];
for (const item of items) {
  const before = performance.now();
  answers.push(worker.call(item));
  syncMs.push(performance.now() - before);
}
const lengths = await Promise.all(answers);
const wallMs = performance.now() - start;
clearInterval(ticker);
peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
await worker.wait();
if (lengths.some((n) => n !== SIZE)) {
  throw new Error(`wrong answers ${lengths}`);
}

const round = (ms: number) => Math.round(ms);
console.log(
  JSON.stringify({
    items: `${COUNT} x ${SIZE / MB} MB`,
    callSyncMs: syncMs.map(round),
    worstLoopStallMs: round(worstGap),
    wallMs: round(wallMs),
    peakRssAboveItemsMB: Math.round((peakRss - baseRss) / MB),
  }),
);
