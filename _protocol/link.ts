/**
 * The link between a client and a remote server (a sketch for remote
 * workers: frames and their codec, no server yet). Each link frame travels
 * inside one length-prefixed frame of a {@linkcode FramedChannel}: one type
 * byte, then its body.
 *
 * ```
 *  client                                         server
 *  ──────                                         ──────
 *  hello {version, client nonce}           ──▶    (≤ 256 bytes before auth)
 *                                          ◀──    challenge {version, server nonce,
 *                                                   server proof}
 *  check the server's proof
 *  proof {client proof}                    ──▶    check the client's proof
 *                                          ◀──    welcome
 *  ── authenticated: JSON bodies and opaque job bytes from here on ──
 *  open {job, target, permissions, env}    ──▶    launch the job's process
 *  job {job, bytes}                        ◀─▶    relayed as they are: the
 *                                                  worker protocol (V8 frames)
 *  terminate {job}                         ──▶    the job's stop request
 *  kill {job}                              ──▶    SIGTERM, then SIGKILL
 *                                          ◀──    exited {job, code, signal}
 *                                          ◀──    error {job, reason}
 *  heartbeat                               ◀─▶    either side, when idle
 *  close {reason}                          ◀─▶    then the connection ends
 * ```
 *
 * Proofs (link_auth.ts) are HMAC-SHA-256 of both nonces under the shared
 * token, labelled by who proves; the token never crosses the wire. The server never deserializes a
 * client's bytes with `node:v8`: before authentication every frame is a
 * small fixed binary layout, after it control frames are bounded JSON, and
 * job frames are opaque to the server (only the job's own process reads
 * them). Limits are checked before anything is allocated.
 *
 * @module
 */
import type { TargetSpec } from "./messages.ts";

/** The link protocol's version (in hello and challenge). */
export const LINK_VERSION = 1;
/** The most a peer may send before it is authenticated, per frame. */
export const MAX_PRE_AUTH_FRAME = 256;
/** The largest JSON body of a control frame (open, exited, error, close). */
export const MAX_CONTROL_BODY = 64 * 1024;
/** Bytes in a nonce. */
export const NONCE_BYTES = 32;
/** Bytes in a proof (an HMAC-SHA-256). */
export const PROOF_BYTES = 32;

/** A job's permissions, as the client requests them (the server intersects them with its ceiling). */
export type JobPermissions =
  | "none"
  | { readonly [name: string]: boolean | readonly string[] };

/** What the client asks the server to run. */
export interface OpenJob {
  readonly target: TargetSpec;
  readonly permissions: JobPermissions;
  readonly env?: { readonly [name: string]: string };
}

/** One frame of the link. */
export type LinkFrame =
  | { type: "hello"; version: number; nonce: Uint8Array }
  | { type: "challenge"; version: number; nonce: Uint8Array; proof: Uint8Array }
  | { type: "proof"; proof: Uint8Array }
  | { type: "welcome" }
  | { type: "open"; job: number; open: OpenJob }
  | { type: "job"; job: number; bytes: Uint8Array }
  | { type: "terminate"; job: number }
  | { type: "kill"; job: number }
  | { type: "exited"; job: number; code: number; signal: string | null }
  | { type: "error"; job: number; reason: string }
  | { type: "heartbeat" }
  | { type: "close"; reason: string };

/** Who sends a frame. */
export type LinkRole = "client" | "server";

/** A frame that breaks the link's rules: the connection must be dropped, with this as the reason. */
export class LinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LinkError";
  }
}

const CODES = {
  hello: 0x01,
  challenge: 0x02,
  proof: 0x03,
  welcome: 0x04,
  open: 0x10,
  job: 0x11,
  terminate: 0x12,
  kill: 0x13,
  exited: 0x14,
  error: 0x15,
  heartbeat: 0x20,
  close: 0x21,
} as const;
type FrameType = keyof typeof CODES;
const TYPES = new Map<number, FrameType>(
  Object.entries(CODES).map(([type, code]) => [code, type as FrameType]),
);

/** Who may send each frame, and whether it may come before authentication. */
const RULES: Record<FrameType, { from: LinkRole | "both"; preAuth: boolean }> =
  {
    hello: { from: "client", preAuth: true },
    challenge: { from: "server", preAuth: true },
    proof: { from: "client", preAuth: true },
    welcome: { from: "server", preAuth: true },
    open: { from: "client", preAuth: false },
    job: { from: "both", preAuth: false },
    terminate: { from: "client", preAuth: false },
    kill: { from: "client", preAuth: false },
    exited: { from: "server", preAuth: false },
    error: { from: "server", preAuth: false },
    heartbeat: { from: "both", preAuth: false },
    close: { from: "both", preAuth: true },
  };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function withHeader(type: FrameType, size: number): [Uint8Array, DataView] {
  const out = new Uint8Array(1 + size);
  out[0] = CODES[type];
  return [out, new DataView(out.buffer)];
}

function jsonFrame(type: FrameType, job: number | undefined, body: unknown) {
  const json = encoder.encode(JSON.stringify(body));
  const head = job === undefined ? 0 : 4;
  const [out, view] = withHeader(type, head + json.length);
  if (job !== undefined) view.setUint32(1, job);
  out.set(json, 1 + head);
  return out;
}

/** Encodes one frame (the payload of one channel frame). */
export function encodeLinkFrame(frame: LinkFrame): Uint8Array {
  switch (frame.type) {
    case "hello": {
      const [out] = withHeader("hello", 1 + NONCE_BYTES);
      out[1] = frame.version;
      out.set(sized(frame.nonce, NONCE_BYTES, "nonce"), 2);
      return out;
    }
    case "challenge": {
      const [out] = withHeader("challenge", 1 + NONCE_BYTES + PROOF_BYTES);
      out[1] = frame.version;
      out.set(sized(frame.nonce, NONCE_BYTES, "nonce"), 2);
      out.set(sized(frame.proof, PROOF_BYTES, "proof"), 2 + NONCE_BYTES);
      return out;
    }
    case "proof": {
      const [out] = withHeader("proof", PROOF_BYTES);
      out.set(sized(frame.proof, PROOF_BYTES, "proof"), 1);
      return out;
    }
    case "welcome":
    case "heartbeat":
      return withHeader(frame.type, 0)[0];
    case "terminate":
    case "kill": {
      const [out, view] = withHeader(frame.type, 4);
      view.setUint32(1, frame.job);
      return out;
    }
    case "job": {
      const [out, view] = withHeader("job", 4 + frame.bytes.length);
      view.setUint32(1, frame.job);
      out.set(frame.bytes, 5);
      return out;
    }
    case "open":
      return jsonFrame("open", frame.job, frame.open);
    case "exited":
      return jsonFrame("exited", frame.job, {
        code: frame.code,
        signal: frame.signal,
      });
    case "error":
      return jsonFrame("error", frame.job, { reason: frame.reason });
    case "close":
      return jsonFrame("close", undefined, { reason: frame.reason });
  }
}

export function sized(
  bytes: Uint8Array,
  length: number,
  what: string,
): Uint8Array {
  if (bytes.length !== length) {
    throw new RangeError(
      `Cannot encode a ${what} of ${bytes.length} bytes: expected ${length}`,
    );
  }
  return bytes;
}

/**
 * Decodes one frame sent by `from`. Throws a {@linkcode LinkError} for
 * anything the rules refuse: an unknown type, a frame its sender may not
 * send, a frame beyond {@linkcode MAX_PRE_AUTH_FRAME} or anything but the
 * handshake before authentication, a wrong size, bad JSON or a bad shape.
 */
export function decodeLinkFrame(
  payload: Uint8Array,
  options: { from: LinkRole; authenticated: boolean },
): LinkFrame {
  const { from, authenticated } = options;
  if (!authenticated && payload.length > MAX_PRE_AUTH_FRAME) {
    throw new LinkError(
      `Cannot accept a frame of ${payload.length} bytes before authentication: the limit is ${MAX_PRE_AUTH_FRAME}`,
    );
  }
  const type = TYPES.get(payload[0] ?? -1);
  if (type === undefined) {
    throw new LinkError(`Cannot decode a frame of unknown type ${payload[0]}`);
  }
  const rule = RULES[type];
  if (rule.from !== "both" && rule.from !== from) {
    throw new LinkError(`Cannot accept a ${type} frame from a ${from}`);
  }
  if (authenticated === rule.preAuth && type !== "close") {
    throw new LinkError(
      `Cannot accept a ${type} frame ${
        authenticated ? "after" : "before"
      } authentication`,
    );
  }
  const body = payload.subarray(1);
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const expect = (length: number): void => {
    if (body.length !== length) {
      throw new LinkError(
        `Cannot decode a ${type} frame of ${body.length} bytes: expected ${length}`,
      );
    }
  };
  const atLeast = (length: number): void => {
    if (body.length < length) {
      throw new LinkError(
        `Cannot decode a ${type} frame of ${body.length} bytes: expected at least ${length}`,
      );
    }
  };
  switch (type) {
    case "hello":
      expect(1 + NONCE_BYTES);
      return { type, version: body[0]!, nonce: body.slice(1) };
    case "challenge":
      expect(1 + NONCE_BYTES + PROOF_BYTES);
      return {
        type,
        version: body[0]!,
        nonce: body.slice(1, 1 + NONCE_BYTES),
        proof: body.slice(1 + NONCE_BYTES),
      };
    case "proof":
      expect(PROOF_BYTES);
      return { type, proof: body.slice() };
    case "welcome":
    case "heartbeat":
      expect(0);
      return { type };
    case "terminate":
    case "kill":
      expect(4);
      return { type, job: view.getUint32(0) };
    case "job":
      atLeast(4);
      return { type, job: view.getUint32(0), bytes: body.slice(4) };
    case "open": {
      atLeast(4);
      const json = jsonBody(type, body.subarray(4));
      return { type, job: view.getUint32(0), open: checkOpen(json) };
    }
    case "exited": {
      atLeast(4);
      const json = jsonBody(type, body.subarray(4));
      if (
        !Number.isInteger(json.code) ||
        !(json.signal === null || typeof json.signal === "string")
      ) {
        throw new LinkError(
          "Cannot decode an exited frame: bad code or signal",
        );
      }
      return {
        type,
        job: view.getUint32(0),
        code: json.code as number,
        signal: json.signal as string | null,
      };
    }
    case "error": {
      atLeast(4);
      const json = jsonBody(type, body.subarray(4));
      return { type, job: view.getUint32(0), reason: reasonOf(type, json) };
    }
    case "close":
      return { type, reason: reasonOf(type, jsonBody(type, body)) };
  }
}

function jsonBody(type: FrameType, bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length > MAX_CONTROL_BODY) {
    throw new LinkError(
      `Cannot decode a ${type} frame with a body of ${bytes.length} bytes: the limit is ${MAX_CONTROL_BODY}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new LinkError(`Cannot decode a ${type} frame: its body is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new LinkError(`Cannot decode a ${type} frame: expected an object`);
  }
  return value as Record<string, unknown>;
}

/** `object[key]` if it is the object's own (a polluted prototype adds nothing). */
function own(object: unknown, key: string): unknown {
  return typeof object === "object" && object !== null &&
      Object.hasOwn(object, key)
    ? (object as Record<string, unknown>)[key]
    : undefined;
}

function reasonOf(type: FrameType, json: Record<string, unknown>): string {
  const reason = own(json, "reason");
  if (typeof reason !== "string") {
    throw new LinkError(`Cannot decode a ${type} frame: expected a reason`);
  }
  return reason;
}

/**
 * The permission names a job may ask for: the same as
 * _permissions/grants.ts's (the layout keeps the protocol from importing
 * it; tests/link_test.ts pins that both agree).
 */
export const JOB_PERMISSION_NAMES: ReadonlySet<string> = new Set(
  "read write net env run ffi sys import".split(" "),
);

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/** Checks an open frame's body field by field (own properties only). */
function checkOpen(json: Record<string, unknown>): OpenJob {
  const bad = (what: string): never => {
    throw new LinkError(`Cannot decode an open frame: bad ${what}`);
  };
  const target = own(json, "target");
  const [kind, source, module, name] = ["kind", "source", "module", "name"]
    .map((key) => own(target, key));
  let spec: TargetSpec;
  if (kind === "source" && typeof source === "string") {
    spec = { kind, source };
  } else if (
    kind === "module" && typeof module === "string" && typeof name === "string"
  ) spec = { kind, module, name };
  else return bad("target");
  const permissions = own(json, "permissions");
  let grant: JobPermissions;
  if (permissions === "none") grant = "none";
  else if (
    typeof permissions === "object" && permissions !== null &&
    !Array.isArray(permissions)
  ) {
    const out: Record<string, boolean | string[]> = {};
    for (const [name, value] of Object.entries(permissions)) {
      if (!JOB_PERMISSION_NAMES.has(name)) bad(`permission ${name}`);
      if (typeof value !== "boolean" && !isStringArray(value)) {
        bad(`permission ${name}`);
      }
      out[name] = value as boolean | string[];
    }
    grant = out;
  } else return bad("permissions");
  const env = own(json, "env");
  if (env === undefined) return { target: spec, permissions: grant };
  if (
    typeof env !== "object" || env === null || Array.isArray(env) ||
    !Object.values(env).every((v) => typeof v === "string")
  ) bad("env");
  return {
    target: spec,
    permissions: grant,
    env: Object.fromEntries(Object.entries(env as Record<string, string>)),
  };
}
