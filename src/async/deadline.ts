/**
 * Bounds how long to wait for a promise.
 *
 * @module
 */

import { abortable } from "./abortable.ts";
import { delay } from "./delay.ts";

/** Options for {@linkcode deadline}. */
export interface DeadlineOptions {
  /** Abandons the wait early: the promise rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal;
}

/**
 * Waits for `p` at most `ms` milliseconds. The work behind `p` is not stopped, and its later
 * outcome is ignored. The timer is cleared and the listener on `signal` removed as soon as the
 * result settles, so a settled deadline holds no resources and keeps no process alive.
 *
 * Unlike `AbortSignal.any([AbortSignal.timeout(ms), signal])`, which `@std/async` uses, this works
 * the same on Node, Deno and Bun: their timeout signals differ on keeping the process alive and
 * fire at once beyond 2^31 - 1 ms on Node and Deno, and Node 20's `AbortSignal.any()` leaks when
 * combined with a long-lived signal.
 *
 * @typeParam T The type `p` resolves to.
 * @param p The promise to wait for.
 * @param ms The most to wait, in milliseconds: a non-negative number, `Infinity` for no limit.
 * @param options The signal that abandons the wait.
 * @returns A promise that settles like `p` if it settles in time.
 * @throws {DOMException} Named `TimeoutError` when `ms` passes first (the promise rejects).
 * @throws {TypeError} If `ms` is not a number (the promise rejects).
 * @throws {RangeError} If `ms` is negative or `NaN` (the promise rejects).
 * @throws {unknown} The signal's `reason` when it aborts first (the promise rejects).
 *
 * @example Giving up on a slow operation
 * ```ts
 * import { deadline } from "./deadline.ts";
 * console.assert((await deadline(Promise.resolve("fast"), 1_000)) === "fast");
 * const error = await deadline(new Promise(() => {}), 10).catch((error: DOMException) => error);
 * console.assert(error instanceof DOMException && error.name === "TimeoutError");
 * ```
 */
export async function deadline<T>(
  p: Promise<T>,
  ms: number,
  options: DeadlineOptions = {},
): Promise<T> {
  if (typeof ms !== "number") {
    throw new TypeError(`'ms' must be a number: received ${typeof ms}`);
  }
  if (!(ms >= 0)) throw new RangeError(`'ms' must be a non-negative number: received ${ms}`);
  const { signal } = options;
  if (signal?.aborted) return await abortable(p, signal);
  const controller = new AbortController();
  const forward = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", forward, { once: true });
  if (ms !== Infinity) {
    delay(ms, { signal: controller.signal }).then(
      () => controller.abort(new DOMException(`Timed out after ${ms} ms`, "TimeoutError")),
      () => {}, // Cancelled: `p` settled or `signal` aborted first.
    );
  }
  try {
    return await abortable(p, controller.signal);
  } finally {
    controller.abort(); // Clears the timer.
    signal?.removeEventListener("abort", forward);
  }
}
