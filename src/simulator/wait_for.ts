/**
 * Waiting for a condition without sleeping: re-check it on every event of a target.
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";
import { SIMULATOR_EVENT_TYPES } from "./simulator_event.ts";

/** Options for {@linkcode waitFor}. */
export interface WaitForOptions {
  /** Cancels the wait; the promise rejects with `signal.reason`. @default undefined */
  signal?: AbortSignal;
  /**
   * Rejects with a `TimeoutError` `DOMException` after this many milliseconds; `Infinity` waits
   * forever. @default 30000
   */
  timeoutMs?: number;
  /** The event types that trigger a re-check. @default SIMULATOR_EVENT_TYPES */
  types?: readonly string[];
  /** Names the condition in the timeout message. @default "the condition" */
  description?: string;
}

/**
 * Resolves once `predicate()` returns `true`. It is checked at once, then again synchronously
 * on each event of the given types, so it sees the state right after each change.
 *
 * @param target The event target to listen to (a simulator).
 * @param predicate The condition.
 * @param options Signal, timeout, event types and a description for the timeout message.
 * @returns A promise that resolves when the condition holds.
 * @throws {DOMException} `TimeoutError` when `timeoutMs` passes first; `signal.reason` when
 * aborted; whatever `predicate` throws.
 *
 * @example Waiting for an event-driven counter
 * ```ts
 * import { waitFor } from "./wait_for.ts";
 * const target = new EventTarget();
 * let count = 0;
 * const done = waitFor(target, () => count === 2, { types: ["tick"] });
 * for (let i = 0; i < 2; i++) {
 *   count++;
 *   target.dispatchEvent(new Event("tick"));
 * }
 * await done;
 * console.assert(count === 2);
 * ```
 */
export async function waitFor(
  target: EventTarget,
  predicate: () => boolean,
  options: WaitForOptions = {},
): Promise<void> {
  const {
    signal,
    timeoutMs = 30_000,
    types = SIMULATOR_EVENT_TYPES,
    description = "the condition",
  } = options;
  signal?.throwIfAborted();
  if (!(timeoutMs >= 0)) {
    throw new RangeError(`'timeoutMs' must be a number >= 0: received ${timeoutMs}`);
  }
  if (predicate()) return;
  const done = deferred<void>();
  const check = () => {
    try {
      if (predicate()) done.resolve();
    } catch (error) {
      done.reject(error);
    }
  };
  const onAbort = () => done.reject(signal?.reason);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (const type of types) target.addEventListener(type, check);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        const message = `Timed out after ${timeoutMs} ms waiting for ${description}`;
        done.reject(new DOMException(message, "TimeoutError"));
      }, timeoutMs);
    }
    await done.promise;
  } finally {
    for (const type of types) target.removeEventListener(type, check);
    signal?.removeEventListener("abort", onAbort);
    if (timer !== undefined) clearTimeout(timer);
  }
}
