/**
 * What both ends of a link's handshake share (link.ts has the frames):
 * reading one handshake frame with every failure as a {@linkcode LinkError},
 * and running a handshake within a deadline that closes the connection on
 * any failure, so no half-authenticated peer is ever left holding it.
 *
 * @module
 */
import { within } from "./time.ts";
import type { FramedChannel } from "./channel.ts";
import { FrameSizeError } from "./frames.ts";
import {
  decodeLinkFrame,
  LinkError,
  type LinkFrame,
  type LinkRole,
} from "./link.ts";

/** The largest frame either side accepts once its peer is authenticated. */
export const MAX_LINK_FRAME = 1 << 30;

/**
 * Whether a frame's length prefix is the header of a TLS record (content
 * type 0x14 to 0x17, protocol version 3.x): a peer speaking TLS to a plain
 * end, e.g. a server's alert to a client without `tls`.
 */
function isTlsRecord(prefix: number): boolean {
  const type = prefix >>> 24;
  return type >= 0x14 && type <= 0x17 && ((prefix >>> 16) & 0xff) === 3;
}

/**
 * The next frame `from` sent before authentication. A frame over the
 * channel's limit is refused from its length prefix (never allocated); the
 * end of the stream, a broken frame or one the rules refuse are all a
 * {@linkcode LinkError} naming `waiting` (what was expected).
 */
export async function nextHandshakeFrame(
  channel: FramedChannel,
  from: LinkRole,
  waiting: string,
): Promise<LinkFrame> {
  let payload: Uint8Array | null;
  try {
    payload = await channel.next();
  } catch (error) {
    if (error instanceof FrameSizeError && isTlsRecord(error.length)) {
      throw new LinkError(
        from === "server"
          ? `Cannot read the server's ${waiting} as it speaks TLS: connect with the tls option`
          : `Cannot read the client's ${waiting} as it speaks TLS, which this server does not (serve TLS with --cert and --key)`,
      );
    }
    if (error instanceof RangeError) {
      throw new LinkError(`${error.message} before authentication`);
    }
    throw new LinkError(
      `Cannot read the ${from}'s ${waiting}: ${(error as Error).message}`,
    );
  }
  if (payload === null) {
    throw new LinkError(
      `Cannot read the ${from}'s ${waiting} as it closed the connection`,
    );
  }
  return decodeLinkFrame(payload, { from, authenticated: false });
}

/**
 * Runs `steps` on `channel` within `deadlineMs`. On success the channel is
 * returned open; on any failure or when the deadline passes it is closed
 * (and its pending reads and writes settled) before the error is thrown:
 * a `TimeoutError` `DOMException` for the deadline, else what `steps` threw.
 */
export async function handshakeWithin(
  channel: FramedChannel,
  deadlineMs: number,
  steps: () => Promise<void>,
): Promise<FramedChannel> {
  const work = steps();
  try {
    if (await within(work, deadlineMs)) return channel;
  } catch (error) {
    await closeSettled(channel, work);
    throw error;
  }
  await closeSettled(channel, work);
  throw new DOMException(
    `Cannot complete the link's handshake within ${deadlineMs} ms`,
    "TimeoutError",
  );
}

/**
 * Closes `channel`, then waits for the handshake's reads and writes to end
 * (closing cancels them), so nothing is left pending on a closed stream.
 */
async function closeSettled(
  channel: FramedChannel,
  work: Promise<void>,
): Promise<void> {
  channel.close();
  await work.catch(() => {});
  await channel.drained();
}
