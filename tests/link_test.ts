/**
 * The link layer of remote workers (internal on purpose: no server yet):
 * every frame round-trips, and malformed, misplaced or oversized frames are
 * refused before anything is allocated or deserialized.
 */
import assert from "node:assert/strict";
import { checkLinkProof, linkProof, newNonce } from "../_protocol/link_auth.ts";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  JOB_PERMISSION_NAMES,
  LINK_VERSION,
  LinkError,
  type LinkFrame,
  MAX_CONTROL_BODY,
  MAX_PRE_AUTH_FRAME,
} from "../_protocol/link.ts";
import { type ByteStream, FramedChannel } from "../_protocol/channel.ts";
import { PERMISSION_NAMES } from "../_permissions/grants.ts";

/** A byte stream that reads `chunks` in turn, then ends. */
function streamOf(chunks: Uint8Array[]): ByteStream {
  return {
    read(p) {
      const chunk = chunks.shift();
      if (chunk === undefined) return Promise.resolve(null);
      p.set(chunk);
      return Promise.resolve(chunk.length);
    },
    write: (p) => Promise.resolve(p.length),
    close() {},
  };
}

const nonce = newNonce();
const proof = new Uint8Array(32).fill(7);

/** Every kind of frame, with who sends it and whether before authentication. */
const FRAMES: [LinkFrame, "client" | "server", boolean][] = [
  [{ type: "hello", version: LINK_VERSION, nonce }, "client", false],
  [{ type: "challenge", version: 1, nonce, proof }, "server", false],
  [{ type: "proof", proof }, "client", false],
  [{ type: "welcome" }, "server", false],
  [
    {
      type: "open",
      job: 7,
      open: {
        target: "jsr:@x/y#default",
        name: "w",
        permissions: { read: ["/tmp"], net: false },
        env: { A: "1" },
        sender: true,
      },
    },
    "client",
    true,
  ],
  [
    {
      type: "open",
      job: 8,
      open: {
        target: "a function",
        permissions: "inherit",
      },
    },
    "client",
    true,
  ],
  [
    { type: "job", job: 2 ** 32 - 1, bytes: Uint8Array.of(0xff, 0, 13) },
    "client",
    true,
  ],
  [{ type: "job", job: 3, bytes: new Uint8Array() }, "server", true],
  [{ type: "terminate", job: 1 }, "client", true],
  [{ type: "kill", job: 1 }, "client", true],
  [{ type: "exited", job: 1, code: 137, signal: "SIGKILL" }, "server", true],
  [{ type: "exited", job: 1, code: 0, signal: null }, "server", true],
  [
    { type: "error", job: 1, reason: "Cannot grant net: beyond the ceiling" },
    "server",
    true,
  ],
  [
    {
      type: "error",
      job: 2,
      reason: "Cannot grant net as it is beyond the ceiling",
      name: "NotCapable",
    },
    "server",
    true,
  ],
  [
    { type: "output", job: 4, stream: "stderr", bytes: Uint8Array.of(1, 2) },
    "server",
    true,
  ],
  [
    { type: "output", job: 4, stream: "stdout", bytes: new Uint8Array() },
    "server",
    true,
  ],
  [{ type: "heartbeat" }, "client", true],
  [{ type: "close", reason: "bye" }, "server", false],
  [{ type: "close", reason: "draining" }, "server", true],
];

Deno.test("decodeLinkFrame() round-trips every frame encodeLinkFrame() makes", () => {
  for (const [frame, from, authenticated] of FRAMES) {
    const bytes = encodeLinkFrame(frame);
    assert.deepEqual(decodeLinkFrame(bytes, { from, authenticated }), frame);
  }
});

Deno.test("decodeLinkFrame() keeps job bytes opaque, as they were", () => {
  const bytes = crypto.getRandomValues(new Uint8Array(4096));
  const frame = decodeLinkFrame(
    encodeLinkFrame({ type: "job", job: 5, bytes }),
    { from: "client", authenticated: true },
  );
  assert.equal(frame.type, "job");
  assert.deepEqual(frame.type === "job" && frame.bytes, bytes);
});

Deno.test("decodeLinkFrame() refuses anything but the handshake before authentication", () => {
  for (const [frame, from, authenticated] of FRAMES) {
    if (!authenticated || frame.type === "close") continue;
    assert.throws(
      () =>
        decodeLinkFrame(encodeLinkFrame(frame), { from, authenticated: false }),
      LinkError,
      frame.type,
    );
  }
  // ... and the handshake after it.
  assert.throws(
    () =>
      decodeLinkFrame(
        encodeLinkFrame({ type: "hello", version: 1, nonce }),
        { from: "client", authenticated: true },
      ),
    /Cannot accept a hello frame after authentication/,
  );
});

Deno.test("decodeLinkFrame() refuses a frame from the wrong side", () => {
  assert.throws(
    () =>
      decodeLinkFrame(encodeLinkFrame({ type: "welcome" }), {
        from: "client",
        authenticated: false,
      }),
    /Cannot accept a welcome frame from a client/,
  );
  assert.throws(
    () =>
      decodeLinkFrame(
        encodeLinkFrame({ type: "exited", job: 1, code: 0, signal: null }),
        { from: "client", authenticated: true },
      ),
    LinkError,
  );
});

Deno.test("decodeLinkFrame() refuses an oversized frame before authentication without reading it", () => {
  const big = new Uint8Array(MAX_PRE_AUTH_FRAME + 1);
  big[0] = 0x01;
  assert.throws(
    () => decodeLinkFrame(big, { from: "client", authenticated: false }),
    /before authentication: the limit is 256/,
  );
});

Deno.test("decodeLinkFrame() refuses malformed frames", () => {
  const client = { from: "client", authenticated: false } as const;
  const authed = { from: "client", authenticated: true } as const;
  const server = { from: "server", authenticated: true } as const;
  const cases: [
    Uint8Array,
    typeof client | typeof authed | typeof server,
    RegExp,
  ][] = [
    [new Uint8Array(), client, /Cannot decode an empty frame/],
    [Uint8Array.of(0x7f), client, /unknown type 127/],
    [
      Uint8Array.of(0x01, 1, 2, 3),
      client,
      /hello frame of 3 bytes: expected 33/,
    ],
    [Uint8Array.of(0x03), client, /proof frame of 0 bytes/],
    [
      Uint8Array.of(0x12, 0, 0),
      authed,
      /terminate frame of 2 bytes: expected 4/,
    ],
    [Uint8Array.of(0x11, 0), authed, /expected at least 4/],
    [Uint8Array.of(0x10, 0, 0, 0, 1, 0x7b), authed, /not JSON/],
    [Uint8Array.of(0x10, 0, 0, 0, 1, 0xff, 0xfe), authed, /not JSON/],
    [
      new Uint8Array([0x10, 0, 0, 0, 1, ...new TextEncoder().encode("[1]")]),
      authed,
      /expected an object/,
    ],
    [
      encodeLinkFrame({
        type: "open",
        job: 1,
        open: {
          target: "x#y",
          permissions: { root: true },
        },
      }),
      authed,
      /bad permission root/,
    ],
    [
      encodeLinkFrame({
        type: "open",
        job: 1,
        open: {
          target: "x".repeat(201),
          permissions: "none",
        },
      }),
      authed,
      /bad target/,
    ],
    [
      encodeLinkFrame({
        type: "open",
        job: 1,
        open: {
          target: "x",
          permissions: "all" as never,
        },
      }),
      authed,
      /bad permissions/,
    ],
    [
      encodeLinkFrame({
        type: "open",
        job: 1,
        open: {
          target: "x",
          permissions: "none",
          env: { A: 1 } as never,
        },
      }),
      authed,
      /bad env/,
    ],
    [
      encodeLinkFrame({ type: "exited", job: 1, code: 1.5, signal: null }),
      server,
      /bad code or signal/,
    ],
    [
      encodeLinkFrame({
        type: "close",
        reason: "x".repeat(MAX_CONTROL_BODY),
      }),
      server,
      /the limit is 65536/,
    ],
  ];
  for (const [bytes, options, message] of cases) {
    assert.throws(() => decodeLinkFrame(bytes, options), message);
  }
});

Deno.test("decodeLinkFrame() reads an open frame's own properties only", () => {
  // deno-lint-ignore no-explicit-any
  const proto = Object.prototype as any;
  proto.env = { LD_PRELOAD: "/tmp/evil.so" };
  try {
    const frame = decodeLinkFrame(
      encodeLinkFrame({
        type: "open",
        job: 1,
        open: { target: "x", permissions: "none" },
      }),
      { from: "client", authenticated: true },
    );
    assert.deepEqual(frame.type === "open" && Object.keys(frame.open), [
      "target",
      "permissions",
    ]);
  } finally {
    delete proto.env;
  }
});

Deno.test("linkProof() proves the token both ways, and a proof cannot be reflected or reused", async () => {
  const client = newNonce();
  const server = newNonce();
  const serverProof = await linkProof("s3cret", "server", client, server);
  assert.equal(serverProof.length, 32);
  assert.equal(
    await checkLinkProof("s3cret", "server", client, server, serverProof),
    true,
  );
  // The wrong token, the other side's label, other nonces: all refused.
  assert.equal(
    await checkLinkProof("guess", "server", client, server, serverProof),
    false,
  );
  assert.equal(
    await checkLinkProof("s3cret", "client", client, server, serverProof),
    false,
  );
  assert.equal(
    await checkLinkProof("s3cret", "server", newNonce(), server, serverProof),
    false,
  );
  assert.equal(
    await checkLinkProof("s3cret", "server", client, server, proof.slice(1)),
    false,
  );
});

Deno.test("FramedChannel refuses a huge length prefix without allocating it", async () => {
  // 0xFFFFFFF0: about 4 GiB announced, 4 bytes sent.
  const chunks = [Uint8Array.of(0xff, 0xff, 0xff, 0xf0, 1, 2, 3, 4)];
  const channel = new FramedChannel(streamOf(chunks), MAX_PRE_AUTH_FRAME);
  await assert.rejects(channel.next(), /limit is 256/);
  channel.close();
});

Deno.test("JOB_PERMISSION_NAMES are the names a worker's permissions may hold", () => {
  assert.deepEqual([...JOB_PERMISSION_NAMES], [...PERMISSION_NAMES]);
});

Deno.test("FramedChannel takes larger frames once its limit is raised", async () => {
  const payload = new Uint8Array(300).fill(1);
  const framed = new Uint8Array(304);
  new DataView(framed.buffer).setUint32(0, payload.length);
  framed.set(payload, 4);
  const chunks = [framed.slice(0, 4), framed.slice(4)];
  const channel = new FramedChannel(streamOf(chunks), MAX_PRE_AUTH_FRAME);
  channel.maxFrame = 1 << 20; // authenticated
  assert.deepEqual(await channel.next(), payload);
  assert.equal(await channel.next(), null);
  channel.close();
});
