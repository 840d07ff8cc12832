/**
 * The uniform {@linkcode Worker} interface, its types and the registry of
 * live workers. Importing this module also loads the thread and process
 * kinds, so `Worker.create` can build them.
 *
 * @module
 */
export {
  type ActiveChildrenCloser,
  autocloseActiveChildren,
  Worker,
} from "./_core/abstract_worker.ts";
export {
  type ArgsOption,
  type ModuleTarget,
  type PermissionDescriptor,
  type RemoteOptions,
  type Target,
  type TargetArgs,
  type TargetFunction,
  type TerminateOptions,
  type WorkerContext,
  type WorkerId,
  type WorkerInfo,
  type WorkerOptions,
  WorkerType,
} from "./types.ts";
import "./thread.ts";
import "./process.ts";
import "./persistent.ts";
import "./remote.ts";
