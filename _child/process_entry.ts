/**
 * Entry point of a process worker's child (`deno run _child/process_entry.ts
 * <socket> <control file> <dir> <revoke> <guard> <parent pid> <host>`).
 *
 * Two channels, so that nothing the target prints can corrupt the protocol
 * and a busy target cannot miss a stop request:
 *
 * - data: a private Unix socket the parent listens on. Frames of
 *   V8-serialized {@linkcode ParentMessage}/{@linkcode ChildMessage}, stop
 *   requests included (they abort `ctx.signal`).
 * - control: a one-byte file the parent writes when a stop is requested.
 *   The child opens it before it connects (the directory goes once it has
 *   connected), and `ctx.throwIfTerminated()` reads it at most once
 *   per millisecond, so a stop request is seen even in a loop that never
 *   yields, without a thread: a control thread would cost the child ~20 ms
 *   of start-up (`new Worker` blocks that long) and ~15 MB.
 *
 * A persistent child with a synchronous target (the parent passes
 * `sender`) also has a sender thread (sender.ts) with a second connection,
 * on which it writes the results the main thread leaves in a shared ring,
 * many per write; the main thread then only reads the first connection.
 * `Deno.exit()` is wrapped to wait (bounded) for the ring to empty first.
 * "Connect" below means both connections: the directory goes once both
 * are in.
 *
 * Start-up, in this order: open the control file, connect (a child that
 * cannot has lost its parent: it removes the directory and exits), remove
 * the private directory (the parent does too: whoever is first), then arm
 * the orphan guard and revoke the setup grants. The directory goes before
 * the guard is armed because an armed child is SIGKILLed with its parent
 * and could no longer clean up (issue 6.11).
 *
 * The child never outlives its parent: see orphan_guard.ts. The child
 * starts with a few grants the target was not given (to reach the socket
 * and remove its directory, and what its guard needs); it revokes them
 * before the target is loaded. An error nobody catches (a stray timer's
 * throw, an unhandled rejection) is noted to the parent before Deno ends the
 * child for it (unless the target's own listener prevents that), as in a
 * thread.
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
import { FramedChannel } from "../_protocol/channel.ts";
import { encodeError } from "../_protocol/error_codec.ts";
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
import { type ChildLink, SenderLink } from "./sender.ts";

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

const [
  socketPath,
  controlPath,
  dir,
  revokeJson,
  guardJson,
  parentPid,
  host,
  mode,
] = Deno.args;
const revoke: Deno.PermissionDescriptor[] = JSON.parse(revokeJson ?? "[]");
const guard: OrphanGuard = JSON.parse(guardJson ?? '{"kind":"thread"}');

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

// Opened before connecting: once connected, the directory goes.
let controlFile: Deno.FsFile;
try {
  controlFile = Deno.openSync(controlPath!, { read: true });
} catch {
  // The directory is gone already: so is the parent (or its sweep).
  Deno.exit(1);
}
const controlByte = new Uint8Array(1);
/** Whether the parent wrote its stop byte into the control file. */
function stopRequested(): boolean {
  controlFile.seekSync(0, Deno.SeekMode.Start);
  return (controlFile.readSync(controlByte) ?? 0) > 0 && controlByte[0] !== 0;
}
/** Removes the private directory (whichever of parent and child is first). */
function removeDir(): void {
  try {
    Deno.removeSync(dir!, { recursive: true });
  } catch {
    // already gone: the parent was first
  }
}

// Connect before arming the parent-death signal: until this child has
// removed its directory, it must live to remove it even if its parent dies
// (defect 11). A child that cannot connect has lost its parent: it cleans
// up and leaves.
// An items frame carries an item of up to MAX_MESSAGE_BYTES, plus its header.
const MAX_FRAME = MAX_MESSAGE_BYTES + (1 << 20);
/**
 * The link to the parent. A persistent worker's goes through a sender
 * thread (see sender.ts: its results leave without the main thread
 * writing each); a one-shot worker's is the socket itself, sparing it the
 * ~20 ms a `new Worker` costs at start.
 */
async function connect(): Promise<ChildLink> {
  const conn = await Deno.connect({ transport: "unix", path: socketPath! });
  const channel = new FramedChannel(conn, MAX_FRAME);
  if (mode !== "sender") return channel;
  return await SenderLink.connect(channel, socketPath!, {
    // What connecting takes (Deno asks for both), nothing else.
    read: [socketPath!],
    write: [socketPath!],
    net: false,
    env: false,
    ffi: false,
    run: false,
    sys: false,
    import: false,
  });
}
let channel: ChildLink;
try {
  channel = await connect();
} catch {
  removeDir();
  Deno.exit(1);
}
removeDir();
if (
  guard.kind === "pdeathsig" &&
  !armParentDeathSignal(guard.libc, Number(parentPid))
) Deno.exit(1); // the parent is already gone
for (const descriptor of revoke) Deno.permissions.revokeSync(descriptor);

function send(message: ChildMessage): void {
  // The sender link copies a frame into its ring at once: it may be encoded
  // into a reused buffer. A socket writer keeps it queued: a fresh one.
  const framed = message.t === "results" && message.results.length === 1
    ? encodeResultFrame(message.results[0]!, channel instanceof SenderLink)
    : undefined;
  if (framed !== undefined) channel.sendFrame(framed);
  else channel.send(serializeMessage(message));
}

/** How long a dying child waits for its last words to go out. */
const LAST_WORDS_MS = 1000;

if (channel instanceof SenderLink) {
  // A result handed to the sender may not have been written yet when an
  // item calls Deno.exit(): wait for it (bounded) first.
  const link = channel;
  const exit = Deno.exit;
  (Deno as { exit: (code?: number) => never }).exit = (code) => {
    link.flushSync(LAST_WORDS_MS);
    return exit(code);
  };
}

/**
 * An error nobody caught (a stray timer's throw, an unhandled rejection):
 * noted to the parent before Deno decides, so that the worker's error
 * carries it rebuilt. Not prevented: a listener of the target's may do that
 * and go on (the parent then forgets the note), as in a thread; else Deno
 * prints it and exits with code 1 right after the listeners, so the note
 * must be out by then. A socket write leaves inside the call when the
 * socket has room; a sender thread's ring is waited for (bounded), as the
 * Deno.exit wrapper does.
 */
function noteUncaught(error: unknown): void {
  try {
    send({
      t: "uncaught",
      error: encodeError(error, (value) => serializeError(value) === undefined),
    });
    (channel as Partial<SenderLink>).flushSync?.(LAST_WORDS_MS);
  } catch {
    // the socket broke: the exit code is all the parent will get
  }
}
globalThis.addEventListener("error", (event) => noteUncaught(event.error));
globalThis.addEventListener(
  "unhandledrejection",
  (event) => noteUncaught(event.reason),
);

const first = await channel.next();
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
    pending: () => channel.idle,
    flush: () => (channel as Partial<SenderLink>).flush?.(LAST_WORDS_MS),
  },
  { host: host ?? start.host, pid: Deno.pid, tid: Deno.pid },
  stopRequested,
);
child.runtime = runtime;
if (channel instanceof SenderLink) channel.more = () => runtime.queued > 0;
send({ t: "ready", host: host ?? start.host, pid: Deno.pid, tid: Deno.pid });

// Feed the runtime until the parent closes the socket.
(async () => {
  try {
    for (;;) {
      const bytes = await channel.next();
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
await channel.drained();
Deno.exit(0);
