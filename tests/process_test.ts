import { ProcessWorker, WorkerType } from "../mod.ts";
import { contractSuite } from "./_contract.ts";

contractSuite(
  "ProcessWorker",
  WorkerType.PROCESS,
  (options) => new ProcessWorker(options),
);
