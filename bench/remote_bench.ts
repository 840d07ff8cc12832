/**
 * Remote workers against the bare mechanisms underneath them: a `deno run`
 * child started at the far end of a loopback TCP connection, and
 * length-prefixed frames over that connection.
 *
 * - spawn: `RemoteWorker` running `(x) => x` on a warm server (linked,
 *   handshake, job's child started, result back, job's exit heard) vs one
 *   TCP round trip to a floor server that starts a bare `deno run` of
 *   `hello.ts` and answers at its first stdout line (the baseline) or, for
 *   reference, at its exit (a remote worker's `wait()` includes its job's
 *   exit).
 * - persistent, per item: 10,000 items through one `PersistentRemoteWorker`
 *   vs a bare framed TCP echo (one 8-byte frame written per item; the
 *   floor server echoes every whole frame it has read, one write per read).
 * - terminate, forced: `terminate({ timeout: 0 })` of a remote job spinning
 *   in `for (;;) {}` (SIGTERM on the server, then the exited frame back)
 *   vs one TCP round trip to a floor server that SIGTERMs a spinning bare
 *   child and answers at its exit.
 *
 * Both servers, the `RemoteServer` and the floor server, run in this
 * process (so client and server share one event loop in both); their
 * children are separate processes. Only the part named is timed; each
 * iteration then waits, untimed, until its processes are gone.
 *
 * Run: `deno bench -A bench/remote_bench.ts`
 *
 * @module
 */
import { PersistentRemoteWorker, RemoteServer, RemoteWorker } from "../mod.ts";
import {
  checkTerminated,
  firstLine,
  forcedProcess,
  Rendezvous,
  spawnDeno,
  untilClosed,
  waitForExit,
} from "./_util.ts";

const N = 10_000;
const TOKEN = "bench-token";
const identity = (x: number) => x;
const SPAWN = { n: 40, warmup: 4 };
const STOP = { n: 30, warmup: 3 };

function check(value: unknown, expected: unknown): void {
  if (value !== expected) {
    throw new Error(`Expected ${expected}, got ${Deno.inspect(value)}`);
  }
}

// The pyworkers server: warm (listening before the first iteration), jobs
// may hold everything (the stop target connects to a Unix socket).
const server = new RemoteServer({
  port: 0,
  token: TOKEN,
  permissions: "inherit",
  log: () => {},
});
await server.serve();
const remote = { host: server.address, token: TOKEN };

// ------------------------------------------------------------ floor server

/**
 * The floor server: per connection, one-byte requests, each answered with
 * one byte once done.
 * - "s": start `hello.ts`, answer at its first line; "S": at its exit.
 * - "r": start `spin_child.ts`, answer once it spins; "k": SIGTERM it,
 *   answer at its exit.
 */
const floor = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const floorPort = (floor.addr as Deno.NetAddr).port;

async function serveFloor(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const request = new Uint8Array(1);
  let spinning: Deno.ChildProcess | undefined;
  let spinDrained: Promise<void> | undefined;
  while (await conn.read(request) === 1) {
    switch (String.fromCharCode(request[0]!)) {
      case "s":
      case "S": {
        const child = spawnDeno("hello.ts");
        const { drained } = await firstLine(child.stdout);
        if (request[0] === 0x53) {
          await drained;
          await child.status;
          await conn.write(request);
        } else {
          await conn.write(request);
          await drained;
          await child.status;
        }
        break;
      }
      case "r": {
        spinning = spawnDeno("spin_child.ts");
        spinDrained = (await firstLine(spinning.stdout)).drained;
        await conn.write(request);
        break;
      }
      case "k": {
        spinning!.kill("SIGTERM");
        const status = await spinning!.status;
        await conn.write(request);
        await spinDrained;
        check(status.signal, "SIGTERM");
        break;
      }
    }
  }
  conn.close();
}

(async () => {
  for await (const conn of floor) serveFloor(conn);
})();

/** One request to the floor server, on a fresh connection; resolves with it open. */
async function floorConnect(): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: floorPort });
  conn.setNoDelay(true);
  return conn;
}

/** Sends one request byte and awaits its answer. */
async function ask(conn: Deno.Conn, request: string): Promise<void> {
  await conn.write(Uint8Array.of(request.charCodeAt(0)));
  const answer = new Uint8Array(1);
  if (await conn.read(answer) !== 1) throw new Error("floor server closed");
}

globalThis.addEventListener("unload", () => {
  floor.close();
});

// ------------------------------------------------------------------- spawn

Deno.bench({
  name: "bare: TCP connect + request, deno run (print one line)",
  group: "spawn remote",
  baseline: true,
  ...SPAWN,
  async fn(b) {
    b.start();
    const conn = await floorConnect();
    await ask(conn, "s");
    b.end();
    conn.close();
  },
});

Deno.bench({
  name: "bare: TCP connect + request, deno run (until exit)",
  group: "spawn remote",
  ...SPAWN,
  async fn(b) {
    b.start();
    const conn = await floorConnect();
    await ask(conn, "S");
    b.end();
    conn.close();
  },
});

Deno.bench({
  name: "RemoteWorker (x) => x, warm server",
  group: "spawn remote",
  ...SPAWN,
  async fn(b) {
    b.start();
    const worker = new RemoteWorker({ target: identity, args: [1], ...remote });
    await worker.wait();
    b.end();
    if (worker.error) throw worker.error;
    check(worker.result, 1);
    // The job's exit was heard before wait() resolved: its child is gone.
    await waitForExit(worker.pid);
  },
});

// --------------------------------------------------------- persistent

/** The end of the last whole length-prefixed frame in `data` (0 if none). */
function wholeFrames(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let end = 0;
  while (
    data.length - end >= 4 && data.length - end - 4 >= view.getUint32(end)
  ) {
    end += 4 + view.getUint32(end);
  }
  return end;
}

/** Writes all of `bytes`. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
}

/**
 * Reads length-prefixed frames from `conn` until `count` have come;
 * resolves with how many did (fewer if the stream ended).
 */
async function readFrames(conn: Deno.Conn, count: number): Promise<number> {
  const buffer = new Uint8Array(64 * 1024);
  let held = new Uint8Array(0);
  let frames = 0;
  while (frames < count) {
    const n = await conn.read(buffer);
    if (n === null) break;
    const data = held.length === 0
      ? buffer.subarray(0, n)
      : new Uint8Array([...held, ...buffer.subarray(0, n)]);
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    let end = 0;
    while (
      data.length - end >= 4 && data.length - end - 4 >= view.getUint32(end)
    ) {
      end += 4 + view.getUint32(end);
      frames++;
    }
    held = data.slice(end);
  }
  return frames;
}

/** The echo side: writes back every whole frame it has read, one write per read. */
async function echoFrames(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buffer = new Uint8Array(64 * 1024);
  let held = new Uint8Array(0);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    const data = held.length === 0
      ? buffer.subarray(0, n)
      : new Uint8Array([...held, ...buffer.subarray(0, n)]);
    const end = wholeFrames(data);
    // A partial frame waits for the rest (the next read reuses the buffer
    // only after this write is done).
    if (end > 0) await writeAll(conn, data.subarray(0, end));
    held = data.slice(end);
  }
  conn.close();
}

Deno.bench({
  name: `bare framed TCP echo: ${N} frames (8 bytes), streamed`,
  group: "persistent remote, per item",
  baseline: true,
  async fn(b) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    conn.setNoDelay(true);
    const echoed = echoFrames(await accepted);
    listener.close();
    b.start();
    // One write per item, as a naive protocol would; the server echoes.
    const writing = (async () => {
      for (let i = 0; i < N; i++) {
        const record = new Uint8Array(12);
        const view = new DataView(record.buffer);
        view.setUint32(0, 8);
        view.setFloat64(4, i);
        await writeAll(conn, record);
      }
    })();
    const frames = await readFrames(conn, N);
    await writing;
    b.end();
    conn.close();
    await echoed;
    check(frames, N);
  },
});

Deno.bench({
  name: `PersistentRemoteWorker: ${N} items of (x) => x`,
  group: "persistent remote, per item",
  async fn(b) {
    const worker = new PersistentRemoteWorker<[number], number>({
      target: (x: number) => x,
      ...remote,
    });
    await worker.ready;
    b.start();
    for (let i = 0; i < N; i++) worker.enqueue(i);
    worker.close();
    let received = 0;
    for await (const _ of worker.results()) received++;
    b.end();
    await worker.wait();
    check(received, N);
    await waitForExit(worker.pid);
  },
});

// ----------------------------------------------------------- terminate

Deno.bench({
  name: "bare: TCP request, SIGTERM a spinning child, await its exit",
  group: "terminate remote, forced",
  baseline: true,
  ...STOP,
  async fn(b) {
    const conn = await floorConnect();
    await ask(conn, "r");
    b.start();
    await ask(conn, "k");
    b.end();
    conn.close();
  },
});

Deno.bench({
  name: "RemoteWorker: terminate({ timeout: 0 }) of a spinning target",
  group: "terminate remote, forced",
  ...STOP,
  async fn(b) {
    const rendezvous = new Rendezvous();
    try {
      const worker = new RemoteWorker({
        target: forcedProcess,
        args: [rendezvous.path],
        permissions: "inherit",
        ...remote,
      });
      const conn = await rendezvous.accept();
      b.start();
      const dead = await worker.terminate({ timeout: 0 });
      b.end();
      await untilClosed(conn);
      checkTerminated(worker, dead, true);
      await waitForExit(worker.pid);
    } finally {
      rendezvous.close();
    }
  },
});
