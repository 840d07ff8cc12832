/**
 * A handshake for tests: a target proves it has started by connecting to a
 * Unix socket the test listens on, so tests never sleep to synchronise.
 *
 * @module
 */

/** A listener a target connects to once it runs. */
export interface Started extends AsyncDisposable {
  /** Pass this to the target; it calls `await Deno.connect({ transport: "unix", path })`. */
  readonly path: string;
  /** Resolves when the target has connected. */
  readonly started: Promise<void>;
}

/** Opens a fresh handshake listener in a temporary directory. */
export function startedSignal(): Started {
  const dir = Deno.makeTempDirSync({ prefix: "pyworkers-test-" });
  const path = `${dir}/started`;
  const listener = Deno.listen({ transport: "unix", path });
  const started = listener.accept().then((conn) => conn.close());
  started.catch(() => {});
  return {
    path,
    started,
    async [Symbol.asyncDispose]() {
      listener.close();
      await started.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}
