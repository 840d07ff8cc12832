/** Permission descriptors mean the same for every kind, however they are spelled. */
import assert from "node:assert/strict";
import type { PermissionDescriptor, WorkerOptions } from "../mod.ts";
import { childCommand } from "../_backend/process_command.ts";
import { kinds } from "./_kinds.ts";
import { ThreadWorker } from "../mod.ts";

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

  Deno.test(`${label} refuses a permission entry Deno would not parse, naming it (break-it trial)`, () => {
    const bad: [string, string][] = [
      ["net", "bad host:::"],
      ["net", "host:99999"],
      ["net", "host:"],
      ["net", "a..b"],
      ["net", "::1"],
      ["net", ":80"], // Deno's CLI takes it, its Web Workers do not
      ["import", "exa%mple.com"],
      ["env", "A=B"],
      ["env", "A\0"],
      ["read", "/tmp/a\0b"],
      ["run", "deno\0"],
      ["sys", "bogus"],
    ];
    for (const [name, entry] of bad) {
      assert.throws(
        () => make({ target: () => 1, permissions: { [name]: [entry] } }),
        (error: Error) =>
          error instanceof TypeError &&
          error.message.includes(`${name} access to ${JSON.stringify(entry)}`),
        `${name}: ${JSON.stringify(entry)}`,
      );
    }
    assert.equal(ThreadWorker.activeChildren().length, 0);
  });

  Deno.test(`${label} accepts the permission entries Deno parses`, async () => {
    const worker = make({
      target: () => 1,
      permissions: {
        net: [
          "example.com",
          "*.example.com",
          "localhost:8080",
          "[::1]:80",
          "[::1]",
          "1.2.3.4:0",
          "a_b.com",
        ],
        env: ["AWS_*", "HOME"],
        sys: ["hostname", "cpus"],
      },
    });
    assert.equal(await worker.wait(10_000), true);
    assert.equal(worker.result, 1);
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
      revoke.filter((d) => d.name === "import").map((d) => ({ ...d })),
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

const PARENT = new URL("./fixtures/permission_parent.ts", import.meta.url);

/** Runs the fixture parent with `flags` and returns its report. */
async function asParent(
  flags: string[],
  job: {
    kind: "thread" | "process";
    permissions?: PermissionDescriptor;
    read?: string;
    env?: string;
    pollute?: Record<string, unknown>;
  },
): Promise<Record<string, string>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, PARENT.href, JSON.stringify(job)],
    env: { SECRET: "secret" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  assert.ok(
    text.startsWith("{"),
    `${text}\n${new TextDecoder().decode(output.stderr)}`,
  );
  return JSON.parse(text.split("\n").at(-1)!);
}

Deno.test("Workers never hold what their parent denies (issue 6.3)", async (t) => {
  const flags = ["-A", "--deny-read=/etc/hostname", "--deny-env=SECRET"];
  await t.step("a thread inherits the denials", async () => {
    for (const job of [{ read: "/etc/hostname" }, { env: "SECRET" }]) {
      assert.deepEqual(
        await asParent(flags, { kind: "thread", ...job }),
        { error: "NotCapable" },
      );
    }
  });
  await t.step("a process never runs with them lifted", async () => {
    for (const job of [{ read: "/etc/hostname" }, { env: "SECRET" }]) {
      for (const permissions of ["inherit", { read: true, env: true }]) {
        const report = await asParent(flags, {
          kind: "process",
          permissions: permissions as PermissionDescriptor,
          ...job,
        });
        assert.equal(report.result, undefined, JSON.stringify(report));
        assert.ok(
          report.error === "NotCapable" || report.thrown === "NotCapable",
          JSON.stringify(report),
        );
      }
    }
  });
  await t.step("a process may get entries outside the denials", async () => {
    assert.deepEqual(
      await asParent(flags, {
        kind: "process",
        permissions: { env: ["HOME", "SECRET_NOT"] },
        env: "SECRET_NOT",
      }),
      { result: "<unset>" },
    );
  });
  await t.step(
    "a denied entry is refused by name, for every kind",
    async () => {
      for (const kind of ["thread", "process"] as const) {
        const report = await asParent(flags, {
          kind,
          permissions: { env: ["SECRET"] },
          env: "SECRET",
        });
        assert.equal(report.thrown, "NotCapable", JSON.stringify(report));
        assert.match(report.message!, /Cannot grant env access to "SECRET"/);
      }
    },
  );
});

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("Workers never get more than a narrow parent holds (issue 6.3)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-perm-" });
  try {
    await Deno.writeTextFile(`${dir}/file`, "12345");
    // The parent may read its temporary directory (a process worker's socket
    // is there) and the library, and nothing else.
    const tmp = dir.slice(0, dir.lastIndexOf("/"));
    const flags = [
      `--allow-read=${tmp},${REPO}`,
      "--allow-write",
      "--allow-run",
    ];
    for (const kind of ["thread", "process"] as const) {
      await t.step(`${kind}: read: true is refused`, async () => {
        const report = await asParent(flags, {
          kind,
          permissions: { read: true },
          read: "/etc/hostname",
        });
        assert.equal(report.thrown, "NotCapable", JSON.stringify(report));
        assert.match(report.message!, /Cannot grant read access/);
      });
      await t.step(`${kind}: the parent's own path is granted`, async () => {
        assert.deepEqual(
          await asParent(flags, {
            kind,
            permissions: { read: [dir] },
            read: `${dir}/file`,
          }),
          { result: 5 },
        );
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ProcessWorker inherits no more than held under a polluted Object.prototype (issue 6.4)", async () => {
  // Deno reads a permission query's `variable` (`path`, `host`, ...) through
  // the prototype chain: a query for all of env would ask about HOME only.
  const report = await asParent(
    ["--allow-env=HOME", "--allow-read", "--allow-write", "--allow-run"],
    {
      kind: "process",
      permissions: "inherit",
      env: "SECRET",
      pollute: { variable: "HOME", path: "/", host: "localhost" },
    },
  );
  assert.deepEqual(report, { error: "NotCapable" });
});

Deno.test("Worker constructors leave nothing running when Deno throws under a polluted Object.prototype.signal (issue 6.4)", async () => {
  // Deno's addEventListener then throws for every listener, its own
  // included: a thread cannot start, but must not stay alive either (the
  // process would never exit).
  for (const kind of ["thread", "process"] as const) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        PARENT.href,
        JSON.stringify({ kind, pollute: { signal: "polluted" } }),
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"hung">((resolve) => {
      timer = setTimeout(() => resolve("hung"), 30_000);
    });
    const collected = child.output();
    const output = await Promise.race([collected, timeout]);
    clearTimeout(timer);
    if (output === "hung") {
      child.kill("SIGKILL");
      await collected;
      assert.fail(`a ${kind} parent did not exit`);
    }
    const report = JSON.parse(new TextDecoder().decode(output.stdout).trim());
    assert.ok(
      report.thrown === "TypeError" || "result" in report || "error" in report,
      JSON.stringify(report),
    );
  }
});

Deno.test("ThreadWorker refuses to start under a polluted Object.prototype.signal that is an AbortSignal, instead of hanging or overflowing the stack; a process worker runs (trial 6)", async () => {
  for (const pollutingSignal of ["aborted", "live"]) {
    for (const kind of ["thread", "process"] as const) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          PARENT.href,
          JSON.stringify({ kind, pollutingSignal, permissions: "inherit" }),
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const text = new TextDecoder().decode(output.stdout).trim();
      assert.ok(text !== "", `${kind}/${pollutingSignal}: no report`);
      const report = JSON.parse(text);
      if (kind === "thread") {
        assert.equal(report.thrown, "TypeError", JSON.stringify(report));
        assert.match(report.message, /Object\.prototype\.signal is set/);
      } else assert.ok("result" in report, JSON.stringify(report));
    }
  }
});

Deno.test("ProcessWorker refusals say once what happened and what to do (break-it trial)", async () => {
  const cases = [
    [
      ["-A", "--deny-env=SECRET"],
      { env: true },
      /Cannot inherit|with exceptions/,
    ],
    [[`--allow-read=${REPO}`, "--allow-env"], "none", /may not run/],
    [[`--allow-read=${REPO}`, "--allow-env"], { env: ["HOME"] }, /may not run/],
  ] as const;
  for (const [flags, permissions, what] of cases) {
    const report = await asParent([...flags], {
      kind: "process",
      permissions: permissions as PermissionDescriptor,
    });
    assert.equal(report.thrown, "NotCapable", JSON.stringify(report));
    const message = report.message!;
    assert.match(message, what);
    assert.doesNotMatch(message, /lacks a permission: Cannot/);
    assert.ok(
      (message.match(/--allow-run/g) ?? []).length <= 1,
      message,
    );
    assert.doesNotMatch(message, /Deno refuses the same/);
  }
});

Deno.test("Worker constructors name what the parent lacks to start a worker (issue 6.10)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pyworkers-perm-" });
  try {
    const cases = [
      [
        "thread",
        [`--allow-read=${dir},${REPO}/deno.json`],
        /the library's files/,
      ],
      [
        "process",
        [`--allow-read=${dir},${REPO}`, "--allow-write"],
        /may not run/,
      ],
      [
        "process",
        [`--allow-read=${dir},${REPO}`, "--allow-write", "--allow-run"],
        /lacks a permission: Requires read access to .*temporary directory/,
      ],
    ] as const;
    for (const [kind, flags, message] of cases) {
      await t.step(`${kind} under ${flags.join(" ")}`, async () => {
        const report = await asParent([...flags], {
          kind,
          permissions: "none",
        });
        assert.equal(report.thrown, "NotCapable", JSON.stringify(report));
        assert.match(report.message!, message);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ThreadWorker says what to do when worker-options cannot be detected (issue 6.10)", async () => {
  // The flag is on, but without --allow-all the command line is hidden and
  // the deno.json that also turns it on is not readable: the library cannot
  // tell, and must neither guess (Deno would kill the process) nor blame a
  // missing flag.
  const report = await asParent([
    `--allow-read=${REPO}`,
    `--deny-read=${REPO}/deno.json`,
    "--unstable-worker-options",
  ], { kind: "thread", permissions: "none" });
  assert.equal(report.thrown, "TypeError", JSON.stringify(report));
  assert.match(report.message!, /cannot tell whether .*worker-options/);
  assert.match(report.message!, /--allow-read=<path to deno.json>/);
});

Deno.test("ThreadWorker never trusts a deno.json it cannot tell is in effect (issue 6.10)", async (t) => {
  // A deno.json turning the feature on sits above the working directory, but
  // the run does not use it (--no-config, or another --config): trusting it
  // would let Deno kill the whole process (exit 70).
  const root = await Deno.makeTempDir({ prefix: "pyworkers-perm-" });
  try {
    await Deno.writeTextFile(
      `${root}/deno.json`,
      JSON.stringify({
        unstable: ["worker-options"],
        imports: { "pyworkers-probe": "./probe.ts" },
      }),
    );
    await Deno.mkdir(`${root}/sub`);
    await Deno.writeTextFile(`${root}/sub/empty.json`, "{}");
    // The parent's main module lives below that deno.json.
    await Deno.writeTextFile(
      `${root}/sub/parent.ts`,
      `import ${JSON.stringify(PARENT.href)};\n`,
    );
    const read = `--allow-read=${root},${REPO}`;
    /** Runs the parent with `flags`: it starts a thread worker under "none". */
    const runParent = (flags: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          ...flags,
          `${root}/sub/parent.ts`,
          JSON.stringify({ kind: "thread", permissions: "none" }),
        ],
        cwd: `${root}/sub`,
        stdout: "piped",
        stderr: "piped",
      }).output();
    for (
      const flags of [
        ["--no-config", read],
        [`--config=${root}/sub/empty.json`, read],
      ]
    ) {
      await t.step(`refused with a TypeError under ${flags[0]}`, async () => {
        const output = await runParent(flags);
        const stderr = new TextDecoder().decode(output.stderr);
        assert.equal(output.code, 0, stderr);
        const report = JSON.parse(
          new TextDecoder().decode(output.stdout).trim(),
        );
        assert.equal(report.thrown, "TypeError", JSON.stringify(report));
        assert.match(report.message, /--allow-all/);
      });
    }
    await t.step("trusted when its import map is in effect", async () => {
      const output = await runParent([read]);
      const stdout = new TextDecoder().decode(output.stdout).trim();
      assert.deepEqual(
        JSON.parse(stdout),
        // Started without env access: the worker's permissions are in force.
        { error: "NotCapable" },
        new TextDecoder().decode(output.stderr),
      );
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
