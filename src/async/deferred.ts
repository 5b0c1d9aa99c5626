/**
 * A promise with its `resolve` and `reject` functions, the shape of `Promise.withResolvers()`
 * (which Node 20 lacks).
 *
 * @module
 */

/**
 * A promise together with the functions that settle it, as returned by {@linkcode deferred}.
 * Structurally the same as `PromiseWithResolvers<T>`, so either can stand in for the other.
 *
 * @typeParam T The type the promise resolves to.
 *
 * @example Settling from outside
 * ```ts
 * import { deferred, type Deferred } from "./deferred.ts";
 * const ready: Deferred<number> = deferred();
 * ready.resolve(42);
 * console.assert((await ready.promise) === 42);
 * ```
 */
export interface Deferred<T> {
  /** The promise, settled by {@linkcode Deferred.resolve} or {@linkcode Deferred.reject}. */
  promise: Promise<T>;
  /** Resolves the promise with a value or the outcome of another promise. */
  resolve: (value: T | PromiseLike<T>) => void;
  /** Rejects the promise with a reason. */
  reject: (reason?: unknown) => void;
}

/**
 * Creates a promise that is settled from outside: a portable `Promise.withResolvers()`. Calls
 * after the first settlement are ignored, as with any promise.
 *
 * @typeParam T The type the promise resolves to.
 * @returns The promise with its `resolve` and `reject` functions.
 *
 * @example Waiting for an event
 * ```ts
 * import { deferred } from "./deferred.ts";
 * const opened = deferred<string>();
 * const target = new EventTarget();
 * target.addEventListener("open", () => opened.resolve("opened"), { once: true });
 * target.dispatchEvent(new Event("open"));
 * console.assert((await opened.promise) === "opened");
 * ```
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: Deferred<T>["resolve"];
  let reject!: Deferred<T>["reject"];
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
