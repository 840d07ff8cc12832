/**
 * The link's mutual authentication (see link.ts for the handshake): each
 * side proves it knows the shared token by an HMAC-SHA-256 of both nonces
 * under it, labelled by who proves, so one side's proof cannot be reflected
 * back as the other's, and fresh nonces make an old proof worthless. The
 * token never crosses the wire; proofs are checked with Web Crypto's
 * `verify` (constant time).
 *
 * @module
 */
import {
  LINK_VERSION,
  type LinkRole,
  NONCE_BYTES,
  PROOF_BYTES,
  sized,
} from "./link.ts";

const encoder = new TextEncoder();

/** A fresh random nonce. */
export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

/**
 * The key of a server without a token (loopback only): Web Crypto refuses
 * an empty HMAC key, and the handshake stays the same either way.
 */
const NO_TOKEN_KEY = "pyworkers: no token";

function key(token: string, usage: KeyUsage): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(token === "" ? NO_TOKEN_KEY : token),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [usage],
  );
}

/** What `prover` signs: its label, the version and both nonces, client's first. */
function proofInput(
  prover: LinkRole,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const label = encoder.encode(`pyworkers link v${LINK_VERSION} ${prover}`);
  const out = new Uint8Array(label.length + 2 * NONCE_BYTES);
  out.set(label);
  out.set(sized(clientNonce, NONCE_BYTES, "nonce"), label.length);
  out.set(sized(serverNonce, NONCE_BYTES, "nonce"), label.length + NONCE_BYTES);
  return out;
}

/** The proof that `prover` knows `token`, for this pair of nonces. */
export async function linkProof(
  token: string,
  prover: LinkRole,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Promise<Uint8Array> {
  const input = proofInput(prover, clientNonce, serverNonce);
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", await key(token, "sign"), input),
  );
}

/** Whether `proof` shows that `prover` knows `token` (compared in constant time). */
export async function checkLinkProof(
  token: string,
  prover: LinkRole,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
  proof: Uint8Array,
): Promise<boolean> {
  if (proof.length !== PROOF_BYTES) return false;
  const input = proofInput(prover, clientNonce, serverNonce);
  return await crypto.subtle.verify(
    "HMAC",
    await key(token, "verify"),
    new Uint8Array(proof),
    input,
  );
}

/**
 * The token a client or server uses: the option if given (a string), else
 * the PYWORKERS_TOKEN environment variable, else none ("", loopback only).
 * Throws a `TypeError` for an option that is not a string.
 */
export function tokenFrom(option: unknown): string {
  if (option !== undefined) {
    if (typeof option !== "string") {
      throw new TypeError(
        `Cannot use ${Deno.inspect(option)} as token: expected a string`,
      );
    }
    return option;
  }
  try {
    return Deno.env.get("PYWORKERS_TOKEN") ?? "";
  } catch {
    return ""; // no env access: no token from there
  }
}
