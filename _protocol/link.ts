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
 *  open {job, target, name, permissions,    ──▶    launch the job's process
 *        env, sender}
 *  job {job, bytes}                        ◀─▶    relayed as they are: the
 *                                                  worker protocol (V8 frames)
 *                                          ◀──    output {job, stream, bytes}
 *  terminate {job}                         ──▶    the job's stop request
 *  kill {job}                              ──▶    SIGTERM, then SIGKILL
 *                                          ◀──    exited {job, code, signal}
 *                                          ◀──    error {job, reason, name}
 *  heartbeat                               ──▶    the client's ping, every
 *                                          ◀──    interval; the server answers
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

/**
 * A job's permissions, as the client requests them: nothing, the server's
 * whole ceiling, or these (each within the ceiling, or the job is refused).
 */
export type JobPermissions =
  | "none"
  | "inherit"
  | { readonly [name: string]: boolean | readonly string[] };

/** The longest target label an open frame may carry. */
export const MAX_TARGET_LABEL = 200;

/**
 * What the client asks the server to run. The target itself travels in
 * the job's start message (opaque to the server); the open frame only
 * labels it for the server's log.
 */
export interface OpenJob {
  /** What the job runs, for the log (a module's URL, or "a function"). */
  readonly target: string;
  /** The worker's name, for the log. */
  readonly name?: string;
  /** A module target's specifier, checked by the server before it launches anything. */
  readonly module?: string;
  readonly permissions: JobPermissions;
  readonly env?: { readonly [name: string]: string };
  /** Whether the job's child writes results from a sender thread (it then connects twice). */
  readonly sender?: boolean;
}

/** Which of a job's output streams an output frame carries. */
export type OutputStream = "stdout" | "stderr";

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
  | {
    type: "exited";
    job: number;
    code: number;
    signal: string | null;
    /** Why the server stopped the job itself (a drain, its client gone), if it did. */
    stoppedBy?: string;
  }
  | { type: "output"; job: number; stream: OutputStream; bytes: Uint8Array }
  | {
    type: "error";
    job: number;
    reason: string;
    /** The error class the client raises (`NotCapable`, `NotFound`, ...); default `Error`. */
    name?: string;
  }
  | { type: "heartbeat" }
  | { type: "close"; reason: string };

/**
 * Whether `host` is a loopback address (or a name for one): the only
 * place either end links without a token.
 */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" ||
    /^127(\.\d{1,3}){3}$/.test(bare);
}

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
  output: 0x16,
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
    output: { from: "server", preAuth: false },
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
        ...(frame.stoppedBy === undefined
          ? {}
          : { stoppedBy: frame.stoppedBy }),
      });
    case "output": {
      const [out, view] = withHeader("output", 5 + frame.bytes.length);
      view.setUint32(1, frame.job);
      out[5] = frame.stream === "stdout" ? 1 : 2;
      out.set(frame.bytes, 6);
      return out;
    }
    case "error":
      return jsonFrame("error", frame.job, {
        reason: frame.reason,
        ...(frame.name === undefined ? {} : { name: frame.name }),
      });
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
  if (payload.length === 0) {
    throw new LinkError("Cannot decode an empty frame: expected a type byte");
  }
  const type = TYPES.get(payload[0]!);
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
      const stoppedBy = own(json, "stoppedBy");
      if (stoppedBy !== undefined && typeof stoppedBy !== "string") {
        throw new LinkError("Cannot decode an exited frame: bad stoppedBy");
      }
      return {
        type,
        job: view.getUint32(0),
        code: json.code as number,
        signal: json.signal as string | null,
        ...(stoppedBy === undefined ? {} : { stoppedBy }),
      };
    }
    case "output": {
      atLeast(5);
      const stream = body[4] === 1 ? "stdout" : body[4] === 2 ? "stderr" : "";
      if (stream === "") {
        throw new LinkError(`Cannot decode an output frame: bad stream`);
      }
      return { type, job: view.getUint32(0), stream, bytes: body.slice(5) };
    }
    case "error": {
      atLeast(4);
      const json = jsonBody(type, body.subarray(4));
      const name = own(json, "name");
      if (name !== undefined && typeof name !== "string") {
        throw new LinkError("Cannot decode an error frame: bad name");
      }
      return {
        type,
        job: view.getUint32(0),
        reason: reasonOf(type, json),
        ...(name === undefined ? {} : { name }),
      };
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
  if (typeof target !== "string" || target.length > MAX_TARGET_LABEL) {
    bad("target");
  }
  const name = own(json, "name");
  if (name !== undefined && typeof name !== "string") bad("name");
  const module = own(json, "module");
  if (module !== undefined && typeof module !== "string") bad("module");
  const sender = own(json, "sender");
  if (sender !== undefined && typeof sender !== "boolean") bad("sender");
  const permissions = own(json, "permissions");
  let grant: JobPermissions;
  if (permissions === "none" || permissions === "inherit") grant = permissions;
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
  if (
    env !== undefined &&
    (typeof env !== "object" || env === null || Array.isArray(env) ||
      !Object.values(env).every((v) => typeof v === "string"))
  ) bad("env");
  return {
    target: target as string,
    ...(name === undefined ? {} : { name: name as string }),
    ...(module === undefined ? {} : { module: module as string }),
    permissions: grant,
    // Plain copies of own entries: whoever reads them uses Object.entries.
    ...(env === undefined
      ? {}
      : { env: Object.fromEntries(Object.entries(env as object)) }),
    ...(sender === undefined ? {} : { sender: sender as boolean }),
  };
}

/** Bytes before a job frame's payload: its type and its job. */
export const JOB_HEADER_BYTES = 5;

/**
 * The header of a job frame for `job`: sent as the first part of a frame
 * whose other parts are the payload, so that a large payload is never
 * copied to be relayed.
 */
export function jobHeader(job: number): Uint8Array {
  const [out, view] = withHeader("job", 4);
  view.setUint32(1, job);
  return out;
}

/**
 * The job and payload of a job frame, without copying it (the hot path of
 * relaying), or undefined for any other frame. Only valid after
 * authentication.
 */
export function jobFrameOf(
  payload: Uint8Array,
): { job: number; bytes: Uint8Array } | undefined {
  if (payload[0] !== CODES.job || payload.length < JOB_HEADER_BYTES) {
    return undefined;
  }
  // Read by hand: a DataView per relayed frame costs more than the rest.
  const job = ((payload[1]! << 24) | (payload[2]! << 16) | (payload[3]! << 8) |
    payload[4]!) >>> 0;
  return { job, bytes: payload.subarray(JOB_HEADER_BYTES) };
}
