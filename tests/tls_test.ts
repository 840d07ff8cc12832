/**
 * Remote workers over TLS (issue 7): a server started with --cert/--key
 * and clients with `tls: { caCerts }`, against a self-signed certificate
 * made at run time with `openssl` (for 127.0.0.1 and localhost). Without
 * openssl on the machine these tests are ignored (.ci/run installs it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { RemoteWorker, WorkerDiedError } from "../mod.ts";
import { startServer, type TestServer, TOKEN } from "./_server.ts";
import { acceptLink } from "../server/_handshake.ts";
import { LinkError } from "../_protocol/link.ts";

/** A self-signed certificate for 127.0.0.1 and localhost, in a temp dir. */
interface TestCert {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  /** The certificate's PEM text: what a client trusts. */
  readonly pem: string;
}

/** Whether `openssl` can be run here. */
function hasOpenssl(): boolean {
  try {
    return new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** Makes a self-signed certificate (CA:FALSE, so it is its own end entity). */
async function makeCert(dir: string, name: string): Promise<TestCert> {
  const cert = `${dir}/${name}.pem`;
  const key = `${dir}/${name}.key.pem`;
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return { dir, cert, key, pem: await Deno.readTextFile(cert) };
}

const ignore = !hasOpenssl();
if (ignore) {
  console.warn("tls_test.ts: no openssl here, so the TLS tests are ignored");
}

/**
 * What the tests share, made when the module loads and removed when it
 * unloads (as tests/_shared_server.ts): the certificates, a TLS server and
 * a plain one. Out of the tests, so the sanitizers see only the clients.
 */
const setup = ignore ? undefined : await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-tls-" });
  const servers: TestServer[] = [];
  globalThis.addEventListener("unload", () => {
    for (const server of servers) server.kill("SIGKILL");
    Deno.removeSync(dir, { recursive: true });
  });
  const cert = await makeCert(dir, "server");
  const other = await makeCert(dir, "other");
  const tlsServer = await startServer(["--cert", cert.cert, "--key", cert.key]);
  servers.push(tlsServer);
  const plainServer = await startServer();
  servers.push(plainServer);
  return { cert, other, tlsServer, plainServer };
})();

/** The result of a squaring job, or the error it ended with. */
async function square(
  options: { host: string; tls?: true | { caCerts: string[] } },
  x: number,
): Promise<{ result: number | undefined; error: Error | undefined }> {
  await using worker = new RemoteWorker({
    target: (x: number) => x ** 2,
    args: [x],
    token: TOKEN,
    ...options,
  });
  worker.ready.catch(() => {}); // the outcome is read from the worker
  assert.ok(await worker.wait(30_000), "the worker did not end within 30 s");
  return { result: worker.result, error: worker.error };
}

Deno.test({
  name:
    "RemoteWorker with tls: { caCerts } runs jobs on a server started with --cert/--key, by IP and by name (issue 7)",
  ignore,
  async fn() {
    const { cert, tlsServer } = setup!;
    const tls = { caCerts: [cert.pem] };
    assert.deepEqual(
      await square({ host: tlsServer.address, tls }, 3),
      { result: 9, error: undefined },
    );
    assert.deepEqual(
      await square({ host: `localhost:${tlsServer.port}`, tls }, 4),
      { result: 16, error: undefined },
    );
  },
});

Deno.test({
  name:
    "RemoteWorker without tls against a TLS server ends with WorkerDiedError saying the server speaks TLS, and the server keeps serving (issue 7)",
  ignore,
  async fn() {
    const { cert, tlsServer } = setup!;
    const { result, error } = await square({ host: tlsServer.address }, 5);
    assert.equal(result, undefined);
    assert.ok(error instanceof WorkerDiedError, String(error));
    assert.match(
      error.message,
      /cannot link with the server at 127\.0\.0\.1:\d+: .*speaks TLS: connect with the tls option/,
    );
    assert.deepEqual(
      await square(
        { host: tlsServer.address, tls: { caCerts: [cert.pem] } },
        6,
      ),
      { result: 36, error: undefined },
    );
  },
});

Deno.test({
  name:
    "RemoteWorker with tls trusting another certificate ends with WorkerDiedError naming the certificate, and the server keeps serving (issue 7)",
  ignore,
  async fn() {
    const { cert, other, tlsServer } = setup!;
    const { result, error } = await square(
      { host: tlsServer.address, tls: { caCerts: [other.pem] } },
      7,
    );
    assert.equal(result, undefined);
    assert.ok(error instanceof WorkerDiedError, String(error));
    assert.match(
      error.message,
      /server at 127\.0\.0\.1:\d+: .*invalid peer certificate/,
    );
    assert.deepEqual(
      await square(
        { host: tlsServer.address, tls: { caCerts: [cert.pem] } },
        8,
      ),
      { result: 64, error: undefined },
    );
  },
});

Deno.test({
  name:
    "RemoteWorker with tls against a server without TLS ends with WorkerDiedError, and the server keeps serving (issue 7)",
  ignore,
  async fn() {
    const { cert, plainServer } = setup!;
    const { result, error } = await square(
      { host: plainServer.address, tls: { caCerts: [cert.pem] } },
      9,
    );
    assert.equal(result, undefined);
    assert.ok(error instanceof WorkerDiedError, String(error));
    assert.match(error.message, /server at 127\.0\.0\.1:\d+/);
    assert.deepEqual(
      await square({ host: plainServer.address }, 10),
      { result: 100, error: undefined },
    );
  },
});

Deno.test("acceptLink() refuses a TLS client of a server without TLS, saying so (issue 7)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const serverConn = await listener.accept();
  listener.close();
  // The client's TLS handshake fails once the server drops it.
  const handshake = client.handshake().catch((error: Error) => error);
  let error: unknown;
  try {
    await acceptLink(serverConn, { token: TOKEN, deadlineMs: 10_000 });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof LinkError, String(error));
  assert.match(
    error.message,
    /^Cannot read the client's hello as it speaks TLS, which this server does not \(serve TLS with --cert and --key\)$/,
  );
  assert.ok(await handshake instanceof Error);
  client.close();
});
