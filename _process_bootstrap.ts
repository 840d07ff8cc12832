/**
 * Entry point of a process worker's child (`deno run _process_bootstrap.ts
 * <socket> <revoke> <guard> <parent pid>`).
 *
 * Two channels, so that nothing the target prints can corrupt the protocol
 * and a busy target cannot miss a stop request:
 *
 * - data: a private Unix socket the parent listens on. Frames of
 *   V8-serialized {@linkcode ParentMessage}/{@linkcode ChildMessage}, stop
 *   requests included (they abort `ctx.signal`).
 * - control: this process's stdin, where the parent also writes a "T" byte
 *   per stop request. A control thread (a Web Worker) reads it and sets a
 *   shared flag, so `ctx.throwIfTerminated()` sees the request even in a
 *   loop that never yields. The thread is started on the target's first
 *   `throwIfTerminated()` call (a `new Worker` blocks ~20 ms, so targets
 *   that never ask do not pay for it); bytes written before wait in the pipe.
 *
 * The child never outlives its parent: see _orphan_guard.ts. The child
 * starts with a few grants the target was not given (to reach the socket,
 * and what its guard needs); it revokes them before the target is loaded.
 *
 @module
 */
import { ChildRuntime } from "./_child.ts";
import {
  type ChildMessage,
  FrameReader,
  FrameWriter,
  type ParentMessage,
  type StartMessage,
  TERMINATE_BYTE,
} from "./_wire.ts";
import { deserializeMessage, serializeMessage } from "./_serialize.ts";
import { armParentDeathSignal, type OrphanGuard } from "./_orphan_guard.ts";

/** How long an orphaned child lets its target unwind before it kills itself. */
const ORPHAN_GRACE_MS = 1000;

/** Runs in the control thread. Shipped as source, so it must be self-contained. */
function controlMain(): void {
  const scope = globalThis as unknown as {
    onmessage: (event: MessageEvent) => void;
    postMessage(message: string): void;
  };
  scope.onmessage = async (event: MessageEvent) => {
    const { flag, terminateByte, canKill, graceMs } = event.data;
    const shared = new Int32Array(flag);
    const buffer = new Uint8Array(256);
    try {
      for (;;) {
        const n = await Deno.stdin.read(buffer);
        if (n === null) break;
        if (buffer.subarray(0, n).includes(terminateByte)) {
          Atomics.store(shared, 0, 1);
          scope.postMessage("terminate");
        }
      }
    } catch {
      // A broken stdin means the same as its end: the parent is gone.
    }
    Atomics.store(shared, 0, 1);
    scope.postMessage("orphaned");
    if (canKill) setTimeout(() => Deno.kill(Deno.pid, "SIGKILL"), graceMs);
  };
}

const [socketPath, revokeJson, guardJson, parentPid] = Deno.args;
const revoke: Deno.PermissionDescriptor[] = JSON.parse(revokeJson ?? "[]");
const guard: OrphanGuard = JSON.parse(guardJson ?? '{"kind":"thread"}');
if (
  guard.kind === "pdeathsig" &&
  !armParentDeathSignal(guard.libc, Number(parentPid))
) Deno.exit(1); // the parent is already gone

const flag = new SharedArrayBuffer(4);
/** Set once `start` has arrived; control messages before that only set the flag. */
const child: { runtime?: ChildRuntime; finished: boolean } = {
  finished: false,
};

let control: Worker | undefined;
function startControl(canKill: boolean): void {
  if (control !== undefined) return;
  control = new Worker(
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
  control.postMessage({
    flag,
    terminateByte: TERMINATE_BYTE,
    canKill,
    graceMs: ORPHAN_GRACE_MS,
  });
  control.onmessage = (event: MessageEvent<string>) => {
    if (event.data === "terminate") child.runtime?.requestTerminate();
    else orphaned();
  };
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

const conn = await Deno.connect({ transport: "unix", path: socketPath! });
for (const descriptor of revoke) Deno.permissions.revokeSync(descriptor);

const reader = new FrameReader(conn);
const writer = new FrameWriter(conn);
const send = (message: ChildMessage) => writer.send(serializeMessage(message));

const first = await reader.next();
if (first === null) Deno.exit(1); // the parent went away before starting us
const start = deserializeMessage<StartMessage>(first);
const runtime = new ChildRuntime(
  start,
  new Int32Array(flag),
  { send },
  { pid: Deno.pid, tid: Deno.pid },
  () => startControl(false),
);
child.runtime = runtime;
send({ t: "ready", pid: Deno.pid, tid: Deno.pid });

// Feed the runtime until the parent closes the socket.
(async () => {
  try {
    for (;;) {
      const bytes = await reader.next();
      if (bytes === null) break;
      runtime.receive(deserializeMessage<ParentMessage>(bytes));
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
