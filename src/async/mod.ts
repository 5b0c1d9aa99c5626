/**
 * Small async primitives in the shapes of `@std/async`, on Web-platform APIs only, so they run
 * unchanged on Node 20, Deno and Bun: cancellation is an `AbortSignal` passed in an options object
 * (or as the second argument of {@linkcode abortable}), and an abort rejects with `signal.reason`.
 *
 * - {@linkcode deferred}: a promise with its `resolve` and `reject` (`Promise.withResolvers()`).
 * - {@linkcode delay}: a cancellable sleep.
 * - {@linkcode abortable}: makes a promise or an async iterable cancellable.
 * - {@linkcode deadline}: bounds the wait for a promise, with a `TimeoutError`.
 * - {@linkcode backoffDelay}: capped exponential back-off with jitter, as a pure function.
 * - {@linkcode retry}: retries an operation with back-off, giving up with {@linkcode RetryError}.
 * - {@linkcode CoarseTimers}: many timeouts sharing one timer per 10 ms slot (not in `@std/async`).
 *
 * @example Retrying with a deadline per attempt
 * ```ts
 * import { deadline, retry } from "./mod.ts";
 * let calls = 0;
 * const answer = await retry(
 *   () => deadline(++calls < 2 ? new Promise<number>(() => {}) : Promise.resolve(42), 10),
 *   { minDelay: 1 },
 * );
 * console.assert(answer === 42 && calls === 2);
 * ```
 *
 * @module
 */

export { abortable } from "./abortable.ts";
export { backoffDelay, type BackoffOptions } from "./backoff.ts";
export { CoarseTimers, type CoarseTimersOptions } from "./coarse_timers.ts";
export { deadline, type DeadlineOptions } from "./deadline.ts";
export { type Deferred, deferred } from "./deferred.ts";
export { delay, type DelayOptions } from "./delay.ts";
export { retry, RetryError, type RetryOptions } from "./retry.ts";
