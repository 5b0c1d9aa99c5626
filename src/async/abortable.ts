/**
 * Makes a promise or an async iterable cancellable with an `AbortSignal`.
 *
 * @module
 */

import { deferred } from "./deferred.ts";

/**
 * Makes a promise abortable: the result settles like `p`, unless `signal` aborts first, in which
 * case it rejects with `signal.reason`. The work behind `p` is not stopped (a promise cannot be),
 * and its later outcome is ignored, so a late rejection of `p` is not reported as unhandled.
 *
 * @typeParam T The type `p` resolves to.
 * @param p The promise to race against the signal.
 * @param signal The signal that abandons the wait.
 * @returns A promise that settles like `p` or rejects with `signal.reason`, whichever comes first;
 * the listener on `signal` is removed when it settles.
 * @throws {TypeError} If `p` is neither a promise nor an async iterable.
 * @throws {unknown} The signal's `reason` when it is aborted, before or during the wait (the
 * promise rejects).
 *
 * @example Abandoning a slow operation
 * ```ts
 * import { abortable } from "./abortable.ts";
 * const controller = new AbortController();
 * const slow = new Promise<string>(() => {});
 * const result = abortable(slow, controller.signal);
 * controller.abort(new Error("Took too long"));
 * const error = await result.catch((error: Error) => error);
 * console.assert(error instanceof Error && error.message === "Took too long");
 * ```
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T>;
/**
 * Makes an async iterable abortable: the returned generator yields the values of `p` until
 * `signal` aborts, then throws `signal.reason`, even while waiting for the next value. The source
 * iterator is closed (its `return()` is called) on abort and when the consumer stops early
 * (`break`, `return` or a throw in a `for await` loop), but not after it ended or threw itself.
 * On an abort during a pending `next()` the source is closed without waiting, since an async
 * generator cannot run its `finally` before that `next()` settles.
 *
 * @typeParam T The type of the values.
 * @param p The async iterable to read.
 * @param signal The signal that stops the iteration.
 * @returns An async generator over the values of `p`; its return value is that of `p`.
 * @throws {TypeError} If `p` is neither a promise nor an async iterable.
 * @throws {unknown} The signal's `reason` when it aborts (from the generator's `next()`).
 *
 * @example Stopping an endless stream
 * ```ts
 * import { abortable } from "./abortable.ts";
 * async function* ticks() {
 *   for (let i = 0;; i++) yield i;
 * }
 * const controller = new AbortController();
 * const seen: number[] = [];
 * try {
 *   for await (const tick of abortable(ticks(), controller.signal)) {
 *     seen.push(tick);
 *     if (tick === 2) controller.abort(new Error("Enough"));
 *   }
 * } catch (error) {
 *   console.assert(error instanceof Error && error.message === "Enough");
 * }
 * console.assert(seen.join() === "0,1,2");
 * ```
 */
export function abortable<T>(p: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T>;
export function abortable<T>(
  p: Promise<T> | AsyncIterable<T>,
  signal: AbortSignal,
): Promise<T> | AsyncGenerator<T> {
  const source = p as Partial<PromiseLike<T> & AsyncIterable<T>> | null | undefined;
  if (typeof source?.[Symbol.asyncIterator] === "function") {
    return abortableIterable(source as AsyncIterable<T>, signal);
  }
  if (typeof source?.then === "function") return abortablePromise(source as PromiseLike<T>, signal);
  throw new TypeError(
    `'p' must be a promise or an async iterable: received ${
      source === null ? "null" : typeof source
    }`,
  );
}

async function abortablePromise<T>(p: PromiseLike<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // `p` is abandoned: keep its eventual rejection from being reported as unhandled.
    Promise.resolve(p).catch(() => {});
    throw signal.reason;
  }
  const aborted = deferred<never>();
  const onAbort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([p, aborted.promise]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

async function* abortableIterable<T>(
  iterable: AsyncIterable<T>,
  signal: AbortSignal,
): AsyncGenerator<T> {
  if (signal.aborted) throw signal.reason;
  const iterator = iterable[Symbol.asyncIterator]();
  // Whether `iterator.return()` is still owed: not once the source ended, threw or was closed.
  let open = true;
  try {
    while (true) {
      if (signal.aborted) throw signal.reason; // Aborted while the consumer held a value.
      let result: IteratorResult<T>;
      try {
        result = await abortablePromise(iterator.next(), signal);
      } catch (error) {
        open = false; // The source threw (it is finished), or is closed here.
        // Aborted while `next()` is pending: close the source, but do not wait for it.
        if (signal.aborted) closeInBackground(iterator);
        throw error;
      }
      if (result.done) {
        open = false;
        return result.value;
      }
      yield result.value;
    }
  } finally {
    if (open) await iterator.return?.();
  }
}

function closeInBackground(iterator: AsyncIterator<unknown>): void {
  try {
    Promise.resolve(iterator.return?.()).catch(() => {});
  } catch {
    // A throwing `return()` has nobody to report to: the consumer already has `signal.reason`.
  }
}
