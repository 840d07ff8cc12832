/**
 * The one-shot kinds, each with a factory, for tests that run the same
 * checks against every kind outside the contract suite.
 *
 * @module
 */
import {
  type ArgsOption,
  ProcessWorker,
  ThreadWorker,
  type WorkerOptions,
} from "../mod.ts";

/** `[label, factory]` for each one-shot kind (loosely typed: the tests pass any options). */
export const kinds = [
  [
    "ThreadWorker",
    <A extends unknown[], R>(o: WorkerOptions<A, R>) =>
      new ThreadWorker(o as WorkerOptions<A, R> & ArgsOption<A>),
  ],
  [
    "ProcessWorker",
    <A extends unknown[], R>(o: WorkerOptions<A, R>) =>
      new ProcessWorker(o as WorkerOptions<A, R> & ArgsOption<A>),
  ],
] as const;
