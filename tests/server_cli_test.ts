/**
 * The server's command line (server/main.ts), read without starting a
 * server: what each flag becomes, and that a permission flag never grants
 * more than it says.
 */
import assert from "node:assert/strict";
import { parseServerArgs } from "../server/main.ts";

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
  for (const name of ["read", "write", "net", "env", "run", "ffi", "sys", "import"]) {
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
