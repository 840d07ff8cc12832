/**
 * Entry point of a process worker's child (`deno run _child/process_entry.ts
 * <socket> <revoke> <guard> <parent pid>`).
 *
 * Two channels, so that nothing the target prints can corrupt the protocol
 * and a busy target cannot miss a stop request:
 *
 * - data: a private Unix socket the parent listens on. Frames of
 *   V8-serialized {@linkcode ParentMessage}/{@linkcode ChildMessage}, stop
 *   requests included (they abort `ctx.signal`).
 * - control: a one-byte file the parent writes when a stop is requested.
 *   The child opened it before revoking its setup grants (and the parent
 *   then unlinked it), and `ctx.throwIfTerminated()` reads it at most once
 *   per millisecond, so a stop request is seen even in a loop that never
 *   yields, without a thread: a control thread would cost the child ~20 ms
 *   of start-up (`new Worker` blocks that long) and ~15 MB.
 *
 * The child never outlives its parent: see _orphan_guard.ts. The child
 * starts with a few grants the target was not given (to reach the socket,
 * and what its guard needs); it revokes them before the target is loaded.
 *
 @module
 */
import { ChildRuntime } from "./runtime.ts";
import type {
  ChildMessage,
  OrphanGuard,
  ParentMessage,
  StartMessage,
} from "../_protocol/messages.ts";
import { FrameReader, FrameWriter } from "../_protocol/frames.ts";
import {
  decodeItems,
  encodeResultFrame,
  isItemsFrame,
} from "../_protocol/items.ts";
import {
  deserializeMessage,
  MAX_MESSAGE_BYTES,
  serializeError,
  serializeMessage,
} from "../_protocol/v8.ts";
import { armParentDeathSignal } from "./orphan_guard.ts";

/** How long an orphaned child lets its target unwind before it kills itself. */
const ORPHAN_GRACE_MS = 1000;

/**
 * Runs in the control thread of the "thread" orphan guard: waits for the end
 * of stdin (the parent is gone), then asks the target to stop and kills the
 * process after a grace period. Shipped as source, so it must be
 * self-contained.
 */
function controlMain(): void {
  const scope = globalThis as unknown as {
    onmessage: (event: MessageEvent) => void;
    postMessage(message: string): void;
  };
  scope.onmessage = async (event: MessageEvent) => {
    const { canKill, graceMs } = event.data;
    const buffer = new Uint8Array(256);
    try {
      while (await Deno.stdin.read(buffer) !== null) {
        // The parent never writes: only the end of stdin means something.
      }
    } catch {
      // A broken stdin means the same as its end.
    }
    scope.postMessage("orphaned");
    if (canKill) setTimeout(() => Deno.kill(Deno.pid, "SIGKILL"), graceMs);
  };
}

const [socketPath, controlPath, revokeJson, guardJson, parentPid] = Deno.args;
const revoke: Deno.PermissionDescriptor[] = JSON.parse(revokeJson ?? "[]");
const guard: OrphanGuard = JSON.parse(guardJson ?? '{"kind":"thread"}');
if (
  guard.kind === "pdeathsig" &&
  !armParentDeathSignal(guard.libc, Number(parentPid))
) Deno.exit(1); // the parent is already gone

const flag = new SharedArrayBuffer(4);
/** The runtime, once `start` has arrived. */
const child: { runtime?: ChildRuntime; finished: boolean } = {
  finished: false,
};

/** The "thread" orphan guard: a control thread that kills an orphaned child. */
function startControl(canKill: boolean): void {
  const control = new Worker(
    URL.createObjectURL(
      new Blob([`(${controlMain.toString()})()`], { type: "text/javascript" }),
    ),
    {
      type: "module",
      name: "pyworkers control",
      deno: {
        permissions: {
          run: canKill,
          read: false,
          write: false,
          net: false,
          env: false,
          ffi: false,
          sys: false,
          import: false,
        },
      },
    },
  );
  control.postMessage({ canKill, graceMs: ORPHAN_GRACE_MS });
  control.onmessage = orphaned;
}

// Without the kernel's help, the control thread guards against orphaning
// from the start, and must be able to kill this process.
if (guard.kind === "thread") {
  startControl(
    Deno.permissions.querySync({ name: "run" }).state === "granted",
  );
}

function orphaned(): void {
  if (child.finished) return;
  Atomics.store(new Int32Array(flag), 0, 1);
  child.runtime?.requestTerminate();
  setTimeout(() => Deno.exit(1), ORPHAN_GRACE_MS);
}

const controlFile = Deno.openSync(controlPath!, { read: true });
const controlByte = new Uint8Array(1);
/** Whether the parent wrote its stop byte into the control file. */
function stopRequested(): boolean {
  controlFile.seekSync(0, Deno.SeekMode.Start);
  return (controlFile.readSync(controlByte) ?? 0) > 0 && controlByte[0] !== 0;
}
const conn = await Deno.connect({ transport: "unix", path: socketPath! });
for (const descriptor of revoke) Deno.permissions.revokeSync(descriptor);

// An items frame carries an item of up to MAX_MESSAGE_BYTES, plus its header.
const reader = new FrameReader(conn, MAX_MESSAGE_BYTES + (1 << 20));
const writer = new FrameWriter(conn);
function send(message: ChildMessage): void {
  const framed = message.t === "results" && message.results.length === 1
    ? encodeResultFrame(message.results[0]!)
    : undefined;
  if (framed !== undefined) writer.sendFrame(framed);
  else writer.send(serializeMessage(message));
}

const first = await reader.next();
if (first === null) Deno.exit(1); // the parent went away before starting us
const start = deserializeMessage<StartMessage>(first);
const runtime = new ChildRuntime(
  start,
  new Int32Array(flag),
  {
    send,
    cloneError: serializeError,
    // Results leave as items finish; the runtime waits for this before the
    // next item, so an exit or a kill during it loses none of them.
    pending: () => writer.idle,
  },
  { pid: Deno.pid, tid: Deno.pid },
  stopRequested,
);
child.runtime = runtime;
send({ t: "ready", pid: Deno.pid, tid: Deno.pid });

// Feed the runtime until the parent closes the socket.
(async () => {
  try {
    for (;;) {
      const bytes = await reader.next();
      if (bytes === null) break;
      runtime.receive(
        isItemsFrame(bytes)
          ? { t: "items", items: decodeItems(bytes) }
          : deserializeMessage<ParentMessage>(bytes),
      );
    }
  } catch {
    // A broken socket: handled as end of input below.
  }
  orphaned();
})();

await runtime.run();
child.finished = true;
await writer.drained();
Deno.exit(0);
