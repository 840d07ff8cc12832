/**
 * What a `deno` child running _child/process_entry.ts is sent and sends,
 * as its parent encodes and decodes it: the same bytes whether the child
 * is this machine's (process.ts, over a Unix socket) or a server's job
 * (remote.ts, relayed through the server as they are).
 *
 * @module
 */
import type { BackendSink } from "../_core/lifecycle.ts";
import { WorkerDiedError } from "../errors.ts";
import {
  deserializeMessage,
  MAX_MESSAGE_BYTES,
  serializeError,
  serializeMessage,
} from "../_protocol/v8.ts";
import {
  decodeResult,
  encodeItems,
  isResultFrame,
} from "../_protocol/items.ts";
import { unsendableError } from "../_core/unsendable.ts";
import type {
  ChildMessage,
  ItemResult,
  ParentMessage,
  StartMessage,
} from "../_protocol/messages.ts";

const ENTRY = new URL("../_child/process_entry.ts", import.meta.url);

/** The child's bootstrap module. */
export const BOOTSTRAP: URL = ENTRY;

/** The start message's frame; an unsendable part throws a `TypeError` naming it. */
export function encodeStart(
  sink: BackendSink,
  start: StartMessage,
): Uint8Array {
  try {
    return serializeMessage(start);
  } catch (error) {
    throw unsendableError(start, sink.describe(), error, serializeError);
  }
}

/**
 * One message as the parts of one frame: items carry their arguments
 * serialized at submit and are framed as they are; anything else is
 * serialized here (a bad value throws to the caller).
 */
export function encodeParentMessage(
  message: ParentMessage,
): readonly Uint8Array[] {
  return message.t === "items"
    ? encodeItems(message.items)
    : [serializeMessage(message)];
}

/** One frame from the child, decoded. */
export function decodeChildFrame(frame: Uint8Array): ChildMessage {
  return isResultFrame(frame)
    ? { t: "results", results: [decodeResult(frame)] }
    : deserializeMessage<ChildMessage>(frame);
}

/**
 * Gathers the hand-encoded results of consecutive frames into one
 * `results` message. A persistent child sends each result as a frame of
 * its own, and they arrive many per read: handled one message each, every
 * result paid the worker's whole per-message path (observers, refilling
 * the child's window, waking readers).
 */
export class ResultBatch {
  readonly #deliver: (message: ChildMessage) => void;
  #results: ItemResult[] = [];

  /** @param deliver Where the gathered messages go, in order. */
  constructor(deliver: (message: ChildMessage) => void) {
    this.#deliver = deliver;
  }

  /**
   * Takes `frame` if it is a hand-encoded result (decoded at once: it may
   * be a view); else delivers what was gathered, so that the caller's
   * handling of the frame comes after it, and returns false.
   */
  add(frame: Uint8Array): boolean {
    if (isResultFrame(frame)) {
      this.#results.push(decodeResult(frame));
      return true;
    }
    this.flush();
    return false;
  }

  /** Delivers what was gathered, as one message. */
  flush(): void {
    if (this.#results.length === 0) return;
    const results = this.#results;
    this.#results = [];
    this.#deliver({ t: "results", results });
  }
}

/** The error of a child that exited without reporting. */
export function diedError(
  sink: BackendSink,
  status: { code: number; signal: string | null },
  connected: boolean,
  cause?: unknown,
): WorkerDiedError {
  return new WorkerDiedError(
    `${sink.describe(true)} ${
      status.signal !== null
        ? `was killed by ${status.signal}`
        : `exited with code ${status.code}`
    }${connected ? "" : " before it started"}`,
    {
      exitCode: status.code,
      ...(status.signal === null
        ? {}
        : { signal: status.signal as Deno.Signal }),
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/**
 * Whether the child writes its results from a sender thread
 * (_child/sender.ts): only a persistent worker gains from it (it costs
 * ~20 ms at start), and only with a target known to be synchronous. An
 * async target yields between items anyway, and the child then makes sure
 * earlier results have left before the next item starts (that item could
 * tell the world it started, and be killed, within microseconds): a thread
 * hand-off per item, ~5x the cost of writing them from the main thread.
 */
export function usesSender(start: StartMessage): boolean {
  return start.persistent && start.target.kind === "source" &&
    !/^async\b/.test(start.target.source);
}

/**
 * The child's extra environment, own properties only, checked: Deno's own
 * error for a value that is not a string names neither the option nor the
 * variable.
 */
export function checkEnv(
  env: unknown,
): Record<string, string> | undefined {
  if (env === undefined) return undefined;
  if (env === null || typeof env !== "object" || Array.isArray(env)) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(env)
      } as env: expected an object of string values`,
    );
  }
  const copy: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string") {
      throw new TypeError(
        `Cannot use ${Deno.inspect(value)} as env.${name}: expected a string`,
      );
    }
    if (name === "" || /[=\0]/.test(name) || value.includes("\0")) {
      throw new TypeError(
        `Cannot use env.${name}: a variable name must be non-empty, without ` +
          '"=" or NUL, and its value without NUL',
      );
    }
    copy[name] = value;
  }
  return copy;
}

/**
 * Captures an item's arguments at submit. Primitives are immutable: an item
 * made only of them is kept as it is and serialized with its batch's
 * header (one serialization per message, not per item). Any other item is
 * serialized once, now: that captures it, and gives its size and the
 * clonability check; its bytes are then framed as they are (see
 * _protocol/items.ts).
 */
export function captureArgs(args: readonly unknown[]): {
  args: unknown[] | Uint8Array;
  bytes: number;
} {
  let bytes = 0;
  for (const arg of args) {
    const type = typeof arg;
    if (type === "string") bytes += 8 + (arg as string).length * 3;
    else if (
      (type !== "object" || arg === null) && type !== "function" &&
      type !== "symbol"
    ) bytes += 16;
    else {
      const serialized = serializeMessage(args);
      return { args: serialized, bytes: serialized.length };
    }
  }
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot send ${bytes} bytes as the limit is ${MAX_MESSAGE_BYTES}`,
    );
  }
  return { args: [...args], bytes };
}
