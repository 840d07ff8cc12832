/**
 * What a remote job may hold: what its client asked for, within the
 * server's ceiling. A request beyond the ceiling is refused whole, naming
 * the permission, rather than quietly narrowed: a job that silently lacks
 * what it asked for fails later, and further from the cause.
 *
 * @module
 */
import type { PermissionDescriptor } from "../types.ts";
import {
  covers,
  type FullGrant,
  normalizeGrant,
  PERMISSION_NAMES,
} from "./grants.ts";

/** Renders a grant entry for a message: `read`, or `read access to "/x"`. */
function what(name: string, entry?: string): string {
  return entry === undefined
    ? `${name} access`
    : `${name} access to ${JSON.stringify(entry)}`;
}

/**
 * The grant a job gets: nothing for `"none"`, the whole ceiling for
 * `"inherit"`, else exactly what was asked for, each entry checked against
 * the ceiling.
 *
 * @throws {TypeError} If the request is malformed.
 * @throws {Deno.errors.NotCapable} Naming the first permission beyond the ceiling.
 */
export function grantWithinCeiling(
  requested: PermissionDescriptor,
  ceiling: FullGrant,
): FullGrant {
  if (requested === "inherit") return { ...ceiling };
  const grant = normalizeGrant(requested) as FullGrant;
  for (const name of PERMISSION_NAMES) {
    const value = grant[name];
    const allowed = ceiling[name];
    if (value === false || allowed === true) continue;
    const beyond = value === true
      ? what(name)
      : value.map((entry) =>
        allowed !== false && allowed.some((c) => covers(name, c, entry))
          ? undefined
          : what(name, entry)
      ).find((entry) => entry !== undefined);
    if (beyond !== undefined) {
      throw new Deno.errors.NotCapable(
        `Cannot grant ${beyond} to a remote job as it is beyond this ` +
          `server's ceiling (${describeCeiling(ceiling)}): ask for less, or ` +
          `start the server with --allow-${name}${
            value === true ? "" : "=..."
          }`,
      );
    }
  }
  return grant;
}

/** A ceiling as its server's flags would say it: `--allow-read=/data --allow-net`, or "nothing". */
export function describeCeiling(ceiling: FullGrant): string {
  const flags = PERMISSION_NAMES.flatMap((name) => {
    const value = ceiling[name];
    if (value === true) return [`--allow-${name}`];
    if (value === false || value.length === 0) return [];
    return [`--allow-${name}=${value.join(",")}`];
  });
  return flags.length === 0 ? "nothing granted" : flags.join(" ");
}
