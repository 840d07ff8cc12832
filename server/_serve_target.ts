/**
 * The target of a spawned server's child (server/_spawn.ts): serves until
 * asked to stop, then drains.
 *
 * @module
 */
import { RemoteServer, type RemoteServerOptions } from "./mod.ts";
import type { WorkerContext } from "../types.ts";

/** Serves with `options`, tells the parent where, and drains once asked to stop. */
export async function serveUntilStopped(
  options: RemoteServerOptions,
  parentPort: number,
  nonce: string,
  ctx: WorkerContext,
): Promise<void> {
  const server = new RemoteServer(options);
  await server.serve();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: parentPort });
  await conn.write(
    new TextEncoder().encode(
      JSON.stringify({ nonce, address: server.address }),
    ),
  );
  conn.close();
  await new Promise((resolve) =>
    ctx.signal.addEventListener("abort", resolve, { once: true })
  );
  // Asked to stop by terminate(): running jobs get the drainTimeout the
  // caller gave (none by default: terminate() has its own timeout, after
  // which this process is killed and its jobs with it), then the ladder.
  await server.drain(options.drainTimeout ?? 0);
}
