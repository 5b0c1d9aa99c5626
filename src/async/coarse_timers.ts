/**
 * Many timeouts sharing one timer per time slot.
 *
 * @module
 */

/** Options for {@linkcode CoarseTimers}. */
export interface CoarseTimersOptions {
  /** The slot width in ms: a timeout fires up to this much late. @default 10 */
  resolutionMs?: number;
  /** The clock, in ms. @default performance.now */
  now?: () => number;
}

/**
 * Timeouts rounded up to a slot of `resolutionMs`, with one `setTimeout` per slot however many
 * timeouts fall in it. For waits that are usually cut short (a request waiting for a job that
 * ends in microseconds), where one timer per wait would cost more than the wait's own work:
 * thousands of waits a second make at most a hundred timers a second, and a cancelled wait costs
 * a `Set` delete. Call {@linkcode CoarseTimers.clear} at shutdown.
 *
 * @example A timeout that fires, and one cancelled
 * ```ts
 * import { CoarseTimers } from "./coarse_timers.ts";
 * const timers = new CoarseTimers({ resolutionMs: 5 });
 * const fired: string[] = [];
 * timers.add(1, () => fired.push("a"));
 * const b = () => fired.push("b");
 * const slot = timers.add(1, b);
 * timers.cancel(slot, b);
 * await new Promise((resolve) => setTimeout(resolve, 30));
 * console.assert(fired.join() === "a");
 * ```
 */
export class CoarseTimers {
  readonly #resolution: number;
  readonly #now: () => number;
  readonly #slots = new Map<number, Slot>();

  /**
   * @param options Slot width and clock.
   * @throws {RangeError} When `resolutionMs` is not a positive number.
   */
  constructor(options: CoarseTimersOptions = {}) {
    const resolution = options.resolutionMs ?? 10;
    if (!(resolution > 0 && Number.isFinite(resolution))) {
      throw new RangeError(
        `'resolutionMs' must be a positive number of ms: received ${resolution}`,
      );
    }
    this.#resolution = resolution;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Callbacks waiting to fire. */
  get size(): number {
    let size = 0;
    for (const slot of this.#slots.values()) size += slot.callbacks.size;
    return size;
  }

  /**
   * Calls `callback` once, `ms` from now rounded up to the next slot.
   *
   * @param ms The delay, in ms (at least 0).
   * @param callback What to call; adding the same function twice to one slot calls it once.
   * @returns The slot's key, for {@linkcode CoarseTimers.cancel}.
   */
  add(ms: number, callback: () => void): number {
    const key = Math.ceil((this.#now() + Math.max(0, ms)) / this.#resolution);
    let slot = this.#slots.get(key);
    if (!slot) {
      const wait = Math.max(0, key * this.#resolution - this.#now());
      slot = { callbacks: new Set(), timer: setTimeout(() => this.#fire(key), wait) };
      this.#slots.set(key, slot);
    }
    slot.callbacks.add(callback);
    return key;
  }

  /**
   * Forgets a callback before it fires. The slot's timer stays until its time (then finds
   * nothing to call): clearing it when the slot empties would make a timer per wait again when
   * each wait is cut short before the next one begins.
   *
   * @param key What {@linkcode CoarseTimers.add} returned.
   * @param callback The callback given to it.
   */
  cancel(key: number, callback: () => void): void {
    this.#slots.get(key)?.callbacks.delete(callback);
  }

  /** Cancels everything (at shutdown, so no timer keeps the process alive). */
  clear(): void {
    for (const slot of this.#slots.values()) clearTimeout(slot.timer);
    this.#slots.clear();
  }

  #fire(key: number): void {
    const slot = this.#slots.get(key);
    this.#slots.delete(key);
    for (const callback of slot?.callbacks ?? []) callback();
  }
}

interface Slot {
  callbacks: Set<() => void>;
  timer: ReturnType<typeof setTimeout>;
}
