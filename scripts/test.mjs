#!/usr/bin/env node
// `npm test`: builds dist/, type-checks (including the proof that src/ uses Web APIs only), then runs the same
// test files under Node (tsx), Deno and Bun. Prints each runner's output as it comes, then one
// line per runtime and a last line `N passed, N failed` summing all three. Exits non-zero if a
// type-check or a runner fails, or if a runner ran zero tests.
//
// Usage: node scripts/test.mjs [node|deno|bun|package|pool ...]   (default: all of them;
// `package` is test/package/, the installed tarball under every runtime, run by Node; `pool` is
// the pool test in test/pool/, skipped, and said so, without redis-server and nginx)
// EDGEPOD_TEST_SUMMARY=<file> also writes the last line to <file> (for .ci/run).
//
// A hung test must fail the run, not wait for CI's own limit: Node's runner stops a test file
// after FILE_TIMEOUT_MS (`--test-timeout`, which bounds each file there), Bun a test after
// 60 s, and every runner's whole run is stopped after RUN_TIMEOUT_MS (Deno has no per-test
// timeout), counted as a failure and named (EDGEPOD_TEST_RUN_TIMEOUT_MS changes that bound).

import { spawn, spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Node's `--test-timeout`: it bounds each test file (the whole Node run takes about 3 minutes). */
const FILE_TIMEOUT_MS = 300_000;
/** One runner's whole run (each takes 1 to 3 minutes here). */
const RUN_TIMEOUT_MS = Number(process.env.EDGEPOD_TEST_RUN_TIMEOUT_MS) || 20 * 60_000;

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: "1", FORCE_COLOR: "0" };
const testFiles = readdirSync(join(root, "test")).filter((f) => f.endsWith(".test.ts")).sort()
  .map((f) => `test/${f}`);
// test/package/: the packed tarball installed into scratch projects and run under every runtime
// (and the Dockerfiles' commands). They drive other runtimes' processes, so Node runs them once.
const packageFiles = readdirSync(join(root, "test", "package"))
  .filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/package/${f}`);
const poolFiles = readdirSync(join(root, "test", "pool"))
  .filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/pool/${f}`);

/** Node's test runner (tsx) over `files`; a test it cancelled counts as failed. */
function nodeRunner(files) {
  return {
    cmd: process.execPath,
    args: ["--import", "tsx", "--test", `--test-timeout=${FILE_TIMEOUT_MS}`, "--test-reporter=spec"]
      .concat(files),
    count: (out) => ({ passed: last(out, /^ℹ pass (\d+)$/m), failed: nodeFailed(out) }),
  };
}

const runners = {
  node: nodeRunner(testFiles),
  deno: {
    cmd: join(bin, "deno"),
    args: [
      "test",
      "--allow-net=127.0.0.1,localhost",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-sys",
      ...testFiles,
    ],
    count: (out) => ({
      passed: last(out, /\| (\d+) passed/),
      failed: last(out, /\| (\d+) failed/),
    }),
  },
  // Every JSDoc example in src/ and adapters/, type-checked and run, with a console.assert
  // that throws (test/support/strict_console_assert.ts), so a wrong claim fails.
  docs: {
    cmd: join(bin, "deno"),
    args: [
      "test",
      "--doc",
      "--preload=test/support/strict_console_assert.ts",
      "--allow-net=127.0.0.1,localhost",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-sys",
      "src",
      "adapters",
    ],
    count: (out) => ({
      passed: last(out, /\| (\d+) passed/),
      failed: last(out, /\| (\d+) failed/),
    }),
  },
  package: nodeRunner(packageFiles),
  bun: {
    cmd: join(bin, "bun"),
    args: ["test", "--timeout", "60000", ...testFiles.map((f) => `./${f}`)],
    count: (out) => ({
      passed: last(out, /^\s*(\d+) pass$/m),
      failed: last(out, /^\s*(\d+) fail$/m),
    }),
  },
  // The pool test (`npm run test:pool`): Redis, nginx, BullMQ and push workers on Bun and Deno.
  // Runs when redis-server and nginx are on the PATH; .ci/run installs them and sets
  // EDGEPOD_REQUIRE_POOL=1, which turns a skip into a failure.
  pool: { ...nodeRunner(poolFiles), requires: ["redis-server", "nginx"] },
};

function onPath(name) {
  return spawnSync("sh", ["-c", `command -v ${name}`], { env, stdio: "ignore" }).status === 0;
}

/** Node counts a test stopped by `--test-timeout` as cancelled, not failed: both fail the run. */
function nodeFailed(out) {
  const failed = last(out, /^ℹ fail (\d+)$/m);
  return failed === undefined ? undefined : failed + (last(out, /^ℹ cancelled (\d+)$/m) ?? 0);
}

function last(text, pattern) {
  const flags = pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g";
  const all = [...text.matchAll(new RegExp(pattern.source, flags))];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

/** Runs a command to its end, or stops it (and what it started) after RUN_TIMEOUT_MS. */
function run(cmd, args) {
  return new Promise((resolve) => {
    let output = "";
    let timedOut = false;
    // Its own process group, so a stop reaches the servers and children a test started.
    const child = spawn(cmd, args, {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const stop = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop("SIGKILL");
    }, RUN_TIMEOUT_MS);
    // Outside the terminal's process group it misses Ctrl-C: pass it on, then leave.
    const interrupted = (signal) => {
      stop(signal);
      process.exit(130);
    };
    process.once("SIGINT", interrupted).once("SIGTERM", interrupted);
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (chunk) => {
        output += chunk;
        (stream === child.stdout ? process.stdout : process.stderr).write(chunk);
      });
    }
    const done = () => {
      clearTimeout(timer);
      process.off("SIGINT", interrupted).off("SIGTERM", interrupted);
    };
    child.on("error", (error) => {
      done();
      resolve({ code: 127, output: output + String(error), timedOut });
    });
    child.on("close", (code, signal) => {
      done();
      resolve({ code: code ?? (signal ? 128 : 1), output, timedOut });
    });
  });
}

const selected = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(runners);
const lines = [];
let ok = true;
let passed = 0;
let failed = 0;

// The build comes first: `import "edgepod"` resolves to dist/ (the package's exports) under Node
// and Bun, and the examples are tested through that import.
// The build checks (never rewrites) the generated heartbeat thread source.
const checks = [
  ["build (dist/, the package's code)", process.execPath, ["scripts/build.mjs", "--check"]],
  ["tsc (project)", join(bin, "tsc"), ["-p", "."]],
  ["tsc (src/ Web-only)", join(bin, "tsc"), ["-p", "tsconfig.web.json"]],
];
for (const [name, cmd, args] of checks) {
  console.log(`\n=== ${name} ===`);
  const result = await run(cmd, args);
  if (result.code !== 0) {
    ok = false;
    failed++;
    lines.push(`${name}: FAILED`);
  }
}

for (const name of selected) {
  const runner = runners[name];
  if (!runner) {
    console.error(`Unknown runtime ${name}; expected node, deno, docs, bun, package or pool`);
    process.exit(2);
  }
  const missing = (runner.requires ?? []).filter((binary) => !onPath(binary));
  if (missing.length) {
    const why = `${missing.join(" and ")} not on the PATH (apt-get install -y ${
      missing.join(" ")
    })`;
    if (process.env.EDGEPOD_REQUIRE_POOL) {
      ok = false;
      failed++;
      lines.push(`${name}: FAILED, ${why}`);
    } else lines.push(`${name}: SKIPPED, ${why}`);
    continue;
  }
  console.log(`\n=== tests: ${name} ===`);
  const started = Date.now();
  const result = await run(runner.cmd, runner.args);
  const counts = runner.count(result.output);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.timedOut) {
    ok = false;
    failed++;
    lines.push(`${name}: TIMED OUT after ${seconds}s (a test hung; its output above ends there)`);
    continue;
  }
  if (counts.passed === undefined || counts.failed === undefined) {
    ok = false;
    failed++;
    lines.push(`${name}: could not read the test counts (exit ${result.code}, ${seconds}s)`);
    continue;
  }
  passed += counts.passed;
  failed += counts.failed;
  const bad = result.code !== 0 || counts.failed > 0 || counts.passed === 0;
  if (bad) ok = false;
  lines.push(
    `${name}: ${counts.passed} passed, ${counts.failed} failed, exit ${result.code}, ${seconds}s` +
      (counts.passed === 0 ? " (zero tests ran)" : ""),
  );
}

if (!ok && failed === 0) failed = 1;
const summary = `${passed} passed, ${failed} failed`;
console.log(`\n${lines.join("\n")}\n${summary}`);
if (process.env.EDGEPOD_TEST_SUMMARY) {
  writeFileSync(process.env.EDGEPOD_TEST_SUMMARY, summary + "\n");
}
process.exit(ok ? 0 : 1);
