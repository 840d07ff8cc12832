/**
 * sshServer() against a real sshd on loopback (issue 7): Debian's
 * openssh-server, one per test on a free port, with a host key and a user
 * key made for it. Needs root (sshd logs in as root here) and sshd;
 * without them these tests are ignored.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RemoteWorker, sshServer, WorkerDiedError } from "../mod.ts";

const SSHD = "/usr/sbin/sshd";

function runs(program: string, args: string[]): boolean {
  try {
    return new Deno.Command(program, { args, stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const ignore = Deno.uid() !== 0 || !exists(SSHD) || !runs("ssh", ["-V"]);
if (ignore) {
  console.warn(
    "ssh_test.ts: needs root, sshd and ssh; the ssh tests are ignored",
  );
}

/** An sshd on 127.0.0.1, and the ssh arguments to reach it. */
interface TestSshd extends AsyncDisposable {
  readonly sshArgs: string[];
}

async function keygen(path: string): Promise<void> {
  const { success, stderr } = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-f", path],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
}

/** A free loopback port (free when asked; sshd takes it right after). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

async function startSshd(dir: string): Promise<TestSshd> {
  await keygen(`${dir}/host_key`);
  await keygen(`${dir}/user_key`);
  await Deno.copyFile(`${dir}/user_key.pub`, `${dir}/authorized_keys`);
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "",
    ].join("\n"),
  );
  await Deno.mkdir("/run/sshd", { recursive: true });
  const process = new Deno.Command(SSHD, {
    args: ["-D", "-e", "-f", `${dir}/sshd_config`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Its log is read to the end (so it never blocks); it says when it listens.
  const listening = Promise.withResolvers<void>();
  let text = "";
  const logged = process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        text += chunk;
        if (/Server listening on/.test(text)) listening.resolve();
      },
    }),
  ).catch(() => {});
  const stop = async (): Promise<void> => {
    try {
      process.kill("SIGTERM");
    } catch {
      // already gone
    }
    await process.status;
    await logged;
  };
  const ended = process.status.then(() => false);
  if (!await Promise.race([listening.promise.then(() => true), ended])) {
    await stop();
    throw new Error(`sshd did not start: ${text}`);
  }
  return {
    sshArgs: [
      "-p",
      String(port),
      "-i",
      `${dir}/user_key`,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
    ],
    [Symbol.asyncDispose]: stop,
  };
}

/** Runs `fn` with an sshd of its own, in a temporary directory. */
async function withSshd(fn: (sshd: TestSshd) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-sshd-" });
  try {
    await using sshd = await startSshd(dir);
    await fn(sshd);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "sshServer() starts a server over ssh, a RemoteWorker runs a job on it, and close() stops it (issue 7)",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const token = crypto.randomUUID();
      const lines: string[] = [];
      const server = await sshServer({
        destination: "root@127.0.0.1",
        sshArgs: sshd.sshArgs,
        token,
        log: (line) => lines.push(line),
      });
      let address: [string, number];
      try {
        address = server.address;
        assert.equal(address[0], "127.0.0.1");
        await using worker = new RemoteWorker({
          target: (x: number) => x ** 2,
          args: [12],
          host: address,
          token,
        });
        await worker.wait();
        assert.equal(worker.error, undefined);
        assert.equal(worker.result, 144);
        // The token reached the server (on its stdin), not its command line.
        assert.ok(
          lines.some((line) => /listening on 127\.0\.0\.1:\d+/.test(line)),
          lines.join("\n"),
        );
        assert.ok(
          !lines.some((line) => /no token/.test(line)),
          lines.join("\n"),
        );
      } finally {
        await server.close();
      }
      // Stopped: nothing listens there any more.
      await using late = new RemoteWorker({
        target: () => 1,
        host: address,
        token,
      });
      late.ready.catch(() => {});
      await late.wait();
      assert.ok(late.error instanceof WorkerDiedError, String(late.error));
      assert.match(late.error.message, /cannot reach the server/);
    }),
});

Deno.test({
  name:
    "sshServer() rejects with ssh's own words when the server cannot start there (issue 7)",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const error = await sshServer({
        destination: "root@127.0.0.1",
        sshArgs: sshd.sshArgs,
        command: "no-such-deno run -A",
        log: () => {},
      }).then(() => undefined, (error: Error) => error);
      assert.ok(error instanceof Error);
      assert.match(
        error.message,
        /^Cannot start a server over ssh on root@127\.0\.0\.1: ssh ended \(code \d+\) before it listened:\n.*no-such-deno/s,
      );
    }),
});
