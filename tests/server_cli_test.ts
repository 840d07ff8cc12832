/**
 * The server's command line (server/main.ts), read without starting a
 * server: what each flag becomes, and that a permission flag never grants
 * more than it says.
 */
import assert from "node:assert/strict";
import { parseServerArgs } from "../server/main.ts";
import { RemoteServer } from "../mod.ts";

const noEnv = (): undefined => undefined;

Deno.test("parseServerArgs() reads a bare --allow-<name> as all of it and a list as that list", () => {
  const options = parseServerArgs(
    ["--allow-read", "--allow-net=localhost,example.com", "--port", "0"],
    noEnv,
  );
  assert.notEqual(options, "help");
  assert.deepEqual(options !== "help" && options.permissions, {
    read: true,
    net: ["localhost", "example.com"],
  });
});

Deno.test("parseServerArgs() refuses an empty --allow-<name>= value instead of granting all of it (trial 4)", () => {
  for (
    const name of ["read", "write", "net", "env", "run", "ffi", "sys", "import"]
  ) {
    assert.throws(
      () => parseServerArgs([`--allow-${name}=`], noEnv),
      (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, new RegExp(`--allow-${name}=`));
        assert.match(error.message, /empty/);
        return true;
      },
    );
  }
});

Deno.test("parseServerArgs() reads -A as the whole ceiling and no flag as none", () => {
  const all = parseServerArgs(["-A"], noEnv);
  const none = parseServerArgs([], noEnv);
  assert.equal(all !== "help" && all.permissions, "inherit");
  assert.equal(none !== "help" && none.permissions, "none");
});

Deno.test("RemoteServer refuses to listen beyond loopback without TLS unless told plaintext, or with a short token (trial 4)", async () => {
  const token = "a-token-of-24-characters";
  assert.throws(
    () => new RemoteServer({ host: "0.0.0.0", token, log: () => {} }),
    /without TLS.*--plaintext/,
  );
  assert.throws(
    () => new RemoteServer({ host: "::", token: " ", plaintext: true }),
    /token of 1 characters: beyond loopback a token needs at least 16/,
  );
  // Allowed once said; not served (tests listen on loopback only).
  await using _ = new RemoteServer({
    host: "0.0.0.0",
    token,
    plaintext: true,
    log: () => {},
  });
  const cli = parseServerArgs(["--host", "0.0.0.0", "--plaintext"], noEnv);
  assert.equal(cli !== "help" && cli.plaintext, true);
});

Deno.test("RemoteServer refuses a pre-authentication cap too small for the handshake itself (trial 4)", () => {
  assert.throws(
    () => new RemoteServer({ preAuthBytes: 10, log: () => {} }),
    /expected at least 128/,
  );
});
