/**
 * The public surface: what the package root and the serverless namespace export, and that
 * package.json, deno.json and the version constant agree.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as root from "../adapters/auto.ts";
import { EDGEPOD_VERSION } from "../src/version.ts";
import { repoRoot } from "./support/runtime.ts";

const pkg = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8"));
const deno = JSON.parse(await readFile(join(repoRoot, "deno.json"), "utf8"));

test("exports: the version is the same in package.json, deno.json and EDGEPOD_VERSION", () => {
  assert.equal(pkg.version, EDGEPOD_VERSION);
  assert.equal(deno.version, EDGEPOD_VERSION);
  assert.equal(pkg.name, "edgepod");
  // JSR names are scoped.
  assert.equal(deno.name, "@edgepod/edgepod");
});

test("exports: package.json exports compiled dist/ for the subpaths deno.json (JSR) exports as .ts", () => {
  const subpaths = Object.keys(pkg.exports as Record<string, unknown>)
    .filter((key) => key !== "./package.json");
  assert.deepEqual(subpaths, Object.keys(deno.exports));
  for (const key of subpaths) {
    const source = deno.exports[key] as string;
    const types = `./dist/${source.slice(2).replace(/\.ts$/, ".d.ts")}`;
    const js = `./dist/bundle/${key === "." ? "auto" : key.slice(2)}.js`;
    // Every runtime gets the same compiled, bundled code: Deno refuses to type-strip under
    // node_modules, and one module loads faster than sixty. scripts/build.mjs bundles one entry
    // per deno.json export.
    assert.deepEqual(pkg.exports[key], { types, default: js });
  }
  assert.ok((pkg.files as string[]).includes("dist/bundle"));
  assert.ok((pkg.files as string[]).includes("dist/src/**/*.d.ts"));
});

test("exports: the serverless namespace has the Python SDK's surface in both spellings", () => {
  const ns = root.serverless;
  assert.deepEqual(Object.keys(ns).sort(), [
    "progressUpdate",
    "progress_update",
    "registerFitnessCheck",
    "register_fitness_check",
    "runpod_version",
    "start",
  ]);
  assert.equal(typeof ns.start, "function");
  assert.equal(ns.progress_update, ns.progressUpdate);
  assert.equal(ns.register_fitness_check, ns.registerFitnessCheck);
  assert.equal(ns.runpod_version, EDGEPOD_VERSION);
  assert.ok(Object.isFrozen(ns));
});

test("exports: the package root exports the documented API", () => {
  for (
    const name of [
      "start",
      "serverless",
      "loadRuntime",
      "ConcurrencyGate",
      "executeJob",
      "runHandler",
      "asStream",
      "parseConfig",
      "RunPodLogger",
      "parseLogLevel",
      "registerFitnessCheck",
      "progressUpdate",
      "JobStoppedError",
      "JobTimeoutError",
      "WorkerShutdownError",
      "resultFromValue",
      "encodeResult",
      "validateInput",
      "delay",
      "abortable",
      "deadline",
      "retry",
      "RetryError",
      "backoffDelay",
      "deferred",
      "EDGEPOD_VERSION",
      "verifyPushAuth",
      "pushAuthFromEnv",
      "hasPushAuth",
      "hasPushCredentials",
      "signPushRequest",
      "authorizePush",
      "CoarseTimers",
      "parseSubmission",
      "readBodyLimited",
      "timingSafeEqual",
      "JobWorker",
      "WorkerBusyError",
      "WorkerDrainingError",
      "jobStatus",
      "statusBody",
      "ResultStore",
      "ObservationWindow",
    ]
  ) {
    assert.ok(name in root, `missing export ${name}`);
  }
});

test("exports: each runtime entry point exports start, serverless and its runtime", async () => {
  const { runtimeName } = await import("./support/runtime.ts");
  const entry = runtimeName === "deno"
    ? await import("../adapters/deno.ts")
    : runtimeName === "bun"
    ? await import("../adapters/bun.ts")
    : await import("../adapters/node.ts");
  assert.equal(typeof entry.start, "function");
  assert.equal(entry.runtime.name, runtimeName);
  assert.equal(typeof entry.serverless.start, "function");
  assert.equal(typeof entry.ConcurrencyGate, "function");
});
