/**
 * A live progress bar for a long pool run, drawn from `pool.stats` while
 * the run goes on: one thread and one process worker count the primes
 * below each of 2,000 numbers. On a terminal the bar redraws in place;
 * otherwise (a pipe, a CI log) it prints a plain line every half second.
 * Either way it ends with `done: 2000 items, 0 failed, <n> items/s`.
 *
 * Run it with `deno run -A examples/pool_progress.ts`.
 *
 * @module
 */
import { Pool, WorkerType } from "../mod.ts";

/** The target: how many primes are below `n` (some work per item). */
function primesBelow(n: number): number {
  let count = 0;
  for (let k = 2; k < n; k++) {
    let prime = true;
    for (let d = 2; d * d <= k; d++) {
      if (k % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

const ITEMS = 2000;
const WIDTH = 30;

/** One line of progress: a bar on a terminal, plain text otherwise. */
function progress(done: number, failed: number, rate: number, tty: boolean) {
  const share = (done + failed) / ITEMS;
  const text = `${done + failed}/${ITEMS} (${Math.round(rate)} items/s)`;
  if (!tty) return `progress ${text}`;
  const filled = Math.round(share * WIDTH);
  return `[${"#".repeat(filled)}${" ".repeat(WIDTH - filled)}] ${text}`;
}

if (import.meta.main) {
  const tty = Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  await using pool = new Pool({ target: primesBelow });
  pool.addWorker(WorkerType.THREAD);
  pool.addWorker(WorkerType.PROCESS);
  const input = Array.from(
    { length: ITEMS },
    (_, i) => [20_000 + i] as [number],
  );
  const run = pool.run(input);
  const timer = setInterval(() => {
    const stats = pool.stats;
    if (stats === undefined) return;
    const line = progress(stats.done, stats.failed, stats.throughput, tty);
    if (tty) Deno.stdout.writeSync(encoder.encode(`\r${line}`));
    else console.log(line);
  }, tty ? 100 : 500);
  try {
    await run;
  } finally {
    clearInterval(timer);
  }
  const stats = pool.stats!;
  if (tty) console.log();
  console.log(
    `done: ${stats.done} items, ${stats.failed} failed, ${
      Math.round(stats.throughput)
    } items/s`,
  );
}
