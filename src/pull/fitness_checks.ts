/**
 * Fitness checks: user checks that must pass before a production worker takes its first job
 * (the Python SDK's `register_fitness_check`).
 *
 * @module
 */

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
