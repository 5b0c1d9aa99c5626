/**
 * The RunPod container path, examples/docker/: each Dockerfile's lines run verbatim in scratch
 * folders (no image is built or pulled here; see test/package/_dockerfile.ts), against the packed
 * tarball, and the resulting worker is run with the Dockerfile's `CMD` as a pull worker against
 * the simulator. Two things differ from a real build, both forced by having no registry copy of
 * edgepod: the context's package.json points `edgepod` at the tarball (`file:`), and its lockfiles
 * are generated from that here. The only change to a `CMD` is the host in Deno's `--allow-net`:
 * `api.runpod.ai` becomes the simulator's `127.0.0.1`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot } from "../support/runtime.ts";
import { parseDockerfile, runDockerfile, type Stage, stageEnv } from "./_dockerfile.ts";
import { BIN, packTarball, runOk } from "./_support.ts";
import { assertPullWorker, type PullJobs } from "./_scenarios.ts";

const EXAMPLE = join(repoRoot, "examples", "docker");
const OFFICIAL = /^(node|denoland\/deno|oven\/bun|debian):[\w.-]+$/;

/** examples/docker/handler.ts streams the words of its prompt. */
const JOBS: PullJobs = {
  quick: { input: { prompt: "from a container" }, chunks: ["from", "a", "container"] },
};

let scratch = "";
let context = "";

before(async () => {
  const packed = await packTarball();
  scratch = packed.dir;
  context = join(scratch, "context");
  await cp(EXAMPLE, context, { recursive: true });
  const pkgPath = join(context, "package.json");
  const pkg = JSON.parse(await readFile(pkgPath, "utf8"));
  assert.ok(pkg.dependencies.edgepod, "the example depends on edgepod");
  pkg.dependencies.edgepod = `file:${packed.tarball}`;
  await writeFile(pkgPath, JSON.stringify(pkg, null, 2));
  // bun.lock first: with a package-lock.json beside it, Bun would migrate that one instead.
  await runOk([BIN.bun, "install", "--lockfile-only"], { cwd: context });
  await runOk(
    [BIN.npm, "install", "--package-lock-only", "--prefer-offline", "--no-audit", "--no-fund"],
    { cwd: context },
  );
});

after(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** The variables the official images set that their lines rely on. */
function imageEnv(image: string): Record<string, string> {
  return image.startsWith("denoland/deno:") ? { DENO_DIR: "/deno-dir" } : {};
}

async function build(file: string): Promise<Stage> {
  const text = await readFile(join(EXAMPLE, file), "utf8");
  const dir = join(scratch, file);
  await mkdir(dir);
  const stages = await runDockerfile(text, { context, scratch: dir, imageEnv });
  for (const stage of stages) assert.match(stage.image, OFFICIAL, `${file}: ${stage.image}`);
  const last = stages.at(-1)!;
  assert.ok(last.cmd, `${file} has no CMD in its last stage`);
  return last;
}

function cmdHere(stage: Stage): string[] {
  return stage.cmd!.map((arg) => arg.startsWith("/") ? join(stage.root, arg) : arg)
    .map((arg) => arg === "--allow-net=api.runpod.ai" ? "--allow-net=127.0.0.1" : arg);
}

test("dockerfiles: each installs from a lockfile and copies no node_modules from the context", async () => {
  for (const file of ["Dockerfile.node", "Dockerfile.deno", "Dockerfile.bun"]) {
    const lines = parseDockerfile(await readFile(join(EXAMPLE, file), "utf8"));
    const runs = lines.filter((l) => l.keyword === "RUN").map((l) => l.args);
    assert.ok(
      runs.some((r) => /^npm ci\b/.test(r) || /^bun install --frozen-lockfile\b/.test(r)),
      `${file} installs without its lockfile: ${runs.join(" | ")}`,
    );
    const copies = lines.filter((l) => l.keyword === "COPY" && !l.args.startsWith("--from"));
    assert.ok(copies.every((c) => !/node_modules/.test(c.args)), file);
  }
  const ignore = await readFile(join(EXAMPLE, ".dockerignore"), "utf8");
  assert.match(ignore, /^node_modules$/m);
});

test("dockerfiles: Node (node:20-slim) compiles the handler and its CMD runs a pull worker", async () => {
  const stage = await build("Dockerfile.node");
  assert.deepEqual(stage.cmd, ["node", "handler.js"]);
  await assertPullWorker(cmdHere(stage), join(stage.root, stage.workdir), stageEnv(stage), JOBS);
});

test("dockerfiles: Deno runs with exactly --allow-env --allow-net=<RunPod host> and pings", async () => {
  const stage = await build("Dockerfile.deno");
  const [exe, sub, ...rest] = stage.cmd!;
  assert.equal(exe, "deno");
  assert.equal(sub, "run");
  assert.deepEqual(rest, ["--allow-env", "--allow-net=api.runpod.ai", "handler.ts"]);
  await assertPullWorker(cmdHere(stage), join(stage.root, stage.workdir), stageEnv(stage), JOBS);
});

test("dockerfiles: Bun ships one compiled binary that runs a pull worker and pings", async () => {
  const stage = await build("Dockerfile.bun");
  assert.deepEqual(stage.cmd, ["/app/worker"]);
  assert.match(stage.image, /^debian:/, "the final image holds only the binary");
  await assertPullWorker(cmdHere(stage), join(stage.root, stage.workdir), stageEnv(stage), JOBS);
});
