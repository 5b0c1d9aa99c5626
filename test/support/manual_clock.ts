/**
 * A manual clock for deterministic tests of timed code (the simulated engine, the closed loop):
 * time moves only when the test advances it, and due timers run in time order, synchronously.
 *
 * @module
 */

import type { EngineClock } from "../../bench/simulated_engine.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock whose time moves only through {@linkcode ManualClock.advance}. */
export class ManualClock implements EngineClock {
  #now = 0;
  #seq = 0;
  #timers: Timer[] = []; // sorted by (at, seq)

  /** The time in ms. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + `ms` (timers at the same time run in the order they were set). */
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    let low = 0;
    let high = this.#timers.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      const t = this.#timers[mid]!;
      if (t.at < timer.at || (t.at === timer.at && t.seq < timer.seq)) low = mid + 1;
      else high = mid;
    }
    this.#timers.splice(low, 0, timer);
    return timer;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    while (this.#timers.length > 0 && this.#timers[0]!.at <= target) {
      const timer = this.#timers.shift()!;
      this.#now = timer.at;
      timer.fn();
    }
    this.#now = target;
  }
}
