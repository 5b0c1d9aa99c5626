/**
 * What the package tests share: packing the repository into a tarball as `npm publish` would,
 * installing it into a scratch project, running commands there, and a simulator on loopback.
 * These tests run under Node only (their subjects are other runtimes' processes).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { loadRuntime } from "../../adapters/auto.ts";
import { deferred } from "../../src/async/deferred.ts";
import type { Server } from "../../src/runtime.ts";
import { createSimulator, type Simulator } from "../../src/simulator/mod.ts";
import { within } from "../support/pull_harness.ts";
import { repoRoot } from "../support/runtime.ts";

/** The runtimes' executables: Node itself, Deno and Bun from the repository's devDependencies. */
export const BIN = {
  node: process.execPath,
  npm: "npm",
  deno: join(repoRoot, "node_modules", ".bin", "deno"),
  bun: join(repoRoot, "node_modules", ".bin", "bun"),
} as const;

/** A finished command. */
export interface Done {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode run} and {@linkcode startProcess}. */
export interface RunOptions {
  /** The working directory. */
  cwd: string;
  /** Added to a copy of the environment without `RUNPOD_*` variables. @default {} */
  env?: Record<string, string>;
  /** The most a wait may take, in ms (a failure guard). @default 120000 */
  timeoutMs?: number;
}

/** A running process. */
export interface Running {
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when it exits. */
  readonly exited: Promise<Done>;
  /** Resolves once stdout has a line matching `pattern`. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Sends a signal to this process (by its pid). */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * The environment children get: this one's, less `RUNPOD_*`, `NODE_OPTIONS` and tsx's loader
 * hints, plus `extra`; the repository's `node_modules/.bin` comes last on `PATH`, so a consumer
 * project's own binaries (tsx) win.
 *
 * @param extra Variables to add.
 * @returns The environment.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(RUNPOD_|NODE_OPTIONS$|TSX_)/.test(key)) continue;
    env[key] = value;
  }
  env.PATH = `${env.PATH ?? ""}:${join(repoRoot, "node_modules", ".bin")}`;
  return { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...extra };
}

/**
 * Starts `argv` and collects its output.
 *
 * @param argv The executable, then its arguments.
 * @param options Working directory and environment.
 * @returns The process.
 */
export function startProcess(argv: string[], options: RunOptions): Running {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const match = (pattern: RegExp) => stdout.split("\n").find((line) => pattern.test(line));
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    for (let i = watchers.length - 1; i >= 0; i--) {
      const line = match(watchers[i]!.pattern);
      if (line !== undefined) watchers.splice(i, 1)[0]!.resolve(line);
    }
  });
  child.stderr.on("data", (chunk) => void (stderr += chunk));
  const exited = deferred<Done>();
  child.on(
    "error",
    (error) => exited.resolve({ code: `spawn error: ${error.message}`, stdout, stderr }),
  );
  child.on(
    "close",
    (code, signal) => exited.resolve({ code: code ?? signal ?? "unknown", stdout, stderr }),
  );
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited: exited.promise,
    waitForLine(pattern) {
      const line = match(pattern);
      if (line !== undefined) return Promise.resolve(line);
      const found = deferred<string>();
      watchers.push({ pattern, resolve: found.resolve });
      return found.promise;
    },
    kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/**
 * Runs `argv` to completion.
 *
 * @param argv The executable, then its arguments.
 * @param options Working directory, environment, guard.
 * @returns Its exit code and output.
 */
export async function run(argv: string[], options: RunOptions): Promise<Done> {
  const proc = startProcess(argv, options);
  try {
    return await within(proc.exited, `${argv.join(" ")} to finish`, options.timeoutMs ?? 120_000);
  } finally {
    proc.kill("SIGKILL");
  }
}

/**
 * Runs `argv` and throws, with its output, unless it exits 0.
 *
 * @param argv The executable, then its arguments.
 * @param options Working directory, environment, guard.
 * @returns Its output.
 */
export async function runOk(argv: string[], options: RunOptions): Promise<Done> {
  const done = await run(argv, options);
  if (done.code !== 0) {
    throw new Error(
      `${argv.join(" ")} exited ${done.code}:\n${done.stdout.slice(-2000)}\n${
        done.stderr.slice(-2000)
      }`,
    );
  }
  return done;
}

/**
 * Packs the repository as a user does, `npm pack` with its scripts (`prepack` builds dist/ and
 * strips the manifest, `postpack` restores it), and returns the tarball's path in a fresh folder.
 *
 * @returns The scratch folder and the tarball in it.
 */
export async function packTarball(): Promise<{ dir: string; tarball: string }> {
  const dir = await mkdtemp(join(tmpdir(), "edgepod-package-"));
  try {
    await runOk([BIN.npm, "pack", "--pack-destination", dir], { cwd: repoRoot });
    const tarball = (await readdir(dir)).find((f) => /^edgepod-.*\.tgz$/.test(f));
    if (!tarball) throw new Error(`npm pack left no edgepod-*.tgz in ${dir}`);
    return { dir, tarball: join(dir, tarball) };
  } finally {
    // A pack that failed after `prepack` must not leave the repository's manifest stripped.
    await runOk([BIN.node, "scripts/pack_manifest.mjs", "restore"], { cwd: repoRoot });
  }
}

/**
 * `npm install` of `specs` in `cwd`, from the local npm cache when it has them (`npm ci` of the
 * repository filled it), else from the registry.
 *
 * @param cwd The project.
 * @param specs What to install (a tarball path, package names).
 * @returns The command's output.
 */
export function npmInstall(cwd: string, specs: string[]): Promise<Done> {
  return runOk([BIN.npm, "install", "--prefer-offline", "--no-audit", "--no-fund", ...specs], {
    cwd,
  });
}

/** A simulator served on loopback. */
export interface ServedSimulator extends AsyncDisposable {
  sim: Simulator;
  baseUrl: string;
}

/**
 * Serves a fresh simulator on 127.0.0.1 (port 0) with API key `test-key`.
 *
 * @param longPollMs How long takes are held. @default 200
 * @returns The simulator and its URL; dispose it to close both.
 */
export async function serveSimulator(longPollMs = 200): Promise<ServedSimulator> {
  const runtime = await loadRuntime();
  const sim = createSimulator({ longPollMs, apiKey: "test-key" });
  const server: Server = await runtime.serve(sim.fetch, { hostname: "127.0.0.1", port: 0 });
  return {
    sim,
    baseUrl: `http://127.0.0.1:${server.port}`,
    async [Symbol.asyncDispose]() {
      sim.close();
      await server.close();
    },
  };
}
