/** Permission descriptors mean the same for every kind, however they are spelled. */
import assert from "node:assert/strict";
import {
  type ArgsOption,
  type PermissionDescriptor,
  ProcessWorker,
  ThreadWorker,
  type WorkerOptions,
} from "../mod.ts";
import { childCommand } from "../_backend/process_command.ts";

const kinds = [
  [
    "ThreadWorker",
    <A extends unknown[], R>(o: WorkerOptions<A, R>) =>
      new ThreadWorker(o as WorkerOptions<A, R> & ArgsOption<A>),
  ],
  [
    "ProcessWorker",
    <A extends unknown[], R>(o: WorkerOptions<A, R>) =>
      new ProcessWorker(o as WorkerOptions<A, R> & ArgsOption<A>),
  ],
] as const;

async function outcome(
  make: typeof kinds[number][1],
  options: WorkerOptions<[string], string>,
): Promise<string> {
  await using worker = make(options);
  await worker.wait(10_000);
  return worker.error?.name ?? String(worker.result);
}

for (const [label, make] of kinds) {
  Deno.test(`${label} grants a path with a comma in it, and nothing else`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "pyworkers-perm-" });
    try {
      await Deno.mkdir(`${dir}/x`);
      await Deno.mkdir(`${dir}/x,y`);
      await Deno.writeTextFile(`${dir}/x/secret`, "secret");
      await Deno.writeTextFile(`${dir}/x,y/open`, "open");
      const read = (path: string) => Deno.readTextFile(path);
      const permissions = { read: [`${dir}/x,y`] };
      assert.equal(
        await outcome(make, {
          target: read,
          args: [`${dir}/x,y/open`],
          permissions,
        }),
        "open",
      );
      assert.equal(
        await outcome(make, {
          target: read,
          args: [`${dir}/x/secret`],
          permissions,
        }),
        "NotCapable",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`${label} refuses an empty permission entry`, () => {
    assert.throws(
      () => make({ target: () => 1, permissions: { read: [""] } }),
      (error: Error) =>
        error instanceof TypeError && /non-empty/.test(error.message),
    );
  });
}

Deno.test("ProcessWorker keeps a grant that covers its setup paths, however it is spelled", async () => {
  // The child's socket lives in the system's temporary directory; a user
  // grant of that directory, spelled oddly, must survive the child revoking
  // its own setup grant below it.
  const probe = await Deno.makeTempDir({ prefix: "pyworkers-perm-" });
  const tmp = probe.slice(0, probe.lastIndexOf("/"));
  try {
    await Deno.writeTextFile(`${probe}/file`, "kept");
    assert.equal(
      await outcome(kinds[1][1], {
        target: (path: string) => Deno.readTextFile(path),
        args: [`${probe}/file`],
        permissions: { read: [`${tmp}/./`] },
      }),
      "kept",
    );
  } finally {
    await Deno.remove(probe, { recursive: true });
  }
});

Deno.test("childCommand() replaces Deno's default import hosts when imports are denied", () => {
  // Without any --allow-import, Deno lets a child import from jsr.io,
  // deno.land and other default hosts, and --deny-import does not stop that
  // (Deno 2.8.2); the state reads "prompt" either way, so this is checked on
  // the command line rather than by importing (which would leave the machine).
  const paths = {
    socketPath: "/tmp/x/s",
    controlPath: "/tmp/x/c",
    bootstrap: new URL("file:///lib/_process_bootstrap.ts"),
  };
  const denials: PermissionDescriptor[] = ["none", { read: true }, {
    import: [],
  }];
  for (const permissions of denials) {
    const { args, revoke } = childCommand({ permissions }, paths);
    const imports = args.filter((arg) => arg.startsWith("--allow-import"));
    assert.deepEqual(imports, ["--allow-import=127.0.0.1:9"]);
    assert.deepEqual(
      revoke.filter((d) => d.name === "import"),
      [{ name: "import", host: "127.0.0.1:9" }],
    );
  }
  // "inherit" keeps whatever the parent has, Deno's defaults included.
  const inherited = childCommand({ permissions: "inherit" }, paths).args;
  assert.ok(!inherited.some((arg) => arg === "--allow-import=127.0.0.1:9"));
  // A granted list replaces the defaults by itself.
  const listed =
    childCommand({ permissions: { import: ["esm.sh"] } }, paths).args;
  assert.ok(listed.includes("--allow-import=esm.sh"));
});

Deno.test("childCommand() escapes commas in granted paths", () => {
  const { args } = childCommand({ permissions: { read: ["/a,b", "/c"] } }, {
    socketPath: "/tmp/x/s",
    controlPath: "/tmp/x/c",
    bootstrap: new URL("file:///lib/_process_bootstrap.ts"),
  });
  assert.ok(
    args.includes("--allow-read=/a,,b,/c,/tmp/x/s,/tmp/x/c"),
    args.join(" "),
  );
});
