import { ThreadWorker, WorkerType } from "../mod.ts";
import { contractSuite } from "./_contract.ts";

contractSuite(
  "ThreadWorker",
  WorkerType.THREAD,
  (options) => new ThreadWorker(options),
);
