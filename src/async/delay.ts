/**
 * A cancellable sleep.
 *
 * @module
 */

import { deferred } from "./deferred.ts";

/** The longest single `setTimeout`: runtimes fire longer timers at once (Node after a warning). */
const MAX_TIMEOUT = 2_147_483_647;

/** Options for {@linkcode delay}. */
export interface DelayOptions {
  /** Cancels the wait: the promise rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal;
}

/**
 * Resolves after `ms` milliseconds. Waits longer than a timer allows (about 24.8 days) are split
 * into several timers, and `Infinity` waits until `signal` aborts. `delay(0)` still waits for a
 * timer (a macrotask), so pending microtasks and I/O callbacks run first.
 *
 * @param ms How long to wait, in milliseconds: a non-negative number.
 * @param options The signal that cancels the wait.
 * @returns A promise that resolves after `ms` milliseconds. When `signal` aborts, before or
 * during the wait, it rejects with `signal.reason`, clears the timer and removes its listener.
 * @throws {TypeError} If `ms` is not a number (the promise rejects).
 * @throws {RangeError} If `ms` is negative or `NaN` (the promise rejects).
 * @throws {unknown} The signal's `reason` when it aborts (the promise rejects).
 *
 * @example Waiting, then cancelling a wait
 * ```ts
 * import { delay } from "./delay.ts";
 * await delay(1);
 * const controller = new AbortController();
 * const waiting = delay(60_000, { signal: controller.signal });
 * controller.abort(new Error("Shutting down"));
 * const error = await waiting.catch((error: Error) => error);
 * console.assert(error instanceof Error && error.message === "Shutting down");
 * ```
 */
export async function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  if (typeof ms !== "number") {
    throw new TypeError(`'ms' must be a number: received ${typeof ms}`);
  }
  if (!(ms >= 0)) throw new RangeError(`'ms' must be a non-negative number: received ${ms}`);
  const { signal } = options;
  if (signal?.aborted) throw signal.reason;
  const done = deferred<void>();
  const onAbort = () => done.reject(signal?.reason);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let remaining = ms;
  const schedule = () => {
    const step = Math.min(remaining, MAX_TIMEOUT);
    remaining -= step;
    timer = setTimeout(remaining > 0 ? schedule : done.resolve, step);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    schedule();
    await done.promise;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}
