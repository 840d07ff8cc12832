/**
 * The server's end of a remote link's handshake (see _protocol/link.ts):
 * the peer gets at most `preAuthBytes` per frame (refused from the length
 * prefix, never allocated) and `deadlineMs` for the whole handshake, then
 * must prove the token; only then is the frame limit raised.
 *
 * @module
 */
import { type ByteStream, FramedChannel } from "../_protocol/channel.ts";
import {
  encodeLinkFrame,
  LINK_VERSION,
  LinkError,
  MAX_PRE_AUTH_FRAME,
} from "../_protocol/link.ts";
import { checkLinkProof, linkProof, newNonce } from "../_protocol/link_auth.ts";
import {
  handshakeWithin,
  MAX_LINK_FRAME,
  nextHandshakeFrame,
} from "../_protocol/link_handshake.ts";

/** How a server authenticates a link. */
export interface AcceptLinkOptions {
  /** The token shared with clients. */
  readonly token: string;
  /** The most the whole handshake may take (default 10 s). */
  readonly deadlineMs?: number;
  /** The largest frame accepted before authentication (default 256). */
  readonly preAuthBytes?: number;
  /** The largest frame accepted once authenticated (default 1 GiB). */
  readonly maxFrame?: number;
}

/**
 * Authenticates the link over `conn` as its server. Resolves to the
 * channel, authenticated both ways. Otherwise closes `conn` and throws:
 * a `LinkError` whose message is the reason to log (a wrong proof, a
 * malformed or misplaced frame, one over the pre-authentication cap, a
 * version mismatch, a peer that left), or a `TimeoutError`
 * `DOMException` once `deadlineMs` passed.
 */
export function acceptLink(
  conn: ByteStream,
  options: AcceptLinkOptions,
): Promise<FramedChannel> {
  const {
    token,
    deadlineMs = 10_000,
    preAuthBytes = MAX_PRE_AUTH_FRAME,
    maxFrame = MAX_LINK_FRAME,
  } = options;
  const channel = new FramedChannel(conn, preAuthBytes);
  /** Tells the client why (before authentication, only what it sent wrong), then fails. */
  const refuse = async (reason: string): Promise<never> => {
    channel.send(encodeLinkFrame({ type: "close", reason }));
    await channel.drained();
    throw new LinkError(reason);
  };
  return handshakeWithin(channel, deadlineMs, async () => {
    const hello = await nextHandshakeFrame(channel, "client", "hello");
    if (hello.type !== "hello") {
      throw new LinkError(
        `Cannot accept a ${hello.type} frame from a client instead of its hello`,
      );
    }
    if (hello.version !== LINK_VERSION) {
      await refuse(
        `Cannot accept link version ${hello.version} as this server speaks ${LINK_VERSION}`,
      );
    }
    const clientNonce = hello.nonce;
    const serverNonce = newNonce();
    channel.send(encodeLinkFrame({
      type: "challenge",
      version: LINK_VERSION,
      nonce: serverNonce,
      proof: await linkProof(token, "server", clientNonce, serverNonce),
    }));
    const proof = await nextHandshakeFrame(channel, "client", "proof");
    if (proof.type === "close") {
      // The client checks this server's proof first: a client with another
      // token leaves here, saying so.
      throw new LinkError(
        `Cannot authenticate the client as it refused this server's proof of the token (another token?): ${proof.reason}`,
      );
    }
    if (proof.type !== "proof") {
      throw new LinkError(
        `Cannot accept a ${proof.type} frame from a client instead of its proof`,
      );
    }
    if (
      !(await checkLinkProof(
        token,
        "client",
        clientNonce,
        serverNonce,
        proof.proof,
      ))
    ) {
      await refuse(
        "Cannot authenticate the client as its proof of the token is wrong",
      );
    }
    channel.send(encodeLinkFrame({ type: "welcome" }));
    channel.maxFrame = maxFrame;
  });
}
