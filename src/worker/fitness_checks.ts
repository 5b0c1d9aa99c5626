/**
 * Fitness checks: user checks that must pass before a worker takes its first job (the Python
 * SDK's `register_fitness_check`), whichever intake it serves: the pull worker reports a failure
 * to RunPod as unhealthy, push mode and the dev API refuse to serve. All exit 1.
 *
 * @module
 */

import type { Logger } from "../types.ts";

/** A check: it fails by throwing, rejecting or returning `false`. */
export type FitnessCheck = () => unknown;

const checks: FitnessCheck[] = [];

/**
 * Registers a fitness check. Checks run in registration order, one at a time, before the first
 * job is taken; the first failure makes the worker report itself unhealthy and exit 1. Returns the
 * check, so it also works in the decorator style of the Python SDK.
 *
 * @param check A sync or async function.
 * @returns `check`.
 * @throws {TypeError} When `check` is not a function.
 *
 * @example
 * ```ts
 * import { registerFitnessCheck } from "./fitness_checks.ts";
 * registerFitnessCheck(async function modelLoaded() {
 *   // throw new Error("weights missing") to refuse jobs
 * });
 * ```
 */
export function registerFitnessCheck<C extends FitnessCheck>(check: C): C {
  if (typeof check !== "function") {
    throw new TypeError(
      `Cannot register a fitness check as it must be a function: received ${typeof check}`,
    );
  }
  checks.push(check);
  return check;
}

/** The first failing check. */
export interface FitnessFailure {
  /** The check's function name (or `check <n>`). */
  name: string;
  /** The error's name, e.g. `Error`. */
  type: string;
  /** What went wrong. */
  message: string;
}

/**
 * Runs the registered checks in order and stops at the first failure.
 *
 * @returns The failure, or `undefined` when every check passed.
 *
 * @example
 * ```ts
 * import { runFitnessChecks } from "./fitness_checks.ts";
 * console.assert((await runFitnessChecks()) === undefined || true);
 * ```
 */
export async function runFitnessChecks(): Promise<FitnessFailure | undefined> {
  for (const [index, check] of checks.entries()) {
    const name = check.name || `check ${index + 1}`;
    try {
      if ((await check()) === false) {
        return { name, type: "Error", message: "the check returned false" };
      }
    } catch (error) {
      return error instanceof Error
        ? { name, type: error.name, message: error.message }
        : { name, type: typeof error, message: String(error) };
    }
  }
  return undefined;
}

/**
 * Runs the registered checks before an HTTP intake serves anything, logging a failure: a worker
 * whose checks fail must never take a job (push mode and the dev API exit 1 then).
 *
 * @param logger Where the failure is logged.
 * @returns `true` when every check passed.
 *
 * @example
 * ```ts
 * import { passesFitnessChecks } from "./fitness_checks.ts";
 * if (!(await passesFitnessChecks(console))) console.log("exit 1");
 * ```
 */
export async function passesFitnessChecks(
  logger: Pick<Logger, "error">,
): Promise<boolean> {
  const failure = await runFitnessChecks();
  if (!failure) return true;
  logger.error(fitnessFailureLine(failure));
  logger.error("Worker is unhealthy, exiting.");
  return false;
}

/**
 * The log line of a failed check.
 *
 * @param failure The failure.
 * @returns `Fitness check failed: <name> | <type>: <message>`.
 *
 * @example
 * ```ts
 * import { fitnessFailureLine } from "./fitness_checks.ts";
 * console.assert(fitnessFailureLine({ name: "gpu", type: "Error", message: "no GPU" }) ===
 *   "Fitness check failed: gpu | Error: no GPU");
 * ```
 */
export function fitnessFailureLine(failure: FitnessFailure): string {
  return `Fitness check failed: ${failure.name} | ${failure.type}: ${failure.message}`;
}
