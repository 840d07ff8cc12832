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
  /** Its log lines so far (only with `log: true`; empty otherwise). */
  readonly log: readonly string[];
  /**
   * Resolves with the `count`th log line (seen or to come) matching
   * `pattern` (default: the first); rejects after `timeoutMs` (default
   * 20 s) or once the log ends without it (only with `log: true`).
   */
  logged(
    pattern: RegExp,
    options?: { count?: number; timeoutMs?: number },
  ): Promise<string>;
  /** Kills it (SIGKILL unless it has exited) and frees its pipes. */
  close(): Promise<Deno.CommandStatus>;
}

/** How a test server is started. */
export interface StartServerOptions {
  /** Capture its stderr (its log) for `log` and `logged()`. */
  log?: boolean;
  /** Variables added to its environment. */
  env?: Record<string, string>;
  /** Run it in this network namespace (`ip netns exec`; root only). */
  netns?: string;
}

/**
 * Starts a server with `flags` (besides --port 0 and the token); resolves
 * once it listens. Its log goes to this process's stderr only with
 * PYWORKERS_TEST_LOG set, or to `log` with `options.log`.
 */
export async function startServer(
  flags: string[] = [],
  options: StartServerOptions = {},
): Promise<TestServer> {
  // `ip netns exec` execs the command: the child's pid is the server's.
  const [command, ...prefix] = options.netns === undefined
    ? [Deno.execPath()]
    : ["ip", "netns", "exec", options.netns, Deno.execPath()];
  const child = new Deno.Command(command!, {
    args: [
      ...prefix,
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
    ...(options.env === undefined ? {} : { env: options.env }),
    stdin: "piped",
    stdout: "piped",
    stderr: options.log
      ? "piped"
      : Deno.env.get("PYWORKERS_TEST_LOG")
      ? "inherit"
      : "null",
  }).spawn();
  const log = options.log ? captureLog(child.stderr) : undefined;
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
  const close = async (): Promise<Deno.CommandStatus> => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    const status = await child.status;
    await child.stdin.close().catch(() => {});
    await log?.ended;
    return status;
  };
  if (match === null) {
    await close();
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
    log: log?.lines ?? [],
    logged: (pattern, { count = 1, timeoutMs = 20_000 } = {}) =>
      log === undefined
        ? Promise.reject(new TypeError("Cannot wait for a log not captured"))
        : log.wait(pattern, count, timeoutMs),
    close,
  };
}

/** A server's log lines as they come, and waiting for one. */
function captureLog(stderr: ReadableStream<Uint8Array>): {
  lines: string[];
  ended: Promise<void>;
  wait(pattern: RegExp, count: number, timeoutMs: number): Promise<string>;
} {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  const ended = (async () => {
    let rest = "";
    try {
      for await (const text of stderr.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + text).split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
        if (Deno.env.get("PYWORKERS_TEST_LOG")) {
          for (const line of parts) console.error(line);
        }
        for (const wake of waiters) wake();
      }
    } catch {
      // the pipe broke: the log ends here
    }
    if (rest !== "") lines.push(rest);
    done = true;
    for (const wake of waiters) wake();
  })();
  const wait = (
    pattern: RegExp,
    count: number,
    timeoutMs: number,
  ): Promise<string> => {
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    let seen = 0;
    let matched = 0;
    const check = (): void => {
      for (; seen < lines.length; seen++) {
        if (pattern.test(lines[seen]!) && ++matched === count) {
          return finish(lines[seen]!);
        }
      }
      if (done) finish(undefined);
    };
    const timer = setTimeout(() => finish(undefined, true), timeoutMs);
    const finish = (line: string | undefined, late = false): void => {
      clearTimeout(timer);
      waiters.delete(check);
      if (line !== undefined) resolve(line);
      else {
        reject(
          new Error(
            `The server logged ${matched} of ${count} line(s) matching ${pattern} ${
              late ? `within ${timeoutMs} ms` : "before its log ended"
            }; it logged:\n${lines.join("\n")}`,
          ),
        );
      }
    };
    waiters.add(check);
    check();
    return promise;
  };
  return { lines, ended, wait };
}
