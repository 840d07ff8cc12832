/** Workers created inside workers (issue 6.5). */
import assert from "node:assert/strict";
import { ThreadWorker } from "../mod.ts";

const LIBRARY = new URL("../mod.ts", import.meta.url).href;

Deno.test("ProcessWorker constructor works inside a thread worker (issue 6.5)", async () => {
  await using worker = new ThreadWorker({
    target: async (library: string) => {
      const { ProcessWorker } = await import(library);
      await using inner = new ProcessWorker({
        target: (x: number) => x * 2,
        args: [21],
      });
      await inner.wait(10_000);
      return inner.error?.message ?? inner.result;
    },
    args: [LIBRARY],
  });
  assert.equal(await worker.wait(20_000), true);
  assert.equal(worker.error?.message ?? worker.result, 42);
});
