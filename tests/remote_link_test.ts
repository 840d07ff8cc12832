/**
 * The remote link's handshake over real TCP on loopback (internal on
 * purpose: no server or RemoteWorker yet): both ends authenticate each
 * other, and every bad peer is refused with a reason, its connection
 * closed, nothing large allocated.
 */
import assert from "node:assert/strict";
import { AuthenticationError } from "../mod.ts";
import { connectLink } from "../_backend/remote_link.ts";
import { acceptLink } from "../server/_handshake.ts";
import { FramedChannel } from "../_protocol/channel.ts";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  LINK_VERSION,
  LinkError,
} from "../_protocol/link.ts";
import { linkProof, newNonce } from "../_protocol/link_auth.ts";

const TOKEN = "the shared token";

/** A wait with a bound: a regression fails the test instead of hanging it. */
async function bounded<T>(promise: Promise<T>, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`No answer within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A connected pair of TCP streams on 127.0.0.1 (the listener already closed). */
async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const [server, client] = await Promise.all([
      listener.accept(),
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    ]);
    return [server, client];
  } finally {
    listener.close();
  }
}

/** Closes a raw stream the test kept (it may already be closed). */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed by the code under test
  }
}

/** What `promise` rejected with (fails if it resolved). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail("expected a rejection");
}

/**
 * Every byte the peer sends until it closes; fails if it has not closed
 * within 10 s (a bound for a regression, never reached when all is well).
 * Closes `conn`.
 */
async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buffer = new Uint8Array(1024);
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    closeQuietly(conn);
  }, 10_000);
  try {
    for (;;) {
      let read: number | null;
      try {
        read = await conn.read(buffer);
      } catch {
        read = null; // reset by the peer, or closed by the bound
      }
      if (read === null) break;
      chunks.push(...buffer.subarray(0, read));
    }
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
  assert.ok(!late, "the peer did not close the connection within 10 s");
  return Uint8Array.from(chunks);
}

/** A length prefix of `length`, then nothing. */
function prefix(length: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, length);
  return out;
}

Deno.test("connectLink() and acceptLink() authenticate both ways over TCP, then frames flow both ways beyond the pre-auth cap", async () => {
  const [serverConn, clientConn] = await tcpPair();
  const [server, client] = await Promise.all([
    acceptLink(serverConn, { token: TOKEN }),
    connectLink(clientConn, { token: TOKEN }),
  ]);
  try {
    const big = new Uint8Array(4096).fill(9);
    client.send(encodeLinkFrame({ type: "job", job: 1, bytes: big }));
    const up = decodeLinkFrame((await bounded(server.next()))!, {
      from: "client",
      authenticated: true,
    });
    assert.deepEqual(up, { type: "job", job: 1, bytes: big });
    server.send(encodeLinkFrame({ type: "job", job: 2, bytes: big }));
    const down = decodeLinkFrame((await bounded(client.next()))!, {
      from: "server",
      authenticated: true,
    });
    assert.deepEqual(down, { type: "job", job: 2, bytes: big });
  } finally {
    client.close();
    assert.equal(await bounded(server.next()), null);
    server.close();
  }
});

Deno.test("connectLink() rejects with AuthenticationError when the tokens differ, and the server drops the link", async () => {
  const [serverConn, clientConn] = await tcpPair();
  const [serverError, clientError] = await Promise.all([
    rejection(acceptLink(serverConn, { token: TOKEN })),
    rejection(connectLink(clientConn, { token: "another token" })),
  ]);
  // The client checks the server's proof first, so it is the one that
  // notices; it leaves without a proof, telling the server why (issue 7).
  assert.ok(clientError instanceof AuthenticationError, String(clientError));
  assert.match(clientError.message, /proof of the token is wrong/);
  assert.ok(serverError instanceof LinkError, String(serverError));
  assert.match(
    serverError.message,
    /Cannot authenticate the client as it refused this server's proof of the token \(another token\?\): Cannot authenticate the server as its proof of the token is wrong/,
  );
});

Deno.test("acceptLink() refuses a client whose proof is wrong, telling it why", async () => {
  // A client that skips checking the server and proves a wrong token.
  const [serverConn, clientConn] = await tcpPair();
  const raw = new FramedChannel(clientConn, 256);
  const accepting = rejection(acceptLink(serverConn, { token: TOKEN }));
  const clientNonce = newNonce();
  raw.send(encodeLinkFrame({
    type: "hello",
    version: LINK_VERSION,
    nonce: clientNonce,
  }));
  const challenge = decodeLinkFrame((await bounded(raw.next()))!, {
    from: "server",
    authenticated: false,
  });
  assert.equal(challenge.type, "challenge");
  if (challenge.type !== "challenge") return;
  raw.send(encodeLinkFrame({
    type: "proof",
    proof: await linkProof("wrong", "client", clientNonce, challenge.nonce),
  }));
  const close = decodeLinkFrame((await bounded(raw.next()))!, {
    from: "server",
    authenticated: false,
  });
  assert.equal(close.type, "close");
  assert.equal(await bounded(raw.next()), null);
  raw.close();
  const error = await accepting;
  assert.ok(error instanceof LinkError, String(error));
  assert.match(error.message, /client as its proof of the token is wrong/);
});

Deno.test("connectLink() rejects with AuthenticationError when the server refuses its proof", async () => {
  // A server that knows the token but answers the proof with a close.
  const [serverConn, clientConn] = await tcpPair();
  const raw = new FramedChannel(serverConn, 256);
  const connecting = rejection(connectLink(clientConn, { token: TOKEN }));
  const hello = decodeLinkFrame((await bounded(raw.next()))!, {
    from: "client",
    authenticated: false,
  });
  if (hello.type !== "hello") return assert.fail(hello.type);
  const serverNonce = newNonce();
  raw.send(encodeLinkFrame({
    type: "challenge",
    version: LINK_VERSION,
    nonce: serverNonce,
    proof: await linkProof(TOKEN, "server", hello.nonce, serverNonce),
  }));
  assert.equal(
    decodeLinkFrame((await bounded(raw.next()))!, {
      from: "client",
      authenticated: false,
    }).type,
    "proof",
  );
  raw.send(encodeLinkFrame({ type: "close", reason: "Not you" }));
  const error = await connecting;
  assert.ok(error instanceof AuthenticationError, String(error));
  assert.match(error.message, /refused our proof: Not you/);
  assert.equal(await bounded(raw.next()), null);
  raw.close();
});

Deno.test("connectLink() reads a server that closes after the proof without a word as a broken link, not a wrong token (trial 5)", async () => {
  // A server shutting down mid-handshake: it knows the token, then the
  // connection just ends.
  const [serverConn, clientConn] = await tcpPair();
  const raw = new FramedChannel(serverConn, 256);
  const connecting = rejection(connectLink(clientConn, { token: TOKEN }));
  const hello = decodeLinkFrame((await bounded(raw.next()))!, {
    from: "client",
    authenticated: false,
  });
  if (hello.type !== "hello") return assert.fail(hello.type);
  const serverNonce = newNonce();
  raw.send(encodeLinkFrame({
    type: "challenge",
    version: LINK_VERSION,
    nonce: serverNonce,
    proof: await linkProof(TOKEN, "server", hello.nonce, serverNonce),
  }));
  await bounded(raw.next()); // the proof
  await raw.drained();
  raw.close();
  const error = await connecting;
  assert.ok(!(error instanceof AuthenticationError), String(error));
  assert.ok(error instanceof LinkError, String(error));
  assert.match(error.message, /closed the connection/);
});

Deno.test("connectLink() refuses a fake server that does not know the token, sending nothing after its hello but why it leaves", async () => {
  const [serverConn, clientConn] = await tcpPair();
  const fake = new FramedChannel(serverConn, 256);
  const connecting = rejection(connectLink(clientConn, { token: TOKEN }));
  const hello = decodeLinkFrame((await bounded(fake.next()))!, {
    from: "client",
    authenticated: false,
  });
  assert.equal(hello.type, "hello");
  if (hello.type !== "hello") return;
  const serverNonce = newNonce();
  fake.send(encodeLinkFrame({
    type: "challenge",
    version: LINK_VERSION,
    nonce: serverNonce,
    proof: await linkProof("guessed", "server", hello.nonce, serverNonce),
  }));
  const error = await connecting;
  assert.ok(error instanceof AuthenticationError, String(error));
  // The client closed without a proof (or anything else) after its hello,
  // but a close saying why.
  assert.deepEqual(
    decodeLinkFrame((await bounded(fake.next()))!, {
      from: "client",
      authenticated: false,
    }),
    { type: "close", reason: error.message },
  );
  assert.equal(await bounded(fake.next()), null);
  fake.close();
});

for (
  const [what, length, pattern] of [
    ["4 GiB", 2 ** 32 - 1, /frame of 4294967295 bytes as the limit is 256/],
    ["257 bytes", 257, /frame of 257 bytes as the limit is 256/],
  ] as const
) {
  Deno.test(`acceptLink() refuses a length prefix of ${what} before authentication from the prefix alone and closes the connection`, async () => {
    const [serverConn, clientConn] = await tcpPair();
    const accepting = rejection(acceptLink(serverConn, { token: TOKEN }));
    await clientConn.write(prefix(length));
    const error = await accepting;
    assert.ok(error instanceof LinkError, String(error));
    assert.match(error.message, pattern);
    assert.match(error.message, /before authentication/);
    assert.deepEqual(await readToEnd(clientConn), new Uint8Array());
  });
}

Deno.test("acceptLink() refuses garbage bytes with a reason and closes the connection", async (t) => {
  await t.step("a frame of unknown type", async () => {
    const [serverConn, clientConn] = await tcpPair();
    const accepting = rejection(acceptLink(serverConn, { token: TOKEN }));
    await clientConn.write(Uint8Array.of(0, 0, 0, 3, 0xee, 1, 2));
    const error = await accepting;
    assert.ok(error instanceof LinkError, String(error));
    assert.match(error.message, /unknown type 238/);
    await readToEnd(clientConn);
  });
  await t.step("64 KiB of random bytes", async () => {
    const [serverConn, clientConn] = await tcpPair();
    const accepting = rejection(acceptLink(serverConn, { token: TOKEN }));
    const random = crypto.getRandomValues(new Uint8Array(64 * 1024));
    // The server may close before all of it is written.
    const writing = clientConn.write(random).catch(() => 0);
    const error = await accepting;
    assert.ok(error instanceof LinkError, String(error));
    await writing;
    await readToEnd(clientConn);
  });
});

Deno.test("acceptLink() gives up on a peer that sends nothing, or one byte and holds, once its deadline passes", async (t) => {
  for (const sent of [new Uint8Array(), Uint8Array.of(0)]) {
    await t.step(`after ${sent.length} byte(s)`, async () => {
      const [serverConn, clientConn] = await tcpPair();
      if (sent.length > 0) await clientConn.write(sent);
      const error = await rejection(
        acceptLink(serverConn, { token: TOKEN, deadlineMs: 200 }),
      );
      assert.equal(error.name, "TimeoutError");
      assert.deepEqual(await readToEnd(clientConn), new Uint8Array());
    });
  }
});

Deno.test("connectLink() gives up on a server that answers nothing once its deadline passes", async () => {
  const [serverConn, clientConn] = await tcpPair();
  const error = await rejection(
    connectLink(clientConn, { token: TOKEN, deadlineMs: 200 }),
  );
  assert.equal(error.name, "TimeoutError");
  // The client closed its end: the silent server reads its hello, then the end.
  const hello = await readToEnd(serverConn);
  assert.equal(hello.length, 4 + 1 + 1 + 32);
});

Deno.test("acceptLink() refuses another link version, telling the client; connectLink() refuses a server of another version", async (t) => {
  await t.step("a client of version 2", async () => {
    const [serverConn, clientConn] = await tcpPair();
    const raw = new FramedChannel(clientConn, 256);
    const accepting = rejection(acceptLink(serverConn, { token: TOKEN }));
    raw.send(encodeLinkFrame({ type: "hello", version: 2, nonce: newNonce() }));
    const error = await accepting;
    assert.ok(error instanceof LinkError, String(error));
    assert.match(error.message, /link version 2 as this server speaks 1/);
    const close = decodeLinkFrame((await bounded(raw.next()))!, {
      from: "server",
      authenticated: false,
    });
    assert.deepEqual(close, { type: "close", reason: error.message });
    assert.equal(await bounded(raw.next()), null);
    raw.close();
  });
  await t.step("a server of version 2", async () => {
    const [serverConn, clientConn] = await tcpPair();
    const fake = new FramedChannel(serverConn, 256);
    const connecting = rejection(connectLink(clientConn, { token: TOKEN }));
    await bounded(fake.next());
    fake.send(encodeLinkFrame({
      type: "challenge",
      version: 2,
      nonce: newNonce(),
      proof: new Uint8Array(32),
    }));
    const error = await connecting;
    assert.ok(error instanceof LinkError, String(error));
    assert.match(error.message, /link version 2, not 1/);
    assert.equal(await bounded(fake.next()), null);
    fake.close();
  });
});
