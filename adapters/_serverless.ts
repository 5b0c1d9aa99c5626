/**
 * The `serverless` namespace every entry point exports, so RunPod's documented
 * `runpod.serverless.start({...})` works with `import * as runpod from "edgepod"`.
 *
 * @module
 */

import type { StartOptions } from "../src/config.ts";
import { progressUpdate } from "../src/progress_update.ts";
import { registerFitnessCheck } from "../src/worker/fitness_checks.ts";
import { EDGEPOD_VERSION } from "../src/version.ts";

/** The Python SDK's `runpod.serverless` surface, in both spellings. */
export interface ServerlessNamespace {
  /** Starts the worker. */
  start(options: StartOptions): Promise<never>;
  /** `progress_update(job, progress)`: sends a progress update for a running job. */
  progress_update: typeof progressUpdate;
  /** The idiomatic spelling of `progress_update`. */
  progressUpdate: typeof progressUpdate;
  /** `register_fitness_check(fn)`: a check that must pass before the first job is taken. */
  register_fitness_check: typeof registerFitnessCheck;
  /** The idiomatic spelling of `register_fitness_check`. */
  registerFitnessCheck: typeof registerFitnessCheck;
  /** The worker runtime's version (edgepod's). */
  runpod_version: string;
}

/**
 * Builds the namespace around a runtime's `start`.
 *
 * @param start The runtime's `start`.
 * @returns The namespace.
 *
 * @example
 * ```ts ignore
 * export const serverless = serverlessNamespace(start);
 * ```
 */
export function serverlessNamespace(
  start: (options: StartOptions) => Promise<never>,
): ServerlessNamespace {
  return Object.freeze({
    start,
    progress_update: progressUpdate,
    progressUpdate,
    register_fitness_check: registerFitnessCheck,
    registerFitnessCheck,
    runpod_version: EDGEPOD_VERSION,
  });
}
