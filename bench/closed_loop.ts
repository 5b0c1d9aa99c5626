/**
 * A saturated closed loop over a {@linkcode SimulatedEngine}: a real `ConcurrencyGate` (with
 * `observe` wired to an `ObservationWindow` fed by every job's end, as the shared worker wires
 * it) admits jobs whenever it has a free slot, and its modifier is polled every `pollMs`. It runs
 * on any {@linkcode EngineClock}: the real one in the benchmark, a manual one in deterministic
 * tests (then everything runs synchronously from the clock's timers).
 *
 * @module
 */

import { ConcurrencyGate, type ConcurrencyModifier } from "../src/concurrency_gate.ts";
import { ObservationWindow } from "../src/worker/concurrency_observation.ts";
import { type EngineClock, REAL_CLOCK, type SimulatedEngine } from "./simulated_engine.ts";

/** One ended job. */
export interface JobRecord {
  /** When it ended (the clock's ms). */
  endedAt: number;
  /** Its latency in ms. */
  latencyMs: number;
  /** Whether it completed. */
  ok: boolean;
}

/** Options for {@linkcode ClosedLoop}. */
export interface ClosedLoopOptions {
  /** The engine the jobs run on. */
  engine: SimulatedEngine;
  /** The modifier; without one the limit stays `limit`. */
  modifier?: ConcurrencyModifier;
  /** The gate's initial limit. @default 1 */
  limit?: number;
  /** How often the modifier is polled (besides before every admission round). @default 100 */
  pollMs?: number;
  /** The clock. @default REAL_CLOCK */
  clock?: EngineClock;
  /** Jobs the loop may start in all (`Infinity` keeps it saturated). @default Infinity */
  jobs?: number;
}

/**
 * Keeps an engine saturated through a real gate.
 *
 * @example Ten jobs at a fixed limit
 * ```ts
 * import { ClosedLoop } from "./closed_loop.ts";
 * import { SimulatedEngine } from "./simulated_engine.ts";
 * const engine = new SimulatedEngine({ knee: 4, memoryLimit: 8, baseLatencyMs: 5 });
 * const loop = new ClosedLoop({ engine, limit: 2, jobs: 10 });
 * loop.start();
 * await loop.done;
 * console.assert(loop.records.length === 10 && loop.records.every((r) => r.ok));
 * ```
 */
export class ClosedLoop {
  /** The gate (its `limit` is the one in force). */
  readonly gate: ConcurrencyGate;
  /** Every ended job, in end order. */
  readonly records: JobRecord[] = [];
  /** Every limit change: `[time, limit]`. */
  readonly limits: [number, number][] = [];
  /** Resolves when `jobs` jobs have ended (never, when unbounded) or after `stop()` drains. */
  readonly done: Promise<void>;
  readonly #engine: SimulatedEngine;
  readonly #clock: EngineClock;
  readonly #window: ObservationWindow;
  readonly #pollMs: number;
  #left: number;
  #inFlight = 0;
  #stopped = false;
  #resolve!: () => void;

  /**
   * @param options The engine, modifier, poll period and clock.
   */
  constructor(options: ClosedLoopOptions) {
    this.#engine = options.engine;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#pollMs = options.pollMs ?? 100;
    this.#left = options.jobs ?? Infinity;
    this.#window = new ObservationWindow(() => this.#clock.now());
    this.gate = new ConcurrencyGate({
      limit: options.limit ?? 1,
      modifier: options.modifier,
      observe: (state) => this.#window.take(state),
    });
    this.done = new Promise((resolve) => this.#resolve = resolve);
    this.gate.addEventListener("limitchange", () => {
      this.limits.push([this.#clock.now(), this.gate.limit]);
      this.#fill();
    });
  }

  /** Starts admitting jobs and polling the modifier. */
  start(): void {
    this.limits.push([this.#clock.now(), this.gate.limit]);
    const poll = () => {
      if (this.#stopped) return;
      void this.gate.refresh();
      this.#fill();
      this.#clock.setTimeout(poll, this.#pollMs);
    };
    poll();
  }

  /** Stops admitting; `done` resolves once the jobs in flight have ended. */
  stop(): void {
    this.#stopped = true;
    if (this.#inFlight === 0) this.#resolve();
  }

  #fill(): void {
    while (!this.#stopped && this.#left > 0) {
      const permit = this.gate.tryAcquire();
      if (!permit) return;
      this.#left--;
      this.#inFlight++;
      this.#engine.submit((outcome) => {
        this.#inFlight--;
        this.#window.record(outcome.latencyMs, outcome.ok);
        this.records.push({
          endedAt: this.#clock.now(),
          latencyMs: outcome.latencyMs,
          ok: outcome.ok,
        });
        permit.release();
        if (this.#left === 0 && this.#inFlight === 0) this.stop();
        if (this.#stopped) {
          if (this.#inFlight === 0) this.#resolve();
        } else this.#fill();
      });
    }
  }
}
