/**
 * Separate hosts for the tests: Linux network namespaces joined by a
 * bridge, one address each (10.77.S.2, .3, ... on a /24 whose bridge is
 * 10.77.S.1, S a subnet no route uses yet). Named after the test
 * process's pid (`pwt<pid>…`) so that leftovers of a test process that
 * died can be swept (the next run does it); removed on `dispose` and on
 * unload. Requires root and iproute2's `ip`.
 *
 * @module
 */

/** Why the namespace tests cannot run here, or undefined if they can. */
export function netnsUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return "network namespaces are Linux's";
  if (Deno.uid() !== 0) return "making network namespaces needs root";
  try {
    const { success } = new Deno.Command("ip", { args: ["-V"] }).outputSync();
    if (!success) return "ip (iproute2) does not run";
  } catch {
    return "ip (iproute2) is missing";
  }
  return undefined;
}

/** Hosts in namespaces. */
export interface NetnsHosts extends AsyncDisposable {
  /** The namespaces' names, one per host. */
  readonly names: readonly string[];
  /** Each namespace's address. */
  readonly addresses: readonly string[];
  /** Cuts host `index` off the network (its link is deleted; it lives on). */
  cut(index: number): void;
  /**
   * Makes host `index` a black hole: this host sends its packets to a
   * hardware address nobody has, so they vanish without an answer (a
   * connection attempt waits, as for a host that went away on a routed
   * network).
   */
  blackhole(index: number): void;
  /** Removes everything made (also run on unload). */
  remove(): void;
}

const PREFIX = "pwt";

/** Runs `ip` with `args`; throws with its stderr on failure. */
function ip(...args: string[]): string {
  const { success, stdout, stderr } = new Deno.Command("ip", { args })
    .outputSync();
  if (!success) {
    throw new Error(
      `Cannot run ip ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return new TextDecoder().decode(stdout);
}

/** Runs `ip` with `args`, ignoring failure (cleanup). */
function ipQuiet(...args: string[]): void {
  new Deno.Command("ip", { args, stdout: "null", stderr: "null" })
    .outputSync();
}

/** Whether process `pid` exists. */
function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Removes namespaces and bridges of test processes that are gone. */
function sweep(): void {
  const pattern = new RegExp(`^${PREFIX}(\\d+)(?:x\\d+)?[nb]\\d*\\b`);
  for (const line of ip("netns", "list").split("\n")) {
    const match = pattern.exec(line);
    if (match !== null && !alive(Number(match[1]))) {
      ipQuiet("netns", "del", line.split(" ")[0]!);
    }
  }
  for (const line of ip("-o", "link", "show", "type", "bridge").split("\n")) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
    const match = name === undefined ? null : pattern.exec(name);
    if (match !== null && !alive(Number(match[1]))) {
      ipQuiet("link", "del", name!);
    }
  }
}

/** How many sets of hosts this process has made (for their names). */
let made = 0;

/** A 10.77.S.0/24 subnet that no route of this machine uses yet. */
function freeSubnet(): string {
  const routes = ip("-4", "route", "show");
  for (let i = 0; i < 254; i++) {
    const s = (Deno.pid + i) % 254 + 1;
    if (!routes.includes(`10.77.${s}.`)) return `10.77.${s}`;
  }
  throw new Error("Cannot find a free 10.77.S.0/24 subnet for the test hosts");
}

/** Makes `count` hosts (namespaces with one address each, bridged to this one). */
export function makeHosts(count: number): NetnsHosts {
  sweep();
  // A new tag per call: the kernel frees a deleted namespace's veth pair
  // lazily, so the next test's could still find the old names taken.
  const tag = `${PREFIX}${Deno.pid}x${made++}`;
  const bridge = `${tag}b`;
  const subnet = freeSubnet();
  const names: string[] = [];
  const addresses: string[] = [];
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    globalThis.removeEventListener("unload", remove);
    for (const [i, name] of names.entries()) {
      ipQuiet("link", "del", `${tag}v${i + 1}`);
      ipQuiet("netns", "del", name);
    }
    ipQuiet("link", "del", bridge);
  };
  globalThis.addEventListener("unload", remove);
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    for (let n = 1; n <= count; n++) {
      const name = `${tag}n${n}`;
      const address = `${subnet}.${n + 1}`;
      ip("netns", "add", name);
      names.push(name);
      ip(
        "link",
        "add",
        `${tag}v${n}`,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        name,
      );
      ip("link", "set", `${tag}v${n}`, "master", bridge, "up");
      ip("-n", name, "addr", "add", `${address}/24`, "dev", "eth0");
      ip("-n", name, "link", "set", "eth0", "up");
      ip("-n", name, "link", "set", "lo", "up");
      addresses.push(address);
    }
  } catch (error) {
    remove();
    throw error;
  }
  return {
    names,
    addresses,
    cut: (index) => ip("link", "del", `${tag}v${index + 1}`),
    blackhole: (index) =>
      ip(
        "neigh",
        "replace",
        addresses[index]!,
        "lladdr",
        "02:00:00:00:00:01",
        "nud",
        "permanent",
        "dev",
        bridge,
      ),
    remove,
    [Symbol.asyncDispose]: () => Promise.resolve(remove()),
  };
}
