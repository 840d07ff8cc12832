/**
 * A pyworkers server for the remote tests: `deno run server/main.ts` in a
 * child process, started once per test module, on a free loopback port,
 * with a token and a ceiling of everything (the contract tests' targets
 * signal through Unix sockets). Out of process, so that its sockets are
 * not this test process's: the sanitizers see only the clients'.
 * It is killed when the module unloads; its stdin is its lifeline (a
 * server whose test process is gone drains and exits).
 *
 * @module
 */
const MAIN = new URL("../server/main.ts", import.meta.url);

/** The token of the test server. */
export const TOKEN = "test-token";

/** A running test server. */
export interface TestServer {
  readonly host: string;
  readonly port: number;
  /** `"127.0.0.1:port"`. */
  readonly address: string;
  readonly pid: number;
  /** Sends a signal to the server process. */
  kill(signal?: Deno.Signal): void;
  /** Resolves with its status once it has exited. */
  readonly status: Promise<Deno.CommandStatus>;
}

/**
 * Starts a server with `flags` (besides --port 0 and the token); resolves
 * once it listens. Its log goes to this process's stderr only with
 * PYWORKERS_TEST_LOG set.
 */
export async function startServer(flags: string[] = []): Promise<TestServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN.href,
      "--port",
      "0",
      "--token",
      TOKEN,
      "--lifeline",
      ...flags,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: Deno.env.get("PYWORKERS_TEST_LOG") ? "inherit" : "null",
  }).spawn();
  // The first line says where it listens; nothing else comes on stdout.
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  const match = /listening on (\S+):(\d+)/.exec(text);
  if (match === null) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`The test server did not start: ${JSON.stringify(text)}`);
  }
  const [, host, port] = match as unknown as [string, string, string];
  return {
    host,
    port: Number(port),
    address: `${host}:${port}`,
    pid: child.pid,
    kill: (signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    },
    status: child.status,
  };
}
