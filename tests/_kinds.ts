/**
 * The one-shot kinds, each with a factory, for tests that run the same
 * checks against every kind outside the contract suite.
 *
 * @module
 */
import { ProcessWorker, ThreadWorker, type WorkerOptions } from "../mod.ts";

/** `[label, factory]` for each one-shot kind. */
export const kinds = [
  [
    "ThreadWorker",
    <A extends unknown[], R>(o: WorkerOptions<A, R>) => new ThreadWorker(o),
  ],
  [
    "ProcessWorker",
    <A extends unknown[], R>(o: WorkerOptions<A, R>) => new ProcessWorker(o),
  ],
] as const;
