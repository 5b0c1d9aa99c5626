/**
 * Capped exponential back-off with jitter.
 *
 * @module
 */

/** Options for {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** The base delay of attempt `0`, in milliseconds: a non-negative finite number. @default 100 */
  minDelay?: number;
  /** The cap on any delay, in milliseconds: a finite number, at least `minDelay`. @default 30_000 */
  maxDelay?: number;
  /** The growth factor between attempts: a finite number, at least 1. @default 2 */
  multiplier?: number;
  /**
   * The fraction of the delay that is random, from 0 (none: exactly the base delay) to 1 ("full
   * jitter": uniform in (0, base]).
   * @default 1
   */
  jitter?: number;
  /** The source of randomness: returns a number in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * Computes how long to wait after the failed attempt number `attempt` (counted from 0): the base
 * delay is `min(maxDelay, minDelay * multiplier ** attempt)`, and the result is
 * `base - jitter * base * random()`. The result is never negative nor above `maxDelay`. The
 * function is pure given `random`, so a loop can keep its own attempt count and call it directly.
 *
 * @param attempt The number of the attempt that failed, from 0: a non-negative integer.
 * @param options The shape of the back-off curve and the source of randomness.
 * @returns The delay in milliseconds, from `base * (1 - jitter)` to `base`.
 * @throws {TypeError} If `attempt` or a numeric option is not a number, or `random` is not a
 * function.
 * @throws {RangeError} If `attempt` or an option is out of range, or `random()` returns a value
 * outside [0, 1].
 *
 * @example The delays of a retry loop
 * ```ts
 * import { backoffDelay } from "./backoff.ts";
 * const exact = [0, 1, 2, 3].map((attempt) =>
 *   backoffDelay(attempt, { minDelay: 100, maxDelay: 500, jitter: 0 })
 * );
 * console.assert(exact.join() === "100,200,400,500");
 * const halfJitter = backoffDelay(1, { minDelay: 100, jitter: 0.5, random: () => 0.5 });
 * console.assert(halfJitter === 150);
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const {
    minDelay = 100,
    maxDelay = 30_000,
    multiplier = 2,
    jitter = 1,
    random = Math.random,
  } = options;
  checkNumber(
    "attempt",
    attempt,
    Number.isInteger(attempt) && attempt >= 0,
    "a non-negative integer",
  );
  checkNumber(
    "minDelay",
    minDelay,
    Number.isFinite(minDelay) && minDelay >= 0,
    "a non-negative finite number",
  );
  checkNumber(
    "maxDelay",
    maxDelay,
    Number.isFinite(maxDelay) && maxDelay >= minDelay,
    `a finite number of at least 'minDelay' (${minDelay})`,
  );
  checkNumber(
    "multiplier",
    multiplier,
    Number.isFinite(multiplier) && multiplier >= 1,
    "a finite number of at least 1",
  );
  checkNumber("jitter", jitter, jitter >= 0 && jitter <= 1, "a number from 0 to 1");
  if (typeof random !== "function") {
    throw new TypeError(`'random' must be a function: received ${typeof random}`);
  }
  // `multiplier ** attempt` may overflow to Infinity; 0 * Infinity would be NaN.
  const base = minDelay === 0 ? 0 : Math.min(maxDelay, minDelay * multiplier ** attempt);
  if (jitter === 0) return base;
  const r = random();
  if (!(r >= 0 && r <= 1)) {
    throw new RangeError(`'random' must return a number from 0 to 1: received ${r}`);
  }
  return base - jitter * base * r;
}

function checkNumber(name: string, value: number, valid: boolean, expected: string): void {
  if (typeof value !== "number") {
    throw new TypeError(`'${name}' must be a number: received ${typeof value}`);
  }
  if (!valid) throw new RangeError(`'${name}' must be ${expected}: received ${value}`);
}
