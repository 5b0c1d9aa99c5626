/**
 * Which runtime the tests run on, its adapter, and how to start a child process of the same
 * runtime (so every runner tests its own runtime end to end).
 *
 * @module
 */

import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Runtime } from "../../src/runtime.ts";
import { loadRuntime } from "../../adapters/auto.ts";

/** The runtime running this test file. */
export const runtimeName: "node" | "deno" | "bun" = "Deno" in globalThis
  ? "deno"
  : "Bun" in globalThis
  ? "bun"
  : "node";

/** The repository root. */
export const repoRoot: string = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The adapter for the current runtime.
 *
 * @returns Its `Runtime`.
 */
export function currentRuntime(): Promise<Runtime> {
  return loadRuntime();
}

/** Options for {@linkcode childCommand}. */
export interface ChildCommandOptions {
  /** Deno permission flags; the default is everything a worker may need. */
  denoFlags?: string[];
}

/**
 * The command line that runs `script` on the current runtime: `node --import tsx`, `deno run`
 * or `bun`.
 *
 * @param script The script path.
 * @param args Arguments for the script.
 * @param options Deno permissions.
 * @returns The executable and its arguments.
 */
export function childCommand(
  script: string,
  args: string[] = [],
  options: ChildCommandOptions = {},
): [string, string[]] {
  const exe = process.execPath;
  if (runtimeName === "node") {
    const tsx = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
    return [exe, ["--import", tsx, script, ...args]];
  }
  if (runtimeName === "deno") {
    const flags = options.denoFlags ?? ["--allow-env", "--allow-read", "--allow-net"];
    return [exe, ["run", "--quiet", ...flags, script, ...args]];
  }
  return [exe, [script, ...args]];
}
