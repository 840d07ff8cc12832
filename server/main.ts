/**
 * `deno task server`: the pyworkers server's command line. Everything it
 * does is {@linkcode RemoteServer}'s; this file reads flags, prints where
 * it listens on stdout (one line, for scripts using `--port 0`), logs to
 * stderr, and drains on SIGTERM or SIGINT.
 *
 * @example
 * ```sh
 * deno task server --port 0 --token s3cret --allow-read=/data
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { RemoteServer, type RemoteServerOptions } from "./mod.ts";
import type { PermissionDescriptor } from "../types.ts";
import { PERMISSION_NAMES } from "../_permissions/grants.ts";

const PERMISSIONS = PERMISSION_NAMES;

/** What a bare `--allow-<name>` becomes while parsing (no flag value can hold a NUL). */
const ALL = "\0all";

const HELP = `Usage: deno task server [options]

Runs remote workers' jobs, each in its own subprocess, for clients that
prove they know the token.

Options:
  --host <address>          Address to listen on (default 127.0.0.1; beyond
                            loopback a token is required)
  --port <n>                Port (default 6006; 0 picks a free one)
  --token <secret>          Shared token (default: $PYWORKERS_TOKEN)
  --cert <file> --key <file>  Serve TLS with this PEM certificate and key
                            (required beyond loopback, unless --plaintext)
  --plaintext               Serve beyond loopback without TLS (anyone on
                            the network path can read and rewrite jobs)
  --allow-<name>[=<list>]   What jobs may be granted at most (read, write,
                            net, env, run, ffi, sys, import; -A for all;
                            default: nothing)
  --max-connections <n>     Connections at once (default 256)
  --max-connections-per-client <n>
                            Connections at once per client address
                            (default 64)
  --max-jobs <n>            Jobs at once (default 64)
  --max-jobs-per-client <n> Jobs at once per client address (default 32)
  --max-frame <bytes>       Largest frame after authentication (default 1 GiB)
  --pre-auth-bytes <n>      Largest frame before authentication (default 256)
  --handshake-timeout <ms>  Time to authenticate (default 10000)
  --silence-timeout <ms>    Silence after which a client is dropped (default 30000)
  --drain-timeout <ms>      On SIGTERM, time running jobs get to finish
                            (default 30000)
  --lifeline                Drain and exit when stdin ends (for a parent
                            that starts the server and may die)
  --verbose                 Also log connections and handshakes
  --help                    Show this help
`;

/** Reads the command line into server options; throws a TypeError for a bad flag. */
export function parseServerArgs(
  args: string[],
  env: (name: string) => string | undefined,
): (RemoteServerOptions & { lifeline?: boolean }) | "help" {
  const { values } = parseArgs({
    // A bare --allow-read grants all of it, as for deno itself; it is
    // marked so that an empty --allow-read= (an unset variable) cannot
    // pass for it.
    args: args.map((arg) =>
      /^--allow-[a-z]+$/.test(arg) && arg !== "--allow-all"
        ? `${arg}=${ALL}`
        : arg
    ),
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      plaintext: { type: "boolean" },
      "allow-all": { type: "boolean", short: "A" },
      ...Object.fromEntries(
        PERMISSIONS.map((name) => [`allow-${name}`, { type: "string" }]),
      ),
      "max-connections": { type: "string" },
      "max-connections-per-client": { type: "string" },
      "max-jobs": { type: "string" },
      "max-jobs-per-client": { type: "string" },
      "max-frame": { type: "string" },
      "pre-auth-bytes": { type: "string" },
      "handshake-timeout": { type: "string" },
      "silence-timeout": { type: "string" },
      "drain-timeout": { type: "string" },
      verbose: { type: "boolean" },
      lifeline: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  }) as { values: Record<string, string | boolean | undefined> };
  if (values.help) return "help";
  const number = (flag: string): number | undefined => {
    const text = values[flag];
    if (text === undefined) return undefined;
    const value = Number(text);
    if (typeof text !== "string" || text === "" || !Number.isFinite(value)) {
      throw new TypeError(`Cannot use --${flag}=${text}: expected a number`);
    }
    return value;
  };
  let permissions: PermissionDescriptor = "none";
  if (values["allow-all"]) permissions = "inherit";
  else {
    const grant: Record<string, boolean | string[]> = {};
    for (const name of PERMISSIONS) {
      const value = values[`allow-${name}`];
      if (value === undefined) continue;
      if (value === "") {
        throw new TypeError(
          `Cannot use --allow-${name}= with an empty value (an unset ` +
            `variable?): give --allow-${name} for all of it, or a list`,
        );
      }
      grant[name] = value === ALL ? true : String(value).split(",");
    }
    if (Object.keys(grant).length > 0) permissions = grant;
  }
  const options: RemoteServerOptions & { lifeline?: boolean } = {
    permissions,
  };
  const set = <K extends keyof typeof options>(
    key: K,
    value: (typeof options)[K] | undefined,
  ): void => {
    if (value !== undefined) options[key] = value;
  };
  set("host", values.host as string | undefined);
  set("port", number("port"));
  set("token", (values.token as string | undefined) ?? env("PYWORKERS_TOKEN"));
  set("cert", values.cert as string | undefined);
  set("key", values.key as string | undefined);
  set("plaintext", values.plaintext === true ? true : undefined);
  set("maxConnections", number("max-connections"));
  set("maxConnectionsPerClient", number("max-connections-per-client"));
  set("maxJobs", number("max-jobs"));
  set("maxJobsPerClient", number("max-jobs-per-client"));
  set("maxFrame", number("max-frame"));
  set("preAuthBytes", number("pre-auth-bytes"));
  set("handshakeTimeout", number("handshake-timeout"));
  set("silenceTimeout", number("silence-timeout"));
  set("drainTimeout", number("drain-timeout"));
  set("verbose", values.verbose === true ? true : undefined);
  set("lifeline", values.lifeline === true ? true : undefined);
  return options;
}

/** Runs the CLI: serves until SIGTERM or SIGINT, then drains and exits 0. */
export async function main(args: string[]): Promise<number> {
  let options: ReturnType<typeof parseServerArgs>;
  let server: RemoteServer;
  try {
    options = parseServerArgs(args, (name) => {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined;
      }
    });
    if (options === "help") {
      console.log(HELP);
      return 0;
    }
    const { lifeline: _, ...serverOptions } = options;
    server = new RemoteServer(serverOptions);
    await server.serve();
  } catch (error) {
    console.error(`pyworkers server: ${(error as Error).message}`);
    return 2;
  }
  const [host, port] = server.address;
  console.log(
    `pyworkers server listening on ${
      host.includes(":") ? `[${host}]` : host
    }:${port}`,
  );
  const stop = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  const onSignal = (): void => stop.resolve();
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  if (options.lifeline) {
    // Reading stdin to its end: its end means the parent is gone.
    Deno.stdin.readable.pipeTo(new WritableStream()).finally(onSignal);
  }
  await stop.promise;
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  await server.drain();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
