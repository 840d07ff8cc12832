/**
 * Pool.addHosts() over real separate hosts (issue 8, "Many hosts"): each
 * host a Linux network namespace the test makes (tests/_netns.ts), with a
 * server of its own listening on its own address; one pool spreads over
 * all of them, and loses no item when one host's server is killed mid-run.
 * Needs root and iproute2's `ip` (skipped otherwise, saying why).
 */
import assert from "node:assert/strict";
import { Pool, type PoolEvent, WorkerType } from "../mod.ts";
import { makeHosts, netnsUnavailable } from "./_netns.ts";
import { startServer, type TestServer } from "./_server.ts";
import { startedSignal } from "./_started.ts";
import { startDns } from "./_dns.ts";

const unavailable = netnsUnavailable();
/** Beyond loopback a server wants a token of 16 characters at least. */
const TOKEN = "a token for the namespaced hosts";
const PORT = 6006;
/** The most a wait of these tests takes before it counts as a hang. */
const BOUND_MS = 20_000;

function range(n: number): [number][] {
  return Array.from({ length: n }, (_, i) => [i] as [number]);
}

/**
 * The first item run on the host at `victim` records it in `marker`,
 * signals on `path` and spins (its server is killed meanwhile); every
 * other run squares. The job finds its host by its own addresses.
 */
async function spinsOnVictim(
  x: number,
  path: string,
  marker: string,
  victim: string,
): Promise<[number, string]> {
  const here =
    Deno.networkInterfaces().find((i) =>
      i.family === "IPv4" && i.address.startsWith("10.77.")
    )?.address ?? "";
  if (here === victim) {
    let first = true;
    try {
      await Deno.writeTextFile(marker, "", { createNew: true });
    } catch {
      first = false;
    }
    if (first) {
      (await Deno.connect({ transport: "unix", path })).close();
      for (;;) { /* until its server goes */ }
    }
  }
  return [x * x, here];
}

Deno.test({
  name:
    "Pool.addHosts() spreads a run over servers on separate hosts, and loses no item when one host's server is killed mid-run",
  ignore: unavailable !== undefined,
  async fn() {
    await using hosts = makeHosts(3);
    const servers: TestServer[] = [];
    const dir = await Deno.makeTempDir();
    try {
      for (const [i, address] of hosts.addresses.entries()) {
        servers.push(
          await startServer([
            "-A",
            "--host",
            address,
            "--port",
            String(PORT),
            "--plaintext",
            "--token",
            TOKEN,
          ], { netns: hosts.names[i]! }),
        );
      }
      await using signal = startedSignal();
      const victim = hosts.addresses[0]!;
      await using pool = new Pool({
        target: spinsOnVictim,
        args: [0, signal.path, `${dir}/spun`, victim],
        maxRestarts: 2,
      });
      const added = pool.addHosts({
        hosts: hosts.addresses.map((address) => `${address}:${PORT}`),
        workersPerHost: 2,
        token: TOKEN,
        permissions: "inherit",
      });
      await added.ready;
      assert.equal(added.workers.length, 6);
      await Promise.all(added.workers.map((worker) => worker.ready));
      const died: PoolEvent[] = [];
      const run = pool.run(range(300), {
        chunkSize: 2,
        onEvent: (event) => {
          if (event.type === "died") died.push(event);
        },
      });
      await Promise.race([
        signal.started,
        run.then(() =>
          assert.fail("The run ended before the victim's item started")
        ),
      ]);
      servers[0]!.kill("SIGKILL");
      const results = await run;
      assert.deepEqual(
        results.map(([square]) => square).sort((a, b) => a - b),
        range(300).map(([x]) => x * x),
      );
      // The other hosts ran the rest; the victim's two workers died with
      // its server, and stayed dead (their host refused every restart).
      const where = new Set(results.map(([, here]) => here));
      for (const address of hosts.addresses.slice(1)) {
        assert.ok(where.has(address), `nothing ran on ${address}`);
      }
      assert.ok(died.length >= 1 && died.length <= 2, `${died.length} deaths`);
      assert.deepEqual(
        added.workers.map((worker) => worker.isAlive()),
        [false, false, true, true, true, true],
      );
    } finally {
      await Promise.all(servers.map((server) => server.close()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "Pool.addHosts() with dns: grows onto hosts that appear in the name and drains those that leave it",
  ignore: unavailable !== undefined,
  async fn() {
    await using hosts = makeHosts(3);
    await using dns = await startDns("workers.test");
    const servers: TestServer[] = [];
    try {
      for (const [i, address] of hosts.addresses.entries()) {
        servers.push(
          await startServer([
            "-A",
            "--host",
            address,
            "--port",
            String(PORT),
            "--plaintext",
            "--token",
            TOKEN,
          ], { netns: hosts.names[i]! }),
        );
      }
      const [a, b, c] = hosts.addresses as [string, string, string];
      dns.addresses = [a];
      await using pool = new Pool({
        target: () =>
          Deno.networkInterfaces().find((i) =>
            i.family === "IPv4" && i.address.startsWith("10.77.")
          )?.address,
      });
      const added = pool.addHosts({
        hosts: `dns:workers.test:${PORT}`,
        nameServer: dns.nameServer,
        token: TOKEN,
        permissions: "inherit",
      });
      await added.ready;
      const where = async (n: number): Promise<Set<unknown>> => {
        let next = 0;
        return new Set(
          await pool.run(() => next++ < n ? [] : undefined, { chunkSize: 1 }),
        );
      };
      assert.deepEqual(await where(20), new Set([a]));
      dns.addresses = [a, b, c];
      await added.refresh();
      assert.deepEqual(await where(300), new Set([a, b, c]));
      dns.addresses = [b, c];
      await added.refresh();
      assert.deepEqual(added.hosts, [`${b}:${PORT}`, `${c}:${PORT}`]);
      assert.deepEqual(await where(300), new Set([b, c]));
    } finally {
      await Promise.all(servers.map((server) => server.close()));
    }
  },
});

Deno.test({
  name:
    "Pool.addHosts() loses no item when a host drops off the network mid-run (its link cut, its server silent)",
  ignore: unavailable !== undefined,
  async fn() {
    await using hosts = makeHosts(2);
    const servers: TestServer[] = [];
    const dir = await Deno.makeTempDir();
    try {
      for (const [i, address] of hosts.addresses.entries()) {
        servers.push(
          await startServer([
            "-A",
            "--host",
            address,
            "--port",
            String(PORT),
            "--plaintext",
            "--token",
            TOKEN,
          ], { netns: hosts.names[i]! }),
        );
      }
      await using signal = startedSignal();
      const victim = hosts.addresses[0]!;
      await using pool = new Pool({
        target: spinsOnVictim,
        args: [0, signal.path, `${dir}/spun`, victim],
        maxRestarts: 1,
      });
      const added = pool.addHosts({
        hosts: hosts.addresses.map((address) => `${address}:${PORT}`),
        token: TOKEN,
        permissions: "inherit",
        heartbeat: 100, // silence past 1 s counts as a lost server
      });
      await Promise.all(added.workers.map((worker) => worker.ready));
      const died: PoolEvent[] = [];
      const run = pool.run(range(100), {
        chunkSize: 2,
        onEvent: (event) => {
          if (event.type === "died") died.push(event);
        },
      });
      await Promise.race([
        signal.started,
        run.then(() =>
          assert.fail("The run ended before the victim's item started")
        ),
      ]);
      // Its server lives on, cut off: nothing answers there any more.
      hosts.cut(0);
      const results = await run;
      assert.deepEqual(
        results.map(([square]) => square).sort((a, b) => a - b),
        range(100).map(([x]) => x * x),
      );
      assert.equal(died.length, 1);
      const error = died[0]!.type === "died" ? died[0]!.error : undefined;
      assert.equal(error?.name, "WorkerDiedError");
      // The run did not wait for the cut host's restarts (they go on, with
      // backoff, until the pool closes).
    } finally {
      await Promise.all(servers.map((server) => server.close()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "Pool.run() does not hang on a remote worker whose host never answers: its connection attempts end within the heartbeat's silence bound",
  ignore: unavailable !== undefined,
  async fn() {
    await using hosts = makeHosts(1);
    hosts.blackhole(0);
    await using pool = new Pool({
      target: (x: number) => x * x,
      maxRestarts: 1,
    });
    pool.addWorker(WorkerType.THREAD);
    const remote = pool.addWorker(WorkerType.REMOTE, {
      host: `${hosts.addresses[0]}:${PORT}`,
      token: TOKEN,
      heartbeat: 100, // silence past 1 s counts as a lost server
    });
    const run = pool.run(range(20));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("The run hung on a host that never answers")),
        BOUND_MS,
      );
    });
    try {
      const results = await Promise.race([run, hung]);
      assert.equal(results.length, 20);
      // Its first start failed as its host never answered; the run ended
      // without waiting for its retries.
      assert.ok(
        remote.error === undefined || remote.error.name === "WorkerDiedError",
        String(remote.error),
      );
    } finally {
      clearTimeout(timer);
    }
  },
});
