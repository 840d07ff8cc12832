/**
 * The client's end of a remote link's handshake (see
 * _protocol/link.ts): say hello, check the server's proof of the token
 * before sending anything else but a close saying why it leaves (a server
 * that does not know the token learns nothing and can harvest no job),
 * prove the token in turn, and get
 * an authenticated channel whose frame limit is then raised.
 *
 * @module
 */
import { AuthenticationError } from "../errors.ts";
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

/** How a client authenticates a link. */
export interface ConnectLinkOptions {
  /** The token shared with the server. */
  readonly token: string;
  /** The most the whole handshake may take (default 10 s). */
  readonly deadlineMs?: number;
  /** The largest frame accepted once authenticated (default 1 GiB). */
  readonly maxFrame?: number;
}

/**
 * Authenticates the link over `conn` as its client. Resolves to the
 * channel, authenticated both ways; rejects with an
 * {@linkcode AuthenticationError} if the server's proof is wrong or it
 * refuses ours, a `LinkError` for a malformed frame or a version mismatch,
 * or a `TimeoutError` `DOMException` once `deadlineMs` passed. On failure
 * `conn` is closed.
 */
export function connectLink(
  conn: ByteStream,
  options: ConnectLinkOptions,
): Promise<FramedChannel> {
  const { token, deadlineMs = 10_000, maxFrame = MAX_LINK_FRAME } = options;
  const channel = new FramedChannel(conn, MAX_PRE_AUTH_FRAME);
  return handshakeWithin(channel, deadlineMs, async () => {
    const clientNonce = newNonce();
    channel.send(
      encodeLinkFrame({
        type: "hello",
        version: LINK_VERSION,
        nonce: clientNonce,
      }),
    );
    const challenge = await nextHandshakeFrame(channel, "server", "challenge");
    if (challenge.type === "close") {
      throw new LinkError(
        `Cannot connect as the server closed the link: ${challenge.reason}`,
      );
    }
    if (challenge.type !== "challenge") {
      throw new LinkError(
        `Cannot connect as the server sent a ${challenge.type} frame instead of its challenge`,
      );
    }
    if (challenge.version !== LINK_VERSION) {
      throw new LinkError(
        `Cannot connect as the server speaks link version ${challenge.version}, not ${LINK_VERSION}`,
      );
    }
    const serverNonce = challenge.nonce;
    if (
      !(await checkLinkProof(
        token,
        "server",
        clientNonce,
        serverNonce,
        challenge.proof,
      ))
    ) {
      const reason =
        "Cannot authenticate the server as its proof of the token is wrong (another token, or not a pyworkers server)";
      // Tell a real server with another token why we leave (its log says
      // so); a fake one learns nothing it did not know.
      channel.send(encodeLinkFrame({ type: "close", reason }));
      await channel.drained();
      throw new AuthenticationError(reason);
    }
    channel.send(encodeLinkFrame({
      type: "proof",
      proof: await linkProof(token, "client", clientNonce, serverNonce),
    }));
    // A server that refuses the proof says so in a close frame; a
    // connection that just ends (a server shutting down, a network failure)
    // is a link error, not a wrong token (trial 5: a client retrying on
    // AuthenticationError would blame its token).
    const answer = await nextHandshakeFrame(channel, "server", "welcome");
    if (answer.type !== "welcome") {
      throw new AuthenticationError(
        `Cannot authenticate with the server as it refused our proof${
          answer.type === "close" ? `: ${answer.reason}` : ""
        }`,
      );
    }
    channel.maxFrame = maxFrame;
  });
}
