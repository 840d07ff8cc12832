// Tasks the Node peers run (bench/node/peers.mjs). Piscina and tinypool load
// this file directly and pick an export by `name`; workerpool loads
// workerpool_worker.mjs, which registers the same functions.
import { createConnection } from "node:net";

/** The trivial task: `(x) => x`. */
export default function identity(x) {
  return x;
}

/**
 * A thread task busy in a loop that never yields. It first tells the parent
 * it has started, through the SharedArrayBuffer it was given (slot 0).
 */
export function spinThread(sab) {
  const flag = new Int32Array(sab);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  for (;;) {
    // spin
  }
}

/**
 * A process task busy in a loop that never yields. It first connects to the
 * Unix socket at `path` (a SharedArrayBuffer cannot reach another process);
 * the connection stays open until the process exits.
 */
export function spinProcess(path) {
  return new Promise((_resolve, reject) => {
    const socket = createConnection({ path }, () => {
      for (;;) {
        // spin
      }
    });
    socket.on("error", reject);
  });
}
