/**
 * Retries a failing operation with capped exponential back-off.
 *
 * @module
 */

import { abortable } from "./abortable.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import { delay } from "./delay.ts";

/** Options for {@linkcode retry}; the back-off options shape the waits between attempts. */
export interface RetryOptions extends BackoffOptions {
  /** The total number of attempts, the first included: a positive integer or `Infinity`. @default 5 */
  maxAttempts?: number;
  /**
   * Stops retrying: `retry` rejects with `signal.reason` at once, even during an attempt or a
   * wait. It is also passed to each attempt, to cancel its work.
   * @default undefined
   */
  signal?: AbortSignal;
  /**
   * Decides whether an error is worth another attempt; when it returns `false`, `retry` rejects
   * with the error as is, even on the last attempt. Called with the attempt number (from 0).
   * @default () => true
   */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /**
   * Overrides the computed back-off for the wait after a failed attempt: return a number of
   * milliseconds (not capped by `maxDelay`), e.g. from a `Retry-After` header, or `undefined` to
   * use {@linkcode backoffDelay}.
   * @default undefined
   */
  delayFor?: (error: unknown, attempt: number) => number | undefined;
  /** Called before each wait with the error, the failed attempt (from 0) and the wait. @default undefined */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * The error of {@linkcode retry} when every attempt failed: `cause` is the last attempt's error.
 *
 * @example Reading the last error
 * ```ts
 * import { retry, RetryError } from "./retry.ts";
 * const error = await retry(() => {
 *   throw new Error("Service unavailable");
 * }, { maxAttempts: 2, minDelay: 0 }).catch((error: RetryError) => error);
 * console.assert(error instanceof RetryError && error.attempts === 2);
 * console.assert((error.cause as Error).message === "Service unavailable");
 * ```
 */
export class RetryError extends Error {
  override readonly name = "RetryError";
  /** How many attempts were made, all of which failed. */
  readonly attempts: number;

  /**
   * Creates the error.
   *
   * @param cause The error of the last attempt.
   * @param attempts How many attempts were made.
   */
  constructor(cause: unknown, attempts: number) {
    const reason = cause instanceof Error ? `: ${cause.message}` : "";
    super(`Retrying failed after ${attempts} attempt${attempts === 1 ? "" : "s"}${reason}`, {
      cause,
    });
    this.attempts = attempts;
  }
}

/**
 * Calls `fn` until it succeeds, waiting between attempts: after the failed attempt `n` (counted
 * from 0) it waits `delayFor(error, n)` if that returns a number, else `backoffDelay(n, options)`.
 * Each failure first goes through `shouldRetry`, then `onRetry` is told about the wait.
 *
 * @typeParam T The type `fn` resolves to.
 * @param fn The operation: receives the attempt number (from 0) and `options.signal`.
 * @param options The attempts, back-off, cancellation and hooks.
 * @returns The first successful result of `fn`.
 * @throws {RetryError} When `maxAttempts` attempts failed; `cause` is the last error.
 * @throws {unknown} The error of `fn` as is when `shouldRetry` returns `false`, the signal's
 * `reason` when it aborts, or the error of a hook.
 * @throws {TypeError} If `fn` or a hook is not a function, an option is not a number, or
 * `delayFor` returns neither a number nor `undefined`.
 * @throws {RangeError} If `maxAttempts` or a back-off option is out of range, or `delayFor`
 * returns a negative number or `NaN`.
 *
 * @example Retrying a flaky operation
 * ```ts
 * import { retry } from "./retry.ts";
 * const delays: number[] = [];
 * const result = await retry((attempt) => {
 *   if (attempt < 2) throw new Error("Flaky");
 *   return "ok";
 * }, { minDelay: 1, jitter: 0, onRetry: (_error, _attempt, delayMs) => delays.push(delayMs) });
 * console.assert(result === "ok" && delays.join() === "1,2");
 * ```
 */
export async function retry<T>(
  fn: (attempt: number, signal?: AbortSignal) => Promise<T> | T,
  options: RetryOptions = {},
): Promise<T> {
  const {
    maxAttempts = 5,
    signal,
    shouldRetry = () => true,
    delayFor,
    onRetry,
    ...backoff
  } = options;
  if (typeof fn !== "function") {
    throw new TypeError(`'fn' must be a function: received ${typeof fn}`);
  }
  if (typeof maxAttempts !== "number") {
    throw new TypeError(`'maxAttempts' must be a number: received ${typeof maxAttempts}`);
  }
  if (!((Number.isInteger(maxAttempts) && maxAttempts >= 1) || maxAttempts === Infinity)) {
    throw new RangeError(
      `'maxAttempts' must be a positive integer or Infinity: received ${maxAttempts}`,
    );
  }
  const hooks = { shouldRetry, delayFor, onRetry, random: backoff.random };
  for (const [name, hook] of Object.entries(hooks)) {
    if (hook !== undefined && typeof hook !== "function") {
      throw new TypeError(`'${name}' must be a function: received ${typeof hook}`);
    }
  }
  // Checks the back-off options up front, without drawing from the caller's `random`.
  backoffDelay(0, { ...backoff, random: () => 0 });
  if (signal?.aborted) throw signal.reason;

  for (let attempt = 0;; attempt++) {
    try {
      const result = fn(attempt, signal);
      return await (signal ? abortable(Promise.resolve(result), signal) : result);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!shouldRetry(error, attempt)) throw error;
      if (attempt + 1 >= maxAttempts) throw new RetryError(error, attempt + 1);
      const override = delayFor?.(error, attempt);
      if (override !== undefined && typeof override !== "number") {
        throw new TypeError(
          `'delayFor' must return a number or undefined: received ${typeof override}`,
        );
      }
      if (override !== undefined && !(override >= 0)) {
        throw new RangeError(`'delayFor' must return a non-negative number: received ${override}`);
      }
      const delayMs = override ?? backoffDelay(attempt, backoff);
      onRetry?.(error, attempt, delayMs);
      await delay(delayMs, { signal });
    }
  }
}
