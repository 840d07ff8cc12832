/**
 * The hosts of a pool's `addHosts`: a fixed list, or every A/AAAA record
 * of a DNS name, looked up again every `resolveInterval` ms. Hosts that
 * appear get workers; hosts that vanish have theirs drained (the pool's
 * part). A name with no record left in 3 lookups in a row drains every
 * host; a lookup that fails otherwise (no answer, a server error) changes
 * nothing: a DNS hiccup is no reason to drop every host.
 *
 * @module
 */

import { forDeno } from "../_core/options.ts";

/** How often a `dns:` name is looked up again, by default (ms). */
export const RESOLVE_INTERVAL = 30_000;

/** A DNS server to ask instead of the system's (as `Deno.resolveDns` takes it).
 *
 * @example
 * ```ts
 * import type { NameServer } from "jsr:@x/pyworkers";
 *
 * const nameServer: NameServer = { ipAddr: "10.96.0.10", port: 53 };
 * console.log(nameServer.ipAddr); // 10.96.0.10
 * ```
 */
export interface NameServer {
  /** Its IP address. */
  ipAddr: string;
  /** Its port. @default {53} */
  port?: number;
}

/** What a host set tells its pool. */
export interface HostEvents {
  /** `address` ("ip:port") appeared: give it workers. */
  join(address: string): void;
  /** `address` vanished: drain its workers. */
  leave(address: string): void;
}

/** Where the hosts come from. */
type Source =
  | { readonly kind: "list"; readonly addresses: readonly string[] }
  | { readonly kind: "dns"; readonly name: string; readonly port: number };

/**
 * Reads the `hosts` option: a list of "host:port" strings, or
 * `"dns:NAME:PORT"`.
 */
function sourceOf(hosts: unknown): Source {
  if (typeof hosts === "string") {
    const match = /^dns:([^:]+):(\d{1,5})$/.exec(hosts);
    const port = match === null ? NaN : Number(match[2]);
    if (match === null || port < 1 || port > 65535) {
      throw new TypeError(
        `Cannot use ${
          JSON.stringify(hosts)
        } as hosts: expected a list of "host:port" or "dns:NAME:PORT"`,
      );
    }
    return { kind: "dns", name: match[1]!, port };
  }
  if (
    !Array.isArray(hosts) ||
    !hosts.every((host) => typeof host === "string" && host !== "")
  ) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(hosts)
      } as hosts: expected a list of "host:port" or "dns:NAME:PORT"`,
    );
  }
  return { kind: "list", addresses: [...new Set(hosts as string[])] };
}

/** Throws a `TypeError` unless `nameServer` is undefined or `{ ipAddr, port? }` with an IP address. */
function checkNameServer(nameServer: unknown): void {
  if (nameServer === undefined) return;
  const ok = typeof nameServer === "object" && nameServer !== null &&
    Object.hasOwn(nameServer, "ipAddr") &&
    typeof (nameServer as { ipAddr: unknown }).ipAddr === "string" &&
    /^[0-9a-fA-F.:]+$/.test((nameServer as { ipAddr: string }).ipAddr) &&
    (!Object.hasOwn(nameServer, "port") ||
      Number.isInteger((nameServer as { port: unknown }).port));
  if (!ok) {
    throw new TypeError(
      `Cannot use ${
        Deno.inspect(nameServer)
      } as nameServer: expected { ipAddr: "<an IP address>", port?: <n> }`,
    );
  }
}

/** Empty answers in a row after which a name's every host is drained. */
const EMPTY_LOOKUPS_TO_DRAIN = 3;

/** The hosts of one `addHosts` call, kept up to date. */
export class HostSet {
  readonly #source: Source;
  readonly #events: HostEvents;
  readonly #nameServer: NameServer | undefined;
  readonly #current = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lookup: Promise<void> | undefined;
  /** Aborts a lookup in flight when the set stops (Deno's own timeout is ~15 s). */
  readonly #stopping = new AbortController();
  /** Lookups in a row that found no record at all. */
  #emptyInARow = 0;
  #stopped = false;
  /** Resolves once the first lookup is done (at once for a list). */
  readonly ready: Promise<void>;

  /**
   * Starts following `hosts`.
   *
   * @throws {TypeError} If `hosts` is neither a list nor "dns:NAME:PORT".
   * @throws {RangeError} If `resolveInterval` is not a number of ms >= 1.
   * @throws {TypeError} If `nameServer` is not `{ ipAddr: <an IP>, port? }`.
   */
  constructor(
    hosts: unknown,
    events: HostEvents,
    options: { resolveInterval?: number; nameServer?: NameServer } = {},
  ) {
    checkNameServer(options.nameServer);
    this.#source = sourceOf(hosts);
    this.#events = events;
    this.#nameServer = options.nameServer;
    const interval = options.resolveInterval ?? RESOLVE_INTERVAL;
    if (
      !(typeof interval === "number" && interval >= 1 && interval < 2 ** 31)
    ) {
      throw new RangeError(
        `Cannot use resolveInterval ${
          Deno.inspect(interval)
        }: expected a number of ms >= 1`,
      );
    }
    if (this.#source.kind === "list") {
      this.#update(this.#source.addresses);
      this.ready = Promise.resolve();
      return;
    }
    this.ready = this.refresh();
    this.#timer = setInterval(() => void this.refresh(), interval);
  }

  /** The hosts now ("ip:port"). */
  get hosts(): readonly string[] {
    return Object.freeze([...this.#current]);
  }

  /** Looks the name up now (one lookup at a time); nothing for a list. */
  refresh(): Promise<void> {
    if (this.#source.kind === "list" || this.#stopped) return Promise.resolve();
    this.#lookup ??= this.#resolve(this.#source.name, this.#source.port)
      .finally(() => this.#lookup = undefined);
    return this.#lookup;
  }

  async #resolve(name: string, port: number): Promise<void> {
    const options = forDeno({
      signal: this.#stopping.signal,
      ...(this.#nameServer === undefined
        ? {}
        : { nameServer: this.#nameServer }),
    });
    const [v4, v6] = await Promise.allSettled([
      Deno.resolveDns(name, "A", options),
      Deno.resolveDns(name, "AAAA", options),
    ]);
    if (this.#stopped) return;
    // No record (NotFound) is an answer; any other failure is not: keep
    // what we have.
    const records = (result: PromiseSettledResult<string[]>) =>
      result.status === "fulfilled"
        ? result.value
        : result.reason instanceof Deno.errors.NotFound
        ? []
        : undefined;
    const a = records(v4);
    const aaaa = records(v6);
    if (a === undefined || aaaa === undefined) return;
    // Deno 2.8.2 reports a failing name server (SERVFAIL) as NotFound too,
    // so one empty answer may be an outage: every host is drained only
    // after EMPTY_LOOKUPS_TO_DRAIN empty answers in a row (trial 7: one
    // SERVFAIL drained every host and failed the run).
    if (a.length + aaaa.length === 0 && this.#current.size > 0) {
      if (++this.#emptyInARow < EMPTY_LOOKUPS_TO_DRAIN) return;
    } else this.#emptyInARow = 0;
    this.#update([
      ...a.map((ip) => `${ip}:${port}`),
      ...aaaa.map((ip) => `[${ip}]:${port}`),
    ]);
  }

  #update(addresses: readonly string[]): void {
    const next = new Set(addresses);
    for (const address of [...this.#current]) {
      if (!next.has(address)) {
        this.#current.delete(address);
        this.#events.leave(address);
      }
    }
    for (const address of next) {
      if (!this.#current.has(address)) {
        this.#current.add(address);
        this.#events.join(address);
      }
    }
  }

  /** Stops looking the name up (its workers stay); resolves once no lookup runs. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#lookup?.catch(() => {});
  }
}
