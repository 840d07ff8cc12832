/**
 * The names of a server's options (RemoteServerOptions in server/mod.ts),
 * read as own properties only, for RemoteServer and spawnServer alike.
 *
 * @module
 */

/** The option names of a server, read as own properties only. */
export const SERVER_OPTION_NAMES = [
  "host",
  "port",
  "token",
  "cert",
  "key",
  "plaintext",
  "permissions",
  "maxConnections",
  "maxConnectionsPerClient",
  "maxJobs",
  "maxJobsPerClient",
  "maxFrame",
  "preAuthBytes",
  "handshakeTimeout",
  "silenceTimeout",
  "drainTimeout",
  "log",
  "verbose",
] as const;
