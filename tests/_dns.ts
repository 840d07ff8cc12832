/**
 * A tiny DNS server for the tests (UDP on 127.0.0.1, node:dgram): it
 * answers A queries for one name with the addresses the test sets, AAAA
 * queries for it with none, and anything else with NXDOMAIN.
 *
 * @module
 */
import dgram from "node:dgram";

/** A running test DNS server. */
export interface TestDns extends AsyncDisposable {
  /** Where to ask it: `{ ipAddr: "127.0.0.1", port }`. */
  readonly nameServer: { ipAddr: string; port: number };
  /** The A records it answers with now (the test changes them). */
  addresses: string[];
  /** Resolves once it has answered `count` A queries in all. */
  answered(count: number): Promise<void>;
}

/** Starts a DNS server answering for `name` (lower case). */
export async function startDns(name: string): Promise<TestDns> {
  const socket = dgram.createSocket("udp4");
  let answeredA = 0;
  const waiters: { count: number; resolve: () => void }[] = [];
  const dns: TestDns = {
    nameServer: { ipAddr: "127.0.0.1", port: 0 },
    addresses: [],
    answered(count) {
      if (answeredA >= count) return Promise.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      waiters.push({ count, resolve });
      return promise;
    },
    async [Symbol.asyncDispose]() {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
  socket.on(
    "message",
    (query: Uint8Array, peer: { port: number; address: string }) => {
      const answer = respond(query, name, dns.addresses);
      if (answer === undefined) return;
      socket.send(answer.bytes, peer.port, peer.address);
      if (answer.type === 1) {
        answeredA++;
        for (const waiter of [...waiters]) {
          if (answeredA >= waiter.count) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
      }
    },
  );
  await new Promise<void>((resolve) =>
    socket.bind(0, "127.0.0.1", () => resolve())
  );
  (dns.nameServer as { port: number }).port = socket.address().port;
  return dns;
}

/** The response to one query; undefined for what is not a query. */
function respond(
  query: Uint8Array,
  name: string,
  addresses: readonly string[],
): { bytes: Uint8Array; type: number } | undefined {
  if (query.length < 12) return undefined;
  // The question: labels up to a zero, then type and class.
  const labels: string[] = [];
  let at = 12;
  while (at < query.length && query[at] !== 0) {
    const length = query[at]!;
    labels.push(
      new TextDecoder().decode(query.subarray(at + 1, at + 1 + length)),
    );
    at += 1 + length;
  }
  const end = at + 5;
  if (end > query.length) return undefined;
  const type = (query[at + 1]! << 8) | query[at + 2]!;
  const ours = labels.join(".").toLowerCase() === name;
  const records = ours && type === 1 ? addresses : [];
  const header = new Uint8Array(12);
  header.set(query.subarray(0, 2)); // the id
  header[2] = 0x84 | (query[2]! & 0x01); // a response, authoritative, RD echoed
  header[3] = ours ? 0 : 3; // NXDOMAIN for any other name
  header[5] = 1; // one question
  header[7] = records.length;
  const answers = records.map((address) => {
    const record = new Uint8Array(16);
    record.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]); // the name, A, IN, TTL 0
    record.set(address.split(".").map(Number), 12);
    return record;
  });
  const bytes = new Uint8Array(end + 16 * answers.length);
  bytes.set(header);
  bytes.set(query.subarray(12, end), 12);
  answers.forEach((record, i) => bytes.set(record, end + 16 * i));
  return { bytes, type };
}
