/**
 * Pool.addHosts() (issue 8, "Many hosts") on loopback: a list of servers,
 * and a DNS name answered by a tiny DNS server of the test (tests/_dns.ts)
 * whose answer the test changes, so that hosts join and are drained. The
 * servers listen on 127.0.0.1, 127.0.0.2, ... (all loopback on Linux) on
 * one port, as the hosts of one DNS name do. Separate hosts in network
 * namespaces are in pool_netns_test.ts.
 */
import assert from "node:assert/strict";
import { type PersistentWorker, Pool, type PoolEvent } from "../mod.ts";
import { startServer, type TestServer, TOKEN } from "./_server.ts";
import { startDns } from "./_dns.ts";
import dgram from "node:dgram";

function range(n: number): [number][] {
  return Array.from({ length: n }, (_, i) => [i] as [number]);
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Servers on 127.0.0.1 .. 127.0.0.`count`, all on one (free) port. */
async function startServers(count: number): Promise<TestServer[]> {
  const first = await startServer(["-A"]);
  const servers = [first];
  try {
    for (let n = 2; n <= count; n++) {
      servers.push(
        await startServer([
          "-A",
          "--host",
          `127.0.0.${n}`,
          "--port",
          String(first.port),
        ]),
      );
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.close()));
    throw error;
  }
  return servers;
}

Deno.test("Pool.addHosts() adds workersPerHost remote workers on every host of a list, and a run spreads over them", async () => {
  const servers = await startServers(2);
  try {
    await using pool = new Pool({ target: (x: number) => x * x });
    const hosts = pool.addHosts({
      hosts: servers.map((server) => server.address),
      workersPerHost: 2,
      token: TOKEN,
    });
    await hosts.ready;
    assert.deepEqual(hosts.hosts, servers.map((server) => server.address));
    assert.equal(hosts.workers.length, 4);
    assert.deepEqual(pool.workers, hosts.workers);
    const asked = new Set<PersistentWorker>();
    let next = 0;
    const results = await pool.run((worker) => {
      asked.add(worker);
      return next < 200 ? [next++] : undefined;
    }, { chunkSize: 1 });
    assert.deepEqual(sorted(results), range(200).map(([x]) => x * x));
    assert.equal(asked.size, 4);
  } finally {
    await Promise.all(servers.map((server) => server.close()));
  }
});

Deno.test("Pool.addHosts() checks its options", async () => {
  await using pool = new Pool({ target: (x: number) => x });
  assert.throws(() => pool.addHosts({ hosts: "workers:6006" }), TypeError);
  assert.throws(() => pool.addHosts({ hosts: "dns:workers" }), TypeError);
  assert.throws(() => pool.addHosts({ hosts: [6006] as never }), TypeError);
  assert.throws(
    () => pool.addHosts({ hosts: [], workersPerHost: 0 }),
    RangeError,
  );
  assert.throws(
    () => pool.addHosts({ hosts: "dns:w.test:6006", resolveInterval: 0 }),
    RangeError,
  );
  assert.equal(pool.workers.length, 0);
});

Deno.test("Pool.addHosts() with dns: joins the hosts that appear and drains those that vanish, losing no item", async () => {
  const servers = await startServers(3);
  await using dns = await startDns("workers.test");
  try {
    dns.addresses = ["127.0.0.1"];
    await using pool = new Pool({ target: (x: number) => x * x });
    const hosts = pool.addHosts({
      hosts: `dns:workers.test:${servers[0]!.port}`,
      nameServer: dns.nameServer,
      token: TOKEN,
    });
    await hosts.ready;
    assert.deepEqual(hosts.hosts, [servers[0]!.address]);
    const [first] = hosts.workers;
    assert.deepEqual(
      sorted(await pool.run(range(20))),
      range(20).map(([x]) => x * x),
    );

    // Two hosts appear.
    dns.addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    await hosts.refresh();
    assert.equal(hosts.workers.length, 3);
    const asked = new Set<PersistentWorker>();
    let next = 0;
    let results = await pool.run((worker) => {
      asked.add(worker);
      return next < 100 ? [next++] : undefined;
    }, { chunkSize: 1 });
    assert.deepEqual(sorted(results), range(100).map(([x]) => x * x));
    assert.equal(asked.size, 3);

    // The first vanishes mid-run: drained, every item still arrives.
    const events: PoolEvent[] = [];
    next = 0;
    let refreshed: Promise<void> | undefined;
    results = await pool.run(() => {
      if (next === 30) {
        dns.addresses = ["127.0.0.2", "127.0.0.3"];
        refreshed = hosts.refresh();
      }
      return next < 200 ? [next++] : undefined;
    }, { chunkSize: 1, onEvent: (event) => events.push(event) });
    await refreshed;
    assert.deepEqual(sorted(results), range(200).map(([x]) => x * x));
    assert.deepEqual(hosts.hosts, [servers[1]!.address, servers[2]!.address]);
    assert.ok(!hosts.workers.includes(first!));
    assert.equal(events.filter((event) => event.type === "died").length, 0);
    // Closed after its items, for good: not revived by the next run.
    assert.equal(await first!.wait(20_000), true);
    assert.equal(first!.hasError, false);
    await pool.run(range(10));
    assert.equal(first!.isAlive(), false);
  } finally {
    await Promise.all(servers.map((server) => server.close()));
  }
});

Deno.test("Pool.addHosts() with dns: looks the name up again every resolveInterval, until the pool closes", async () => {
  const [server] = await startServers(1);
  await using dns = await startDns("workers.test");
  try {
    dns.addresses = [];
    const pool = new Pool({ target: (x: number) => x + 1 });
    const hosts = pool.addHosts({
      hosts: `dns:workers.test:${server!.port}`,
      nameServer: dns.nameServer,
      token: TOKEN,
      resolveInterval: 20,
    });
    await hosts.ready;
    assert.equal(hosts.workers.length, 0);
    dns.addresses = ["127.0.0.1"];
    // Two lookups later (the first was `ready`'s), the host has joined.
    await dns.answered(3);
    await hosts.refresh();
    assert.equal(hosts.workers.length, 1);
    assert.deepEqual(sorted(await pool.run([[1], [2]])), [2, 3]);
    await pool.close(); // clears the timer: the sanitizers would see it
  } finally {
    await server!.close();
  }
});

Deno.test("Pool.addHosts() with dns: a host that appears during a run takes items in it", async () => {
  const servers = await startServers(2);
  await using dns = await startDns("workers.test");
  try {
    dns.addresses = ["127.0.0.1"];
    await using pool = new Pool({ target: (x: number) => x * x });
    const hosts = pool.addHosts({
      hosts: `dns:workers.test:${servers[0]!.port}`,
      nameServer: dns.nameServer,
      token: TOKEN,
    });
    await hosts.ready;
    const input = async function* (): AsyncGenerator<[number]> {
      for (let x = 0; x < 200; x++) {
        if (x === 10) {
          dns.addresses = ["127.0.0.1", "127.0.0.2"];
          await hosts.refresh();
          await hosts.workers[1]!.ready; // it has joined: the rest is shared
        }
        yield [x];
      }
    };
    const results = await pool.run(input(), { chunkSize: 1 });
    assert.deepEqual(sorted(results), range(200).map(([x]) => x * x));
    const joined = pool.stats!.workers.find((w) =>
      w.worker === hosts.workers[1]
    );
    assert.ok(
      joined !== undefined && joined.done > 0,
      "the new host ran nothing",
    );
  } finally {
    await Promise.all(servers.map((server) => server.close()));
  }
});

Deno.test("Pool.terminate() and await using stop the lookups of a dns: name", async () => {
  await using dns = await startDns("workers.test");
  const pool = new Pool({ target: (x: number) => x });
  const hosts = pool.addHosts({
    hosts: "dns:workers.test:6006",
    nameServer: dns.nameServer,
    resolveInterval: 10,
  });
  await dns.answered(2); // its timer runs
  await pool.terminate();
  assert.deepEqual(hosts.hosts, []);
  {
    await using disposed = new Pool({ target: (x: number) => x });
    disposed.addHosts({
      hosts: "dns:workers.test:6006",
      nameServer: dns.nameServer,
      resolveInterval: 10,
    });
    await dns.answered(4);
  }
  // The sanitizers see any timer or lookup left.
});

Deno.test("Pool.addHosts() with dns: drains every host only after 3 empty answers in a row, as one may be a failing name server (trial 7)", async () => {
  const [server] = await startServers(1);
  await using dns = await startDns("workers.test");
  try {
    dns.addresses = ["127.0.0.1"];
    await using pool = new Pool({ target: (x: number) => x + 1 });
    const hosts = pool.addHosts({
      hosts: `dns:workers.test:${server!.port}`,
      nameServer: dns.nameServer,
      token: TOKEN,
      resolveInterval: 60_000, // lookups only when the test asks
    });
    await hosts.ready;
    assert.deepEqual(hosts.hosts, [`127.0.0.1:${server!.port}`]);
    dns.addresses = []; // SERVFAIL reads as NotFound on Deno 2.8.2 too
    await hosts.refresh();
    await hosts.refresh();
    assert.equal(hosts.hosts.length, 1, "two empty answers keep the host");
    assert.deepEqual(sorted(await pool.run([[1], [2]])), [2, 3]);
    await hosts.refresh();
    assert.equal(hosts.hosts.length, 0, "the third drains it");
  } finally {
    await server!.close();
  }
});

Deno.test("Pool.close() stops a DNS lookup in flight instead of waiting out Deno's timeout (trial 7)", async () => {
  // A name server that never answers.
  const silent = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  try {
    const pool = new Pool({ target: (x: number) => x });
    const hosts = pool.addHosts({
      hosts: "dns:workers.test:6006",
      nameServer: {
        ipAddr: "127.0.0.1",
        port: silent.address().port,
      },
      token: TOKEN,
    });
    const started = Date.now();
    await pool.close();
    await hosts.ready;
    // Deno's own lookup timeout is about 15 s; a bound well under it.
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  } finally {
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

Deno.test("Pool.addHosts() refuses a nameServer that is not an IP address and absurd workersPerHost, adding nothing (trial 7)", async () => {
  await using pool = new Pool({ target: (x: number) => x });
  for (
    const options of [
      { hosts: "dns:workers.test:6006", nameServer: null },
      { hosts: "dns:workers.test:6006", nameServer: { ipAddr: "not-an-ip" } },
      { hosts: ["127.0.0.1:6006"], workersPerHost: 1e9 },
    ]
  ) {
    assert.throws(
      () => pool.addHosts({ ...options, token: TOKEN } as never),
      (error: Error) =>
        error instanceof TypeError || error instanceof RangeError,
    );
  }
  assert.equal(pool.workers.length, 0);
});
