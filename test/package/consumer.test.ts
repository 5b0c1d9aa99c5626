/**
 * The package as a user installs it: `npm pack`, `npm install <tarball>` into a fresh project,
 * then a five-line handler under each way of running it. Each case runs the handler in local
 * test mode and as a pull worker against the simulator (jobs taken, chunks streamed, pings from
 * the heartbeat thread).
 *
 * Deno through `npm:edgepod`: edgepod is not on a registry Deno could reach, and no local
 * registry runs here. So the `npm:` project gets its `node_modules` from `npm install <tarball>`
 * and then loses its package.json and lockfile; Deno runs with `--node-modules-dir=manual`, which
 * resolves `npm:edgepod` (and edgepod's own dependencies) from that folder, as it does in a
 * project whose packages a package manager installed. Nothing else is configured: no deno.json,
 * no import map.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot } from "../support/runtime.ts";
import { BIN, npmInstall, packTarball, runOk } from "./_support.ts";
import {
  assertLocalTest,
  assertPullWorker,
  HANDLER_TS,
  TEST_INPUT,
  toJavaScript,
} from "./_scenarios.ts";

let scratch = "";
let project = ""; // a package.json project
let npmProject = ""; // no package.json: `import "npm:edgepod"`
let denoDir = "";
let installOutput = ""; // npm install of the tarball into `project`

before(async () => {
  const packed = await packTarball();
  scratch = packed.dir;
  project = join(scratch, "project");
  npmProject = join(scratch, "npm-specifier");
  denoDir = join(scratch, "deno-dir");
  for (const dir of [project, npmProject, denoDir]) await mkdir(dir);
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
  );
  const installed = await npmInstall(project, [packed.tarball, "tsx"]);
  installOutput = installed.stdout + installed.stderr;
  await writeFile(join(project, "handler.ts"), HANDLER_TS);
  await writeFile(join(project, "handler.mjs"), toJavaScript(HANDLER_TS));
  await writeFile(join(project, "test_input.json"), JSON.stringify(TEST_INPUT));

  await npmInstall(npmProject, [packed.tarball]);
  await rm(join(npmProject, "package.json"));
  await rm(join(npmProject, "package-lock.json"), { force: true });
  await writeFile(
    join(npmProject, "handler.ts"),
    HANDLER_TS.replace('from "edgepod"', 'from "npm:edgepod"'),
  );
  await writeFile(join(npmProject, "test_input.json"), JSON.stringify(TEST_INPUT));
});

after(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Deno's cache for these runs: empty at first, as on a fresh machine. */
const denoEnv = () => ({ DENO_DIR: denoDir });

test("consumer: the packed manifest has no repository scripts, and installing it warns of none", async () => {
  const installed = join(project, "node_modules", "edgepod", "package.json");
  const pkg = JSON.parse(await readFile(installed, "utf8"));
  for (const key of ["scripts", "devDependencies", "allowScripts"]) {
    assert.equal(pkg[key], undefined, `the tarball's package.json has ${key}`);
  }
  assert.deepEqual(Object.keys(pkg.dependencies).sort(), ["@hono/node-server", "hono", "valibot"]);
  // The licence package.json names travels with the code.
  assert.equal(pkg.license, "MIT");
  const licence = await readFile(join(project, "node_modules", "edgepod", "LICENSE"), "utf8");
  assert.match(licence, /^MIT License/);
  // npm 11 warned "1 package has install scripts ... edgepod (prepare: ...)" before.
  // (tsx's esbuild, installed beside it, still has its own postinstall.)
  assert.doesNotMatch(installOutput, /edgepod@\S+ \(/);
  // And the repository's own manifest is whole again after the pack.
  const repo = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8"));
  assert.equal(repo.scripts.prepare, "npm run -s build");
  assert.equal(existsSync(join(repoRoot, "package.json.unpacked")), false);
});

test("consumer: the tarball carries compiled JS and .d.ts for every export, no .ts sources", async () => {
  const installed = join(project, "node_modules", "edgepod");
  const pkg = JSON.parse(await readFile(join(installed, "package.json"), "utf8"));
  for (const [subpath, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
    const targets = typeof target === "string" ? [target] : Object.values(target as object);
    for (const file of targets as string[]) {
      assert.ok(existsSync(join(installed, file)), `${subpath} -> ${file} is missing`);
      assert.match(file, /\.(js|d\.ts|json)$/);
    }
  }
  assert.equal(existsSync(join(installed, "src")), false, "TypeScript sources were packed");
  assert.equal(existsSync(join(installed, "dist", "bench")), false, "the benchmarks were packed");
  // Only the bundle is code; the rest of dist/ is declarations.
  const bundle = await readdir(join(installed, "dist", "bundle"));
  assert.ok(bundle.includes("auto.js") && bundle.every((f) => f.endsWith(".js")), String(bundle));
  const jsOutside = (await readdir(join(installed, "dist"), { recursive: true }))
    .map(String).filter((f) => f.endsWith(".js") && !f.startsWith("bundle"));
  assert.deepEqual(jsOutside, []);
  let carriesThread = false;
  for (const file of bundle) {
    const text = await readFile(join(installed, "dist", "bundle", file), "utf8");
    if (text.includes("var threadMain = edgepodHeartbeatThread.threadMain")) carriesThread = true;
  }
  assert.ok(carriesThread, "the heartbeat thread's source is not in the bundle");
});

test("consumer: the handler type-checks against the installed .d.ts (tsc)", async () => {
  await writeFile(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
        // ConcurrencyGate is Disposable: a consumer needs that lib (or @types/node).
        lib: ["ES2023", "DOM", "ESNext.Disposable"],
      },
      files: ["handler.ts"],
    }),
  );
  await runOk([join(repoRoot, "node_modules", ".bin", "tsc"), "-p", "."], { cwd: project });
});

test("consumer: the handler type-checks under Deno against the installed .d.ts (deno check)", async () => {
  await runOk([BIN.deno, "check", "handler.ts"], { cwd: project, env: { DENO_DIR: denoDir } });
});

/** `edgepod/push` in memory: a job posted to the push app's `fetch` is answered with its result. */
const PUSH_CHECK = `import { createPushApp } from "edgepod/push";
const app = createPushApp({ handler: (job) => ({ doubled: job.input * 2 }) });
const res = await app.fetch(new Request("http://127.0.0.1/jobs", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ id: "j-1", input: 21 }),
}));
console.log(\`push \${res.status} \${await res.text()}\`);
`;

test("consumer: edgepod/push answers a job from the installed package on Node, Bun and Deno", async () => {
  await writeFile(join(project, "push_check.mjs"), PUSH_CHECK);
  for (
    const argv of [
      [BIN.node, "push_check.mjs"],
      [BIN.bun, "push_check.mjs"],
      [BIN.deno, "run", "--allow-env", "push_check.mjs"],
    ]
  ) {
    const done = await runOk(argv, { cwd: project, env: { DENO_DIR: denoDir } });
    assert.match(
      done.stdout,
      /^push 200 .*"status":"COMPLETED".*"output":\{"doubled":42\}/m,
      argv[0],
    );
  }
});

interface Case {
  name: string;
  dir: () => string;
  /** The command for local test mode and for the pull worker. */
  local: () => string[];
  pull: () => string[];
  env?: () => Record<string, string>;
  /** A build step before either run. */
  build?: () => Promise<void>;
}

const CASES: Case[] = [
  {
    name: "Node, plain JavaScript (node handler.mjs)",
    dir: () => project,
    local: () => [BIN.node, "handler.mjs"],
    pull: () => [BIN.node, "handler.mjs"],
  },
  {
    name: "Node, TypeScript through tsx (node --import tsx handler.ts)",
    dir: () => project,
    local: () => [BIN.node, "--import", "tsx", "handler.ts"],
    pull: () => [BIN.node, "--import", "tsx", "handler.ts"],
  },
  {
    name: "Bun, TypeScript (bun handler.ts)",
    dir: () => project,
    local: () => [BIN.bun, "handler.ts"],
    pull: () => [BIN.bun, "handler.ts"],
  },
  {
    name: "Bun, a compiled binary (bun build --compile)",
    dir: () => project,
    build: async () => {
      if (existsSync(join(project, "worker-bin"))) return;
      await runOk([BIN.bun, "build", "--compile", "handler.ts", "--outfile", "worker-bin"], {
        cwd: project,
      });
    },
    local: () => ["./worker-bin"],
    pull: () => ["./worker-bin"],
  },
  {
    name: "Deno through package.json (pull: --allow-env --allow-net=127.0.0.1 only)",
    dir: () => project,
    local: () => [BIN.deno, "run", "--allow-env", "--allow-read=test_input.json", "handler.ts"],
    pull: () => [BIN.deno, "run", "--allow-env", "--allow-net=127.0.0.1", "handler.ts"],
    env: denoEnv,
  },
  {
    name: "Deno through an npm: specifier, no package.json",
    dir: () => npmProject,
    local: () => [
      BIN.deno,
      "run",
      "--node-modules-dir=manual",
      "--allow-env",
      "--allow-read=test_input.json",
      "handler.ts",
    ],
    pull: () => [
      BIN.deno,
      "run",
      "--node-modules-dir=manual",
      "--allow-env",
      "--allow-net=127.0.0.1",
      "handler.ts",
    ],
    env: denoEnv,
  },
];

for (const c of CASES) {
  test(`consumer: ${c.name}: local test mode prints the job's result`, async () => {
    await c.build?.();
    await assertLocalTest(c.local(), c.dir(), c.env?.());
  });
  test(`consumer: ${c.name}: the pull worker takes jobs, streams and pings`, async () => {
    await c.build?.();
    await assertPullWorker(c.pull(), c.dir(), c.env?.());
  });
}
