/**
 * Remote workers and the server under faults and bad input (issue 7):
 * each test against a real server of its own (`deno run server/main.ts`
 * in a child process, tests/_server.ts, its log captured), each showing
 * that the server survives (a legitimate worker still gets its result
 * afterwards) and, where it drops a peer, that it logged why. Loopback
 * only; every loop bounded; waits are on events (log lines, a target's
 * start signal), never on sleeps.
 */
import assert from "node:assert/strict";
import {
  AuthenticationError,
  PersistentRemoteWorker,
  RemoteWorker,
  WorkerDiedError,
  WorkerTerminatedError,
} from "../mod.ts";
import { connectLink } from "../_backend/remote_link.ts";
import { FramedChannel } from "../_protocol/channel.ts";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  type LinkFrame,
} from "../_protocol/link.ts";
import { linkProof, newNonce } from "../_protocol/link_auth.ts";
import { startServer, type TestServer, TOKEN } from "./_server.ts";
import { startedSignal } from "./_started.ts";

/** The most any one wait of these tests takes before it counts as a hang. */
const BOUND_MS = 20_000;

/** Runs `body` against a fresh server started with `flags`, log captured; always stops it. */
async function withServer(
  flags: string[],
  body: (server: TestServer) => Promise<void>,
  env?: Record<string, string>,
): Promise<void> {
  const server = await startServer(flags, {
    log: true,
    ...(env === undefined ? {} : { env }),
  });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** Asserts that `server` still serves a legitimate worker. */
async function assertServes(server: TestServer): Promise<void> {
  const worker = new RemoteWorker({
    target: (x: number) => x * 2,
    args: [21],
    host: server.address,
    token: TOKEN,
  });
  if (!await worker.wait(BOUND_MS)) {
    await worker.terminate({ timeout: 0 });
    assert.fail("A legitimate worker got no result in time");
  }
  assert.equal(worker.error, undefined, String(worker.error));
  assert.equal(worker.result, 42);
}

/** `promise`, or a rejection once `ms` passed. */
function bounded<T>(promise: Promise<T>, ms = BOUND_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Not settled within ${ms} ms`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A plain TCP connection to `server`. */
function connect(server: TestServer): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: server.host, port: server.port });
}

/** Reads `conn` to its end (bounded), then closes it; what it read. */
async function readToEnd(conn: Deno.Conn): Promise<number> {
  const buffer = new Uint8Array(4096);
  let total = 0;
  try {
    for (;;) {
      const n = await bounded(conn.read(buffer));
      if (n === null) break;
      total += n;
    }
  } catch (error) {
    // A reset after the server dropped us is an end too.
    if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
  } finally {
    conn.close();
  }
  return total;
}

/** The server's log line for dropping the peer at `conn`'s local port. */
function dropOf(conn: Deno.Conn): RegExp {
  const { port } = conn.localAddr as Deno.NetAddr;
  return new RegExp(
    `^\\[pyworkers server\\] dropped 127\\.0\\.0\\.1:${port}: `,
  );
}

/** The server's log line for the end of the session at `conn`'s local port. */
function disconnectOf(conn: Deno.Conn): RegExp {
  const { port } = conn.localAddr as Deno.NetAddr;
  return new RegExp(
    `^\\[pyworkers server\\] 127\\.0\\.0\\.1:${port}: disconnected: `,
  );
}

/** Resolves once the process `pid` is gone, or rejects after `ms` (polled: a bound, not a sync). */
async function gone(pid: number, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  for (let i = 0; i < 10_000; i++) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      // A zombie has exited: only its parent's wait is left.
      if (/^\d+ \(.*\) Z /.test(stat)) return;
    } catch {
      return;
    }
    if (Date.now() > until) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Process ${pid} is still there after ${ms} ms`);
}

Deno.test("RemoteWorker with a wrong token: ready rejects with AuthenticationError, the server logs why and serves on (issue 7)", async () => {
  await withServer([], async (server) => {
    const worker = new RemoteWorker({
      target: () => 1,
      host: server.address,
      token: "not-the-token",
    });
    await assert.rejects(worker.ready, AuthenticationError);
    assert.ok(await worker.wait(BOUND_MS));
    assert.ok(
      worker.error instanceof AuthenticationError,
      String(worker.error),
    );
    // The client checks the server's proof first, refuses it, and says so.
    await server.logged(
      /dropped 127\.0\.0\.1:\d+: Cannot authenticate the client as it refused this server's proof of the token/,
    );
    await assertServes(server);
  });
});

Deno.test("RemoteWorker refuses a fake server that does not know the token and sends it nothing after its hello (issue 7)", async (t) => {
  for (
    const [what, answer] of [
      ["a challenge under another token", "challenge"],
      ["garbage", "garbage"],
    ] as const
  ) {
    await t.step(what, async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const { port } = listener.addr as Deno.NetAddr;
      const worker = new RemoteWorker({
        target: () => 1,
        host: ["127.0.0.1", port],
        token: TOKEN,
      });
      const conn = await bounded(listener.accept());
      listener.close();
      const fake = new FramedChannel(conn, 1 << 20);
      const hello = decodeLinkFrame((await bounded(fake.next()))!, {
        from: "client",
        authenticated: false,
      }) as Extract<LinkFrame, { type: "hello" }>;
      assert.equal(hello.type, "hello");
      if (answer === "challenge") {
        const nonce = newNonce();
        fake.send(encodeLinkFrame({
          type: "challenge",
          version: hello.version,
          nonce,
          proof: await linkProof("guessed", "server", hello.nonce, nonce),
        }));
      } else {
        fake.sendFrame(crypto.getRandomValues(new Uint8Array(64)));
      }
      assert.ok(await worker.wait(BOUND_MS));
      if (answer === "challenge") {
        assert.ok(
          worker.error instanceof AuthenticationError,
          String(worker.error),
        );
      } else {
        assert.ok(
          worker.error instanceof WorkerDiedError,
          String(worker.error),
        );
        assert.match(worker.error.message, /cannot link with the server/);
      }
      // Nothing after the hello but why it leaves: no proof, no open, no start.
      const next = await bounded(fake.next());
      if (next !== null) {
        const frame = decodeLinkFrame(next, {
          from: "client",
          authenticated: false,
        });
        assert.equal(frame.type, "close");
        assert.equal(await bounded(fake.next()), null);
      }
      await fake.drained();
      fake.close();
    });
  }
});

Deno.test("RemoteServer drops 50 connections that send one byte and hold once the handshake deadline passes, logging each, and serves a worker meanwhile (issue 7)", async () => {
  await withServer(["--handshake-timeout", "3000"], async (server) => {
    const conns = await Promise.all(
      Array.from({ length: 50 }, () => connect(server)),
    );
    try {
      await Promise.all(conns.map((conn) => conn.write(Uint8Array.of(0))));
      await assertServes(server);
      await Promise.all(conns.map((conn) =>
        server.logged(
          new RegExp(
            dropOf(conn).source +
              "Cannot complete the link's handshake within 3000 ms",
          ),
        )
      ));
      for (const conn of conns.splice(0)) {
        assert.equal(await readToEnd(conn), 0);
      }
    } finally {
      for (const conn of conns) conn.close();
    }
    await assertServes(server);
  });
});

Deno.test("RemoteServer drops a connection sending 64 KiB of random bytes, logging why, and serves on (issue 7)", async () => {
  await withServer([], async (server) => {
    const conn = await connect(server);
    const random = crypto.getRandomValues(new Uint8Array(64 * 1024));
    // The server may drop us before all of it is written.
    const writing = conn.write(random).catch(() => 0);
    await server.logged(dropOf(conn));
    await writing;
    await readToEnd(conn);
    await assertServes(server);
  });
});

Deno.test("RemoteServer refuses 4- and 8-byte length prefixes of about 4 GiB from the prefix alone, allocating nothing (issue 7)", async () => {
  await withServer([], async (server) => {
    const rss = async (): Promise<number> => {
      const status = await Deno.readTextFile(`/proc/${server.pid}/status`);
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    };
    const before = await rss();
    for (
      const prefix of [
        Uint8Array.of(0xff, 0xff, 0xff, 0xff),
        Uint8Array.of(0xff, 0xff, 0xff, 0xf0),
        Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0), // 2^32, 8 bytes big-endian
        Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      ]
    ) {
      const conn = await connect(server);
      await conn.write(prefix);
      await server.logged(dropOf(conn));
      assert.equal(await readToEnd(conn), 0);
    }
    assert.ok(
      (await rss()) - before < 256 * 1024 * 1024,
      "the server's memory grew by 256 MiB or more",
    );
    await assertServes(server);
  });
});

Deno.test("RemoteServer drops an authenticated client that sends a malformed frame, logging why, and serves on (issue 7)", async (t) => {
  await withServer([], async (server) => {
    const frames: [string, Uint8Array, RegExp][] = [
      [
        "a frame of unknown type",
        Uint8Array.of(0xee, 1, 2),
        /unknown type 238/,
      ],
      [
        "an open frame whose body is not JSON",
        Uint8Array.of(0x10, 0, 0, 0, 1, 0x7b, 0x7b),
        /open frame: its body is not JSON/,
      ],
      [
        "an open frame of a bad shape",
        encodeLinkFrame({
          type: "open",
          job: 1,
          open: { target: "x", permissions: "all" as "none" },
        }),
        /open frame: bad permissions/,
      ],
      [
        "a job frame for a job never opened",
        encodeLinkFrame({ type: "job", job: 7, bytes: Uint8Array.of(1, 2) }),
        /job 7/,
      ],
      [
        "a handshake frame after authentication",
        encodeLinkFrame({ type: "proof", proof: new Uint8Array(32) }),
        /proof frame after authentication/,
      ],
    ];
    for (const [what, payload, reason] of frames) {
      await t.step(what, async () => {
        const conn = await connect(server);
        const channel = await connectLink(conn, { token: TOKEN });
        channel.send(payload);
        const line = await server.logged(disconnectOf(conn));
        assert.match(line, reason);
        // The server closed the link: the client reads its end.
        for (let i = 0; i < 10; i++) {
          if (await bounded(channel.next().catch(() => null)) === null) break;
        }
        channel.close();
        await channel.drained();
      });
    }
    await assertServes(server);
  });
});

Deno.test("RemoteServer drops connections beyond --max-connections, logging each, and serves the rest and later clients (issue 7)", async () => {
  const limit = 100;
  const flags = [
    "--max-connections",
    String(limit),
    "--max-connections-per-client",
    "300",
  ];
  await withServer(flags, async (server) => {
    const conns = await Promise.all(
      Array.from({ length: 300 }, () => connect(server)),
    );
    const linked: FramedChannel[] = [];
    try {
      // Every connection is open before any handshake: the first `limit`
      // the server accepted are kept, the others dropped.
      const links = await Promise.allSettled(
        conns.map((conn) => connectLink(conn, { token: TOKEN })),
      );
      for (const link of links) {
        if (link.status === "fulfilled") linked.push(link.value);
      }
      assert.equal(linked.length, limit);
      await server.logged(
        new RegExp(
          `dropped 127\\.0\\.0\\.1:\\d+: (evicted: )?\\d+ connections are open, the limit is ${limit}`,
        ),
        { count: 300 - limit },
      );
      for (const channel of linked) {
        channel.send(encodeLinkFrame({ type: "heartbeat" }));
        const answer = await bounded(channel.next());
        assert.deepEqual(
          decodeLinkFrame(answer!, { from: "server", authenticated: true }),
          { type: "heartbeat" },
        );
      }
    } finally {
      for (const channel of linked) channel.close();
      await Promise.all(linked.map((channel) => channel.drained()));
    }
    await server.logged(/disconnected: the client closed the connection/, {
      count: limit,
    });
    await assertServes(server);
  });
});

const CLIENT = new URL("./fixtures/remote_client.ts", import.meta.url);

/** Starts tests/fixtures/remote_client.ts against `server`. */
function startClient(
  server: TestServer,
  mode: "print" | "hold" | "flood",
  path?: string,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLIENT.href,
      JSON.stringify({ host: server.address, token: TOKEN, mode, path }),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** The pid the server logged for the job named `name`. */
async function jobPid(server: TestServer, name: string): Promise<number> {
  const line = await server.logged(
    new RegExp(`job \\S+ "${name}" \\("a function"\\): started as pid (\\d+)`),
  );
  return Number(/started as pid (\d+)/.exec(line)![1]);
}

Deno.test("RemoteServer ends the job of a client killed mid-job: its process is gone within 5 s (issue 7)", async () => {
  await withServer(["-A"], async (server) => {
    await using signal = startedSignal();
    const client = startClient(server, "hold", signal.path);
    try {
      await bounded(signal.started);
      const pid = await jobPid(server, "hold");
      client.kill("SIGKILL");
      // Within 5 s of its client's death (asked to stop, then killed).
      await gone(pid);
      await server.logged(/job \S+ "hold" \("a function"\): ended/);
      await server.logged(/disconnected: /);
    } finally {
      try {
        client.kill("SIGKILL");
      } catch {
        // already gone
      }
      await client.status;
      await client.stdout.cancel();
      await client.stderr.cancel();
    }
    await assertServes(server);
  });
});

Deno.test("RemoteWorker whose job process is SIGKILLed on the server: WorkerDiedError with the signal; other jobs carry on (issue 7)", async () => {
  await withServer(["-A"], async (server) => {
    await using signal = startedSignal();
    const other = new PersistentRemoteWorker({
      target: (x: number) => x + 1,
      host: server.address,
      token: TOKEN,
    });
    try {
      assert.equal(await bounded(other.call(1)), 2);
      const worker = await holdingWorker(server, signal);
      Deno.kill(worker.pid, "SIGKILL");
      assert.ok(await worker.wait(BOUND_MS));
      assert.ok(worker.error instanceof WorkerDiedError, String(worker.error));
      assert.equal(worker.error.signal, "SIGKILL");
      assert.equal(await bounded(other.call(2)), 3);
    } finally {
      await other.terminate();
    }
    await assertServes(server);
  });
});

/** A worker on `server` whose target signals it started, then runs for good. */
async function holdingWorker(
  server: TestServer,
  signal: { path: string; started: Promise<void> },
  options: { heartbeat?: number } = {},
): Promise<RemoteWorker> {
  const worker = new RemoteWorker({
    target: async (path: string) => {
      (await Deno.connect({ transport: "unix", path })).close();
      await new Promise((resolve) => setTimeout(resolve, 1e9));
    },
    args: [signal.path],
    host: server.address,
    token: TOKEN,
    permissions: "inherit",
    ...options,
  });
  await bounded(signal.started);
  await worker.ready;
  return worker;
}

Deno.test("RemoteWorker whose server is SIGKILLed mid-job: WorkerDiedError at once, and the job's process is gone (issue 7)", async () => {
  const server = await startServer(["-A"], { log: true });
  try {
    await using signal = startedSignal();
    const worker = await holdingWorker(server, signal);
    const pid = worker.pid;
    server.kill("SIGKILL");
    assert.ok(await worker.wait(BOUND_MS));
    assert.ok(worker.error instanceof WorkerDiedError, String(worker.error));
    assert.match(worker.error.message, /lost its server/);
    await gone(pid);
  } finally {
    await server.close();
  }
});

Deno.test("RemoteWorker whose server is SIGSTOPped: WorkerDiedError within three heartbeats and some slack (issue 7)", async () => {
  const server = await startServer(["-A"], { log: true });
  try {
    await using signal = startedSignal();
    const heartbeat = 100;
    const worker = await holdingWorker(server, signal, { heartbeat });
    server.kill("SIGSTOP");
    try {
      // The bound: three silent intervals, one more to notice, and slack
      // for a loaded machine.
      assert.ok(await worker.wait(5 * heartbeat + 5000), "no death noticed");
      assert.ok(worker.error instanceof WorkerDiedError, String(worker.error));
      assert.match(worker.error.message, /nothing heard for \d+ ms/);
    } finally {
      server.kill("SIGCONT");
    }
    // Awake again, the server sees its client gone and ends the job.
    await gone(worker.pid, BOUND_MS);
  } finally {
    await server.close();
  }
});

/** A Unix socket a target connects to, then waits on until the test opens the gate. */
function gate(): AsyncDisposable & {
  path: string;
  started: Promise<Deno.Conn>;
  open(): Promise<void>;
} {
  const dir = Deno.makeTempDirSync({ prefix: "pyworkers-test-" });
  const path = `${dir}/gate`;
  const listener = Deno.listen({ transport: "unix", path });
  const started = listener.accept();
  started.catch(() => {});
  return {
    path,
    started,
    async open() {
      const conn = await bounded(started);
      await conn.write(Uint8Array.of(1));
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await started.then((conn) => conn.close(), () => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("RemoteServer on SIGTERM drains: it refuses new connections, the running job finishes and its worker gets its result, and it exits 0 (issue 7)", async () => {
  const server = await startServer(["-A", "--drain-timeout", "20000"], {
    log: true,
  });
  try {
    await using job = gate();
    const worker = new RemoteWorker({
      target: async (path: string) => {
        const conn = await Deno.connect({ transport: "unix", path });
        await conn.read(new Uint8Array(1));
        conn.close();
        return "finished";
      },
      args: [job.path],
      host: server.address,
      token: TOKEN,
      permissions: "inherit",
    });
    await bounded(job.started);
    server.kill("SIGTERM");
    await server.logged(/draining: 1 job\(s\) get 20000 ms to finish/);
    await assert.rejects(connect(server), Deno.errors.ConnectionRefused);
    const late = new RemoteWorker({
      target: () => 1,
      host: server.address,
      token: TOKEN,
    });
    assert.ok(await late.wait(BOUND_MS));
    assert.ok(late.error instanceof WorkerDiedError, String(late.error));
    assert.match(late.error.message, /cannot reach the server/);
    await job.open();
    assert.ok(await worker.wait(BOUND_MS));
    assert.equal(worker.error, undefined, String(worker.error));
    assert.equal(worker.result, "finished");
    assert.equal((await bounded(server.status)).code, 0);
    await server.logged(/stopped/);
  } finally {
    await server.close();
  }
});

Deno.test("RemoteServer on SIGTERM stops a job still running after --drain-timeout through the ladder: its worker ends with WorkerTerminatedError (issue 7)", async (t) => {
  for (
    const [what, forced, target] of [
      [
        "a job that ignores the stop request",
        true,
        async (path: string) => {
          (await Deno.connect({ transport: "unix", path })).close();
          await new Promise((resolve) => setTimeout(resolve, 1e9));
        },
      ],
      [
        "a job that stops when asked",
        false,
        async (path: string, ctx?: { signal: AbortSignal }) => {
          (await Deno.connect({ transport: "unix", path })).close();
          await new Promise((_, reject) => {
            ctx!.signal.addEventListener(
              "abort",
              () => reject(ctx!.signal.reason),
            );
          });
        },
      ],
    ] as const
  ) {
    await t.step(what, async () => {
      const server = await startServer(["-A", "--drain-timeout", "100"], {
        log: true,
      });
      try {
        await using signal = startedSignal();
        const worker = new RemoteWorker({
          target,
          args: [signal.path],
          host: server.address,
          token: TOKEN,
          permissions: "inherit",
        });
        await bounded(signal.started);
        server.kill("SIGTERM");
        assert.ok(await worker.wait(BOUND_MS));
        assert.ok(
          worker.error instanceof WorkerTerminatedError,
          String(worker.error),
        );
        assert.equal(worker.error.forced, forced);
        if (forced) assert.match(worker.error.message, /shutting down/);
        assert.equal((await bounded(server.status)).code, 0);
      } finally {
        await server.close();
      }
    });
  }
});

/** Runs `target` on `server` with `permissions`; its worker once it ended. */
async function runJob<R>(
  server: TestServer,
  target: () => R,
  permissions?: "inherit" | Record<string, boolean | string[]>,
): Promise<RemoteWorker<[], R>> {
  const worker = new RemoteWorker<[], R>({
    target,
    host: server.address,
    token: TOKEN,
    ...(permissions === undefined ? {} : { permissions }),
  });
  if (!await worker.wait(BOUND_MS)) {
    await worker.terminate({ timeout: 0 });
    assert.fail("The job did not end in time");
  }
  return worker;
}

Deno.test("RemoteServer grants a job at most its ceiling: beyond it NotCapable naming the permission, inherit the ceiling exactly, omitted nothing, and never its token (issue 7)", async (t) => {
  await withServer(
    ["--allow-read=/tmp", "--allow-env"],
    async (server) => {
      const probe = () => {
        const can = (f: () => unknown): string => {
          try {
            f();
            return "yes";
          } catch (error) {
            return (error as Error).name;
          }
        };
        return {
          tmp: can(() => Deno.readDirSync("/tmp").next()),
          hostname: can(() => Deno.readTextFileSync("/etc/hostname")),
          env: can(() => Deno.env.get("HOME")),
        };
      };
      await t.step("beyond the ceiling", async () => {
        for (
          const [permissions, name] of [
            [{ read: ["/etc"] }, /read/],
            [{ read: ["/tmp/../etc"] }, /read/],
            [{ write: ["/tmp"] }, /write/],
            [{ net: true }, /net/],
          ] as const
        ) {
          const worker = await runJob(server, probe, permissions as never);
          assert.ok(
            worker.error instanceof Deno.errors.NotCapable,
            String(worker.error),
          );
          assert.match(worker.error.message, name);
        }
        await server.logged(/job \S+ \("a function"\): refused: /);
      });
      await t.step("inherit: the ceiling, no more", async () => {
        const worker = await runJob(server, probe, "inherit");
        assert.equal(worker.error, undefined, String(worker.error));
        assert.deepEqual(worker.result, {
          tmp: "yes",
          hostname: "NotCapable",
          env: "yes",
        });
      });
      await t.step("omitted: nothing", async () => {
        const worker = await runJob(server, probe);
        assert.equal(worker.error, undefined, String(worker.error));
        assert.deepEqual(worker.result, {
          tmp: "NotCapable",
          hostname: "NotCapable",
          env: "NotCapable",
        });
      });
      await t.step(
        "PYWORKERS_TOKEN never reaches a job, even with env granted",
        async () => {
          for (const permissions of ["inherit", { env: true }] as const) {
            const worker = await runJob(
              server,
              () => [
                Deno.env.get("PYWORKERS_TOKEN") ?? null,
                Deno.env.get("PYWORKERS_SERVER_TEST") ?? null,
              ],
              permissions,
            );
            assert.equal(worker.error, undefined, String(worker.error));
            assert.deepEqual(worker.result, [null, "visible"]);
          }
        },
      );
      await assertServes(server);
    },
    { PYWORKERS_TOKEN: TOKEN, PYWORKERS_SERVER_TEST: "visible" },
  );
});

Deno.test("RemoteWorker relays its job's console output to the client's stdout and stderr; the server's log names the job (issue 7)", async () => {
  await withServer([], async (server) => {
    const client = startClient(server, "print");
    const [status, stdout, stderr] = await bounded(Promise.all([
      client.status,
      new Response(client.stdout).text(),
      new Response(client.stderr).text(),
    ]));
    assert.equal(status.code, 0, stderr);
    assert.match(stdout, /^printed by the job$/m);
    assert.match(stderr, /^complained by the job$/m);
    assert.match(stderr, /"result":"printed"/);
    await server.logged(
      /job 127\.0\.0\.1:\d+#1 "print" \("a function"\): started as pid \d+/,
    );
    await server.logged(
      /job 127\.0\.0\.1:\d+#1 "print" \("a function"\): ended \(code 0\)/,
    );
  });
});

Deno.test("RemoteServer drops an authenticated client that goes silent past --silence-timeout, logging why, and serves on (issue 7)", async () => {
  await withServer(["--silence-timeout", "300"], async (server) => {
    const conn = await connect(server);
    const channel = await connectLink(conn, { token: TOKEN });
    const line = await server.logged(disconnectOf(conn));
    assert.match(line, /the client was silent for \d+ ms/);
    // The client is told why.
    const close = await bounded(channel.next());
    assert.deepEqual(
      decodeLinkFrame(close!, { from: "server", authenticated: true }),
      { type: "close", reason: line.replace(/^.*disconnected: /, "") },
    );
    assert.equal(await bounded(channel.next()), null);
    channel.close();
    await assertServes(server);
  });
});

Deno.test("RemoteServer on SIGTERM does not wait out the handshake deadline of a connection that never authenticates (issue 7)", async () => {
  const server = await startServer(["--handshake-timeout", "600000"], {
    log: true,
  });
  const conn = await connect(server);
  try {
    await conn.write(Uint8Array.of(0));
    await assertServes(server);
    server.kill("SIGTERM");
    // Bounded far below the handshake deadline: a drain must drop it.
    assert.equal((await bounded(server.status)).code, 0);
    await server.logged(
      new RegExp(dropOf(conn).source + "the server is shutting down"),
    );
    await server.logged(/stopped/);
    await readToEnd(conn);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by readToEnd
    }
    await server.close();
  }
});

Deno.test("RemoteServer refuses a job beyond --max-jobs with a logged reason its worker reports, and serves once a slot is free (issue 7)", async () => {
  await withServer(["-A", "--max-jobs", "1"], async (server) => {
    await using signal = startedSignal();
    const holding = await holdingWorker(server, signal);
    try {
      const refused = await runJob(server, () => 1);
      assert.ok(refused.error instanceof Error, String(refused.error));
      assert.match(
        refused.error.message,
        /1 jobs are running, the server's limit/,
      );
      await server.logged(
        /job \S+ \("a function"\): refused: Cannot start a job as 1 jobs are running/,
      );
    } finally {
      await holding.terminate();
    }
    await server.logged(/ended/);
    await assertServes(server);
  });
});

Deno.test("RemoteServer drops a client that stopped reading and went silent even while its job's output backs up, and ends the job (issue 7)", async () => {
  await withServer(["-A", "--silence-timeout", "500"], async (server) => {
    await using signal = startedSignal();
    const client = startClient(server, "flood", signal.path);
    try {
      await bounded(signal.started);
      const pid = await jobPid(server, "flood");
      client.kill("SIGSTOP");
      await server.logged(/disconnected: the client was silent for \d+ ms/);
      await gone(pid, BOUND_MS);
    } finally {
      try {
        client.kill("SIGKILL");
      } catch {
        // already gone
      }
      await client.status;
      await client.stdout.cancel();
      await client.stderr.cancel();
    }
    await assertServes(server);
  });
});

Deno.test("RemoteServer refuses a job whose client sets the dynamic loader's or Deno's own variables, which act outside the ceiling (issue 7)", async () => {
  await withServer(["--allow-env"], async (server) => {
    for (
      const name of [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "DYLD_INSERT_LIBRARIES",
        "DENO_V8_FLAGS",
        "DENO_DIR",
        "GLIBC_TUNABLES",
        "GCONV_PATH",
        "RUST_BACKTRACE",
        "HTTP_PROXY",
        "https_proxy",
        "HOME",
        "XDG_CACHE_HOME",
        "LANG",
        "ld_preload",
      ]
    ) {
      const worker = new RemoteWorker({
        target: () => 1,
        host: server.address,
        token: TOKEN,
        env: { [name]: "/tmp/x" },
      });
      assert.ok(await worker.wait(BOUND_MS));
      assert.ok(
        worker.error instanceof Deno.errors.NotCapable,
        `${name}: ${worker.error}`,
      );
      assert.match(worker.error.message, new RegExp(name));
      await server.logged(new RegExp(`refused: .*${name}`));
    }
    // A variable the job may not read is refused too: it could only act
    // on the runtime (trial 4).
    const unread = new RemoteWorker({
      target: () => 1,
      host: server.address,
      token: TOKEN,
      env: { PYWORKERS_CLIENT_VALUE: "x" },
    });
    assert.ok(await unread.wait(BOUND_MS));
    assert.ok(unread.error instanceof Deno.errors.NotCapable);
    assert.match(unread.error.message, /may not read it/);
    // Any other variable, one the job may read, reaches it.
    const worker = new RemoteWorker({
      target: () => Deno.env.get("PYWORKERS_CLIENT_VALUE"),
      host: server.address,
      token: TOKEN,
      env: { PYWORKERS_CLIENT_VALUE: "from the client" },
      permissions: { env: ["PYWORKERS_CLIENT_VALUE"] },
    });
    assert.ok(await worker.wait(BOUND_MS));
    assert.equal(worker.error, undefined, String(worker.error));
    assert.equal(worker.result, "from the client");
  });
});

Deno.test("RemoteWorker refuses a host beyond loopback without a token: anyone there could pose as the server and harvest its job (issue 7)", async () => {
  // Without a token the handshake's key is public, so a fake server can
  // prove it. 0.0.0.0 is not a loopback name, yet reaches this machine:
  // were the worker not refused, this fake server would get its job.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted = listener.accept();
  accepted.catch(() => {});
  try {
    assert.throws(
      () =>
        new RemoteWorker({
          target: () => "a secret",
          host: ["0.0.0.0", port],
          token: "",
        }),
      TypeError,
      "without a token",
    );
  } finally {
    listener.close();
    await accepted.then((conn) => conn.close(), () => {});
  }
});

Deno.test("RemoteServer drops connections beyond --max-connections-per-client from one address, logging each, and serves it again once it holds fewer (issue 7)", async () => {
  const limit = 5;
  await withServer(
    ["--max-connections-per-client", String(limit)],
    async (server) => {
      const conns = await Promise.all(
        Array.from({ length: 3 * limit }, () => connect(server)),
      );
      try {
        await server.logged(
          new RegExp(
            `dropped 127\\.0\\.0\\.1:\\d+: (evicted: )?\\d+ connections from 127\\.0\\.0\\.1 are open, the limit per client is ${limit}`,
          ),
          { count: 2 * limit },
        );
      } finally {
        for (const conn of conns) conn.close();
      }
      await server.logged(
        /dropped 127\.0\.0\.1:\d+: Cannot read the client's hello/,
        {
          count: limit,
        },
      );
      await assertServes(server);
    },
  );
});
