/**
 * The server shared by a test module's remote tests (tests/_server.ts):
 * started when the module loads, before its first test, and killed when it
 * unloads.
 *
 * @module
 */
import { startServer, type TestServer } from "./_server.ts";

export { TOKEN } from "./_server.ts";

/** The shared server: every permission may be granted to its jobs. */
export const sharedServer: TestServer = await startServer(["-A"]);
globalThis.addEventListener("unload", () => sharedServer.kill("SIGKILL"));
