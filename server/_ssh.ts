/**
 * {@linkcode sshServer}: an ad-hoc server on another host, started over
 * `ssh` for as long as this process needs it (the original's
 * `tmp_ssh_server`). The remote command is the CLI with `--port 0
 * --lifeline`: it prints where it listens, and drains and exits once its
 * stdin (ssh's) ends, so it never outlives the ssh session. The token goes
 * through that stdin, never on a command line.
 *
 * @module
 */
import { ownOptions } from "../_core/options.ts";
import { within } from "../_protocol/time.ts";

/** How long the remote server has to start listening. */
const START_BOUND_MS = 30_000;

/** How long `close()` waits for the server to drain and ssh to exit before killing ssh. */
const CLOSE_BOUND_MS = 10_000;

/** Options of {@linkcode sshServer}. */
export interface SshServerOptions {
  /** Where to run the server: `"host"` or `"user@host"`, as ssh takes it. */
  destination: string;
  /** More arguments for ssh, before the destination (e.g. `["-p", "2222", "-i", key]`). */
  sshArgs?: string[];
  /** The token clients must prove, passed on the server's stdin. @default {none (then only a loopback `listen` is allowed)} */
  token?: string;
  /** The address the server listens on, there. @default {the destination's host} */
  listen?: string;
  /**
   * The command that starts the server's CLI there, run by the remote
   * user's shell. @default {`deno run -A` and this module's server/main.ts,
   * which works where this checkout is at the same path}
   */
  command?: string;
  /** More flags for the server (its ceiling, limits), e.g. `["--allow-read=/data"]`. */
  flags?: string[];
  /** Each line ssh and the server write to stderr. @default {console.error} */
  log?: (line: string) => void;
}

/** A server started over ssh. */
export interface SshServer extends AsyncDisposable {
  /** `[host, port]` for clients: the destination's host and the port the server picked. */
  readonly address: [string, number];
  /** The local ssh process's id. */
  readonly pid: number;
  /** Ends the server's stdin: it drains and exits, then ssh does (killed if not within 10 s). */
  close(): Promise<void>;
}

const NAMES = [
  "destination",
  "sshArgs",
  "token",
  "listen",
  "command",
  "flags",
  "log",
] as const;

/** Quotes `word` for a POSIX shell. */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The host part of an ssh destination (`user@host` or `[v6]`). */
function hostOf(destination: string): string {
  return destination.slice(destination.lastIndexOf("@") + 1)
    .replace(/^\[|\]$/g, "");
}

function stringList(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(value)
      } as ${name}: expected an array of strings`,
    );
  }
  return [...value];
}

/** Splits a byte stream into lines, passing each to `onLine`. */
async function eachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  if (rest !== "") onLine(rest);
}

/**
 * Starts a server on `destination` over ssh; resolves once it listens.
 * ssh must log in without a prompt (a key, an agent) to a POSIX shell, and
 * the host needs `deno` and the server's code (see `command`).
 *
 * @example A server on this machine's own sshd (here only a sketch)
 * ```ts ignore
 * import { RemoteWorker, sshServer } from "jsr:@x/pyworkers";
 *
 * await using server = await sshServer({
 *   destination: "me@10.0.0.2",
 *   token: "s3cret",
 *   command: "deno run -A /opt/pyworkers/server/main.ts",
 * });
 * const worker = new RemoteWorker({
 *   target: () => Deno.hostname(),
 *   host: server.address,
 *   token: "s3cret",
 * });
 * await worker.wait();
 * ```
 *
 * @param options Where, how to log in, the token and the server's flags.
 * @returns The running server, with its `address`.
 * @throws {TypeError} If an option is malformed.
 * @throws {Error} If ssh or the server ends before it listens (with what
 * they wrote to stderr), or it does not listen within 30 s.
 */
export async function sshServer(options: SshServerOptions): Promise<SshServer> {
  const own = ownOptions(options, NAMES, "ssh server options");
  if (typeof own.destination !== "string" || own.destination === "") {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(own.destination)
      } as destination: expected "host" or "user@host"`,
    );
  }
  if (
    own.token !== undefined &&
    (typeof own.token !== "string" || /[\r\n]/.test(own.token))
  ) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(own.token)
      } as token: expected a string of one line`,
    );
  }
  const host = hostOf(own.destination);
  const main = new URL("./main.ts", import.meta.url);
  const command = own.command ??
    `deno run -A ${
      quote(main.protocol === "file:" ? main.pathname : main.href)
    }`;
  const flags = [
    "--host",
    own.listen ?? host,
    "--port",
    "0",
    "--lifeline",
    ...stringList("flags", own.flags),
  ];
  // The shell reads the token's line, then hands the rest of stdin to the
  // server as its lifeline.
  const remote = `IFS= read -r PYWORKERS_TOKEN || exit 2; ` +
    `if [ -n "$PYWORKERS_TOKEN" ]; then export PYWORKERS_TOKEN; ` +
    `else unset PYWORKERS_TOKEN; fi; ` +
    `exec ${command} ${flags.map(quote).join(" ")}`;
  const log = own.log ?? ((line: string) => console.error(line));
  const child = new Deno.Command("ssh", {
    args: [
      "-T",
      "-o",
      "BatchMode=yes",
      ...stringList("sshArgs", own.sshArgs),
      "--",
      own.destination,
      remote,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const stderrTail: string[] = [];
  const logged = eachLine(child.stderr, (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    log(line);
  }).catch(() => {});
  let port: number | undefined;
  const listening = Promise.withResolvers<void>();
  const read = eachLine(child.stdout, (line) => {
    const match = /listening on \S+:(\d+)$/.exec(line);
    if (match !== null && port === undefined) {
      port = Number(match[1]);
      listening.resolve();
    }
  }).catch(() => {});
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      await stdin.close().catch(() => {});
      if (!await within(child.status, CLOSE_BOUND_MS)) {
        try {
          child.kill("SIGTERM");
        } catch {
          // exited meanwhile
        }
      }
      await child.status;
      await Promise.all([read, logged]);
    })();

  try {
    await stdin.write(new TextEncoder().encode(`${own.token ?? ""}\n`));
    const ended = child.status.then(() => undefined);
    if (
      !await within(Promise.race([listening.promise, ended]), START_BOUND_MS)
    ) {
      throw new Error(
        `Cannot start a server over ssh on ${own.destination}: it did not listen within ${START_BOUND_MS} ms`,
      );
    }
    if (port === undefined) {
      await Promise.all([read, logged]);
      throw new Error(
        `Cannot start a server over ssh on ${own.destination}: ssh ended ` +
          `(code ${(await child.status).code}) before it listened:\n` +
          stderrTail.join("\n"),
      );
    }
  } catch (error) {
    await close();
    throw error;
  }
  const address: [string, number] = [host, port];
  return {
    get address(): [string, number] {
      return [...address];
    },
    pid: child.pid,
    close,
    [Symbol.asyncDispose]: close,
  };
}
