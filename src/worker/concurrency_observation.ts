/**
 * What the worker saw between two calls of the concurrency modifier: the second argument of
 * `concurrencyModifier(current, observed)`, gathered for every intake by the shared worker.
 *
 * @module
 */

/** How many latency samples a window keeps at most; later ones replace random earlier ones. */
export const MAX_LATENCY_SAMPLES = 1024;

/**
 * The worker's view since the previous modifier call (or since start, for the first call).
 * Existing one-argument modifiers simply ignore it.
 */
export interface ConcurrencyObservation {
  /** Milliseconds covered by this window. */
  intervalMs: number;
  /** Jobs that ended COMPLETED in the window. */
  completed: number;
  /** Jobs that ended FAILED in the window (handler errors, timeouts; not stops or cancels). */
  failed: number;
  /**
   * Execution times (admitted to final result, ms) of the jobs that ended in the window, in the
   * order they ended. At most {@linkcode MAX_LATENCY_SAMPLES}: past that, a uniform reservoir
   * sample of them, in no particular order.
   */
  latenciesMs: number[];
  /** Jobs holding a slot now. */
  running: number;
  /** Jobs waiting for a slot now. */
  waiting: number;
  /** The limit in force now (the modifier's `current`). */
  limit: number;
}

/**
 * Gathers a {@linkcode ConcurrencyObservation} window: jobs report as they end, the modifier's
 * caller takes the window and a new one begins. Bounded memory whatever the throughput.
 *
 * @example Two windows
 * ```ts
 * import { ObservationWindow } from "./concurrency_observation.ts";
 * const window = new ObservationWindow(() => 0);
 * window.record(12, true);
 * window.record(30, false);
 * const seen = window.take({ running: 1, waiting: 0, limit: 4 });
 * console.assert(seen.completed === 1 && seen.failed === 1 && seen.latenciesMs.length === 2);
 * console.assert(window.take({ running: 0, waiting: 0, limit: 4 }).completed === 0);
 * ```
 */
export class ObservationWindow {
  readonly #now: () => number;
  #since: number;
  #completed = 0;
  #failed = 0;
  #seen = 0;
  #samples: number[] = [];

  /**
   * Opens the first window.
   *
   * @param now The clock, in ms. @default performance.now
   */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#since = now();
  }

  /**
   * Records one ended job.
   *
   * @param latencyMs Its execution time.
   * @param ok Whether it completed (else it failed).
   */
  record(latencyMs: number, ok: boolean): void {
    if (ok) this.#completed++;
    else this.#failed++;
    const seen = this.#seen++;
    if (seen < MAX_LATENCY_SAMPLES) this.#samples.push(latencyMs);
    else {
      const slot = Math.floor(Math.random() * (seen + 1));
      if (slot < MAX_LATENCY_SAMPLES) this.#samples[slot] = latencyMs;
    }
  }

  /**
   * Closes the window, returns it with the gate's state, and opens the next.
   *
   * @param state The gate's `running`, `waiting` and `limit` now.
   * @returns The observation.
   */
  take(state: { running: number; waiting: number; limit: number }): ConcurrencyObservation {
    const now = this.#now();
    const observed: ConcurrencyObservation = {
      intervalMs: now - this.#since,
      completed: this.#completed,
      failed: this.#failed,
      latenciesMs: this.#samples,
      running: state.running,
      waiting: state.waiting,
      limit: state.limit,
    };
    this.#since = now;
    this.#completed = 0;
    this.#failed = 0;
    this.#seen = 0;
    this.#samples = [];
    return observed;
  }
}
