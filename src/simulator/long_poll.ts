/**
 * The waiting room of a long-poll route: requests park here until an answer is handed to them,
 * their time runs out, their client goes away or the simulator closes.
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";

/** Options for {@linkcode LongPoll.hold}. */
export interface HoldOptions {
  /** How long to hold before giving up; `0` or less answers at once. @default 1000 */
  timeoutMs?: number;
  /**
   * The request's signal. Aborting it (the client went away) ends the hold empty, so no answer
   * is ever handed to a request nobody reads. @default undefined
   */
  signal?: AbortSignal;
}

interface Waiter<M, R> {
  readonly meta: M;
  readonly signal: AbortSignal | undefined;
  settle(value: R | undefined): void;
}

/**
 * A set of held requests served in arrival order. Each waiter carries metadata `M` (for example
 * the batch size asked for) and ends with an answer `R` or `undefined` (time out, client gone,
 * {@linkcode LongPoll.releaseAll}). Holding, answering and removing a waiter are O(1).
 *
 * An aborted signal is not an error here: the hold just ends empty, and the route answers 204.
 *
 * @typeParam M The metadata of a held request.
 * @typeParam R The answer handed to a held request.
 *
 * @example Handing an answer to the first waiter
 * ```ts
 * import { LongPoll } from "./long_poll.ts";
 * const poll = new LongPoll<string, string>();
 * const held = poll.hold("w1", { timeoutMs: 60_000 });
 * poll.release((worker) => `job for ${worker}`, () => true);
 * console.assert((await held) === "job for w1");
 * ```
 */
export class LongPoll<M, R> {
  #waiters = new Set<Waiter<M, R>>();

  /** The number of requests held right now. */
  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Holds a request until it is answered.
   *
   * @param meta What the request asked for; passed to the `answer` function of
   * {@linkcode LongPoll.release}.
   * @param options The hold time and the request's signal.
   * @returns The answer, or `undefined` when the hold ended without one.
   */
  hold(meta: M, options: HoldOptions = {}): Promise<R | undefined> {
    const { timeoutMs = 1000, signal } = options;
    if (signal?.aborted || !(timeoutMs > 0)) return Promise.resolve(undefined);
    const done = deferred<R | undefined>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waiters = this.#waiters;
    const onAbort = () => waiter.settle(undefined);
    const waiter: Waiter<M, R> = {
      meta,
      signal,
      settle(value) {
        if (!waiters.delete(waiter)) return;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        done.resolve(value);
      },
    };
    waiters.add(waiter);
    if (Number.isFinite(timeoutMs)) timer = setTimeout(onAbort, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    return done.promise;
  }

  /**
   * Offers answers to the held requests, oldest first. Stops as soon as `more()` is false, so a
   * release costs nothing per waiter once the supply is exhausted.
   *
   * @param answer Builds the answer for one waiter, or returns `undefined` to skip it.
   * @param more Whether there is anything left to hand out.
   * @returns How many waiters were answered.
   */
  release(answer: (meta: M) => R | undefined, more: () => boolean): number {
    let answered = 0;
    for (const waiter of this.#waiters) {
      if (!more()) break;
      // The abort event may not have been delivered yet: never hand a job to a gone client.
      if (waiter.signal?.aborted) {
        waiter.settle(undefined);
        continue;
      }
      const value = answer(waiter.meta);
      if (value === undefined) continue;
      waiter.settle(value);
      answered++;
    }
    return answered;
  }

  /** Ends every hold at once, empty. */
  releaseAll(): void {
    for (const waiter of [...this.#waiters]) waiter.settle(undefined);
  }
}
