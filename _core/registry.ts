/**
 * The registry of worker kinds, keyed by {@linkcode WorkerType}: each kind
 * registers its transport (how a child is started and what can be sent to
 * it) and its one-shot and persistent classes. `Worker.create` and the
 * constructors look kinds up here, so the core never imports a backend.
 *
 * @module
 */
import type { WorkerOptions } from "../types.ts";
import { WorkerType } from "../types.ts";
import type { Item, StartMessage } from "../_protocol/messages.ts";
import type { Backend, BackendSink } from "./lifecycle.ts";

/** How one kind starts its child and what it can send to it. */
export interface Transport {
  /**
   * Starts the child, which reports through `sink`. Throws (synchronously)
   * if it cannot even be tried.
   */
  spawn(
    sink: BackendSink,
    start: StartMessage,
    options: WorkerOptions,
  ): Backend;
  /** Why a value cannot be sent to this kind's child, or undefined. */
  cloneError(value: unknown): unknown;
  /**
   * Captures a persistent item's arguments now, with structured-clone
   * semantics (later changes to them must not reach the child): returns
   * what the kind's backend sends as the item's `args`, and its size in
   * bytes (0 where no limit applies). Throws if they cannot be sent.
   */
  capture(args: readonly unknown[]): { args: Item["args"]; bytes: number };
  /** The kind's own option names, besides every worker's (read as own properties too). */
  readonly optionNames?: readonly string[];
}

/** What a worker class is: its kind, whether it is persistent, and its transport. */
export interface Kind {
  readonly type: WorkerType;
  readonly persistent: boolean;
  readonly transport: Transport;
}

// deno-lint-ignore no-explicit-any
type WorkerClass = abstract new (...args: any[]) => unknown;

interface Entry {
  transport?: Transport;
  oneShot?: WorkerClass;
  persistent?: WorkerClass;
}

const entries = new Map<WorkerType, Entry>();
const classes = new Map<
  WorkerClass,
  { type: WorkerType; persistent: boolean }
>();

/** Registers how a kind starts its children. */
export function registerTransport(
  type: WorkerType,
  transport: Transport,
): void {
  const entry = entries.get(type) ?? {};
  entry.transport = transport;
  entries.set(type, entry);
}

/** Registers the one-shot or persistent class of a kind. */
export function registerClass(
  cls: WorkerClass,
  type: WorkerType,
  persistent: boolean,
): void {
  const entry = entries.get(type) ?? {};
  if (persistent) entry.persistent = cls;
  else entry.oneShot = cls;
  entries.set(type, entry);
  classes.set(cls, { type, persistent });
}

/** The kind registered for `cls` or its nearest registered ancestor. */
export function kindOf(cls: unknown): Kind {
  for (let c = cls; c; c = Object.getPrototypeOf(c)) {
    const found = classes.get(c as WorkerClass);
    if (found === undefined) continue;
    const transport = entries.get(found.type)?.transport;
    if (transport === undefined) break;
    return { ...found, transport };
  }
  throw new TypeError("Cannot construct an abstract worker class");
}

/** The names of the kinds that can be created now, for error messages. */
function loadedKinds(persistent: boolean): string[] {
  return [...entries].filter(([, entry]) =>
    entry.transport !== undefined &&
    (persistent ? entry.persistent : entry.oneShot) !== undefined
  ).map(([type]) => `WorkerType.${WorkerType[type]}`);
}

/**
 * The class that makes workers of `type`. Throws a `TypeError` naming the
 * kinds that can be created when `type` is not one of them.
 */
export function classFor(type: WorkerType, persistent: boolean): WorkerClass {
  const entry = entries.get(type);
  const cls = persistent ? entry?.persistent : entry?.oneShot;
  if (cls !== undefined && entry?.transport !== undefined) return cls;
  const known = typeof type === "number" && Object.hasOwn(WorkerType, type);
  const why = known ? " as its module is not loaded" : "";
  throw new TypeError(
    `Cannot create a ${persistent ? "persistent " : ""}worker of type ${
      known ? `WorkerType.${WorkerType[type]}` : Deno.inspect(type)
    }${why}: expected ${loadedKinds(persistent).join(", ")}`,
  );
}
