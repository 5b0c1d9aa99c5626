/**
 * `adaptiveConcurrency()`: a concurrency modifier that finds the engine's best limit from the
 * latencies and failures the worker observes, and follows it when it moves.
 *
 * ## The algorithm, and why this one
 *
 * It is a gradient controller over a measured latency floor, as Envoy's adaptive-concurrency
 * filter, with two changes taken from Netflix's `concurrency-limits` and TCP:
 *
 * - **Floor (Envoy's minRTT).** The floor is the latency quantile measured while the limit is
 *   held at `probeFactor ×` the limit (two thirds, by default). It is measured at start, then every
 *   `probeIntervalMs` (with ±15 % jitter, so that a fleet does not probe in step), and early: when
 *   the limit sits at `min` for 5 windows (as Envoy does); when latency beats the floor by 20 %
 *   (the floor was measured in a slow moment, or the engine got faster); and when the limit fell
 *   by 30 % over 3 windows or more. Then, if the new floor explains the latency that drove it
 *   down (a slow moment of the worker's own event loop, longer prompts), the decrease is undone;
 *   if not (the knee itself fell), the lower limit stays. Envoy probes at a
 *   concurrency of 3; an LLM engine loses most of its throughput there, and any concurrency at or
 *   below its knee shows the same floor. The limit settles near 1.1 × the knee, so two thirds of
 *   it is below the knee (for any limit up to 1.5 × the knee) and costs much less.
 * - **Gradient.** A window opens at each decision. The jobs in flight then were admitted under
 *   the previous limit, so their ends are skipped; the next `max(minSamples, limit / 4)` ends give
 *   a sample, the `quantile` of their latencies: so each window sees one limit, and lasts about
 *   one latency and a quarter. `gradient = floor × (1 +
 *   tolerance) / sample`. Above the knee, latency grows as `n / K`, so `limit × gradient` lands
 *   on `(1 + tolerance) × K` in one step; the decrease is clamped at half per window (Netflix
 *   Gradient2 and Envoy both clamp).
 * - **Growth only with demand, additive and accelerating.** When the gradient is ≥ 1 (latency near
 *   the floor) and the worker used its whole limit in the window, the limit grows by 1, then 2, 4…
 *   in consecutive windows, never by more than √limit or a third of it (Envoy's headroom is
 *   √limit). By Little's law, more
 *   jobs in flight at the same latency is more throughput, so it grows exactly while throughput
 *   grows. It starts slowly after a decrease (little overshoot near the knee) and still crosses a
 *   large change of the knee in a few seconds of short jobs.
 * - **Failures (AIMD).** When the window's failure rate exceeds the rate seen at the last floor
 *   probe by more than `failureRate` and by more than chance (4 standard deviations), the limit
 *   is multiplied by `backoff` and capped at 90 % of the failing limit until the next probe: an
 *   out-of-memory engine fails fast, so latency alone would read its failures as good news.
 *   Failures the handler has at any load (bad inputs) are in the probe's rate too, so they do not
 *   drag the limit down. Failures above that rate during a probe lower the probe's limit the same
 *   way and measure again (fast failures would make a floor and a rate of their own), and the
 *   limit comes back from where the probe found none.
 *
 * Netflix's Vegas and AIMD alone were the alternatives. Vegas aims at a queue of α…β jobs (3–6 ×
 * log10 limit), a fixed absolute excess that is too much latency for a small knee (8) and needs a
 * floor all the same. AIMD on failures alone would run every engine into its memory limit before
 * backing off. Gradient2's smoothed long-term latency drifts up under sustained overload and then
 * accepts it as normal; a periodically re-measured floor does not.
 *
 * The controller needs the worker's observations (the modifier's second argument); called without
 * them it returns its current limit unchanged. Its clock is the observations' `intervalMs`, so it
 * is deterministic when fed observations directly.
 *
 * @module
 */

import type { ConcurrencyObservation } from "../worker/concurrency_observation.ts";
import { checkInteger, checkRange, quantile } from "./_checks.ts";

/** Options for {@linkcode adaptiveConcurrency}. */
export interface AdaptiveConcurrencyOptions {
  /** The lowest limit. @default 1 */
  min?: number;
  /** The highest limit. @default 256 (or `min`, when that is higher) */
  max?: number;
  /** The limit at start, where the first floor is measured. @default 4 (clamped to min…max) */
  initial?: number;
  /**
   * How far above the floor latency may be and still count as "at the floor": the limit settles
   * where latency is about `1 + tolerance` times the floor. @default 0.1
   */
  tolerance?: number;
  /** The latency quantile compared with the floor (0.5 is the median). @default 0.5 */
  quantile?: number;
  /** The fewest ended jobs in a window (and in a floor measurement). @default 8 */
  minSamples?: number;
  /** Failure rate above the probe's that triggers a back-off. @default 0.05 */
  failureRate?: number;
  /** The factor applied to the limit on a back-off for failures. @default 0.7 */
  backoff?: number;
  /**
   * How often the floor is re-measured, in ms (at least every 30 floors, so that probing costs a
   * few % at most with long jobs); jittered by ±15 %. @default 30000
   */
  probeIntervalMs?: number;
  /** The share of the limit held while the floor is measured. @default 0.67 */
  probeFactor?: number;
  /**
   * A random source in [0, 1) for the probe jitter; a value outside [0, 1] counts as its nearest
   * bound, and one that is not a number (NaN) as 0.5. @default Math.random
   */
  random?: () => number;
}

/** What the controller is doing, for logs, tests and benchmarks. */
export interface AdaptiveConcurrencyState {
  /** `"probe"` while the floor is being measured, else `"run"`. */
  phase: "probe" | "run";
  /**
   * The limit it returns now: the gate applies it clamped to `maxConcurrency`, and the next call
   * continues from the clamped value (the gate's own `limit` is what runs).
   */
  limit: number;
  /** The measured latency floor in ms (`undefined` before the first measurement). */
  floorMs: number | undefined;
  /** The cap set by failures until the next probe (`Infinity` when none). */
  ceiling: number;
  /** Floor measurements so far (the first included). */
  probes: number;
}

/** A synchronous `ConcurrencyModifier` that also reports its state. */
export interface AdaptiveConcurrencyModifier {
  /** The modifier itself: always answers at once, with a number. */
  (current: number, observed?: ConcurrencyObservation): number;
  /** A snapshot of the controller's state. */
  readonly state: AdaptiveConcurrencyState;
}

const MAX_BUFFERED = 4096;
const AT_MIN_WINDOWS = 5;
const PROBE_FLOORS = 30;
const FAILURE_MIN = 3;
/**
 * How many standard deviations above the probe's failure rate a window's failures must be. A
 * window holds a dozen ends or so: at a 10 % rate the handler has at any load, 5 failures of 12
 * come by chance every few hundred windows (a minute), and each backed the limit off by 30 %
 * and capped it until the next probe: the limit sat far below the knee. Out of memory, failures
 * stand out far more than that: failing fast, the jobs over the limit end many times as often.
 */
const FAILURE_Z = 4;
/**
 * The smallest latency the modifier tells apart, in ms: the worker reports whole milliseconds,
 * so a handler faster than that measures 0, and a floor of 0 made the gradient 0/0 (NaN).
 */
const RESOLUTION_MS = 1;

/**
 * Creates an adaptive concurrency modifier (see the module documentation for the algorithm).
 * Pass it as `concurrencyModifier`; the worker feeds it what it observed since the last call.
 *
 * @param options Bounds and the algorithm's knobs; the defaults suit a typical LLM engine.
 * @returns The modifier, with a `state` snapshot.
 * @throws {TypeError} When a bound or knob is not a number (a string from the environment, say),
 * or `random` is not a function.
 * @throws {RangeError} When a bound or knob is out of range (e.g. `min` above `max`).
 *
 * @example Feeding it observations directly
 * ```ts
 * import { adaptiveConcurrency } from "./adaptive_concurrency.ts";
 * const modifier = adaptiveConcurrency({ initial: 4 });
 * // `ended` jobs of `latency` ms ended since the last call; the whole limit is in use.
 * const seen = (limit: number, latency: number, ended: number) => ({
 *   intervalMs: 100, completed: ended, failed: 0, latenciesMs: Array(ended).fill(latency),
 *   running: limit, waiting: 0, limit,
 * });
 * let limit = modifier(4, seen(4, 100, 16)); // the floor: 100 ms, measured at 4
 * console.assert(modifier.state.floorMs === 100 && limit === 4);
 * limit = modifier(limit, seen(limit, 100, 12)); // the 4 in flight, then 8 more at the floor
 * console.assert(limit === 5);
 * limit = modifier(limit, seen(limit, 150, 13)); // latency 1.5 × the floor: back off
 * console.assert(limit === 4); // 5 × 100 × 1.1 / 150, rounded
 * ```
 */
export function adaptiveConcurrency(
  options: AdaptiveConcurrencyOptions = {},
): AdaptiveConcurrencyModifier {
  const min = checkInteger(options.min ?? 1, "min", 1);
  // `{ min: 300 }` alone was refused for a `max` the caller never gave ("received 256").
  const max = checkInteger(options.max ?? Math.max(256, min), "max", min);
  const initial = Math.min(max, Math.max(min, checkInteger(options.initial ?? 4, "initial", 1)));
  const tolerance = checkRange(options.tolerance ?? 0.1, "tolerance", 0, 10);
  const q = checkRange(options.quantile ?? 0.5, "quantile", 0, 1);
  const minSamples = checkInteger(options.minSamples ?? 8, "minSamples", 1);
  const failureRate = checkRange(options.failureRate ?? 0.05, "failureRate", 0, 1);
  const backoff = checkRange(options.backoff ?? 0.7, "backoff", 0.01, 0.99);
  const probeIntervalMs = checkRange(options.probeIntervalMs ?? 30_000, "probeIntervalMs", 1);
  const probeFactor = checkRange(options.probeFactor ?? 0.67, "probeFactor", 0.01, 1);
  const random = options.random ?? Math.random;
  if (typeof random !== "function") {
    throw new TypeError(
      `'random' must be a function returning a number in [0, 1): received ${typeof random}`,
    );
  }
  /** The jitter's draw: a NaN made the next probe never come, a negative one come at once. */
  const draw = (): number => {
    const value = random();
    return typeof value === "number" && !Number.isNaN(value)
      ? Math.min(1, Math.max(0, value))
      : 0.5;
  };

  let limit = initial; // fractional inside; rounded when returned
  let returned = initial;
  let floorMs: number | undefined;
  let probeFailures = 0;
  let ceiling = Infinity;
  let probes = 0;
  let clock = 0;
  let nextProbeAt = Infinity;
  let growStreak = 0;
  let atMin = 0;
  let falling:
    | { windows: number; firstSample: number; lastSample: number; startLimit: number }
    | undefined;
  // The probe: the limit held, the limit to restore, whether the jobs above it have drained.
  let probe: {
    limit: number;
    restore: number;
    drained: boolean;
    /** Set when falling latency triggered it: the limit before, and the latency that drove it. */
    undo?: { limit: number; sample: number };
    /** Set when jobs failed while it measured: the cap until the next probe. */
    ceiling?: number;
  } | undefined = {
    limit: initial,
    restore: initial,
    drained: true, // nothing runs yet
  };
  // The current window: `skip` jobs (in flight when it opened) end before its samples count.
  let skip = 0;
  let skipped = 0;
  let graceful = false; // the window follows a back-off for failures
  let samples: number[] = [];
  let ended = 0; // after the skipped ones
  let allEnded = 0;
  let failed = 0;
  let inUse = 0;
  let windowLimit = initial;

  const resetWindow = (running: number) => {
    graceful = false;
    skip = running;
    skipped = 0;
    samples = [];
    ended = 0;
    allEnded = 0;
    failed = 0;
    inUse = 0;
    windowLimit = limit;
  };
  const startProbe = (running: number) => {
    probe = {
      limit: Math.max(min, Math.floor(limit * probeFactor)),
      restore: limit,
      drained: false,
      undo: falling && falling.windows >= 3
        ? { limit: falling.startLimit, sample: falling.lastSample }
        : undefined,
    };
    growStreak = 0;
    falling = undefined;
    resetWindow(running);
  };
  /** The back-off factor when the window's failures exceed the last probe's rate, else 0. */
  const failureBackoff = (): number => {
    const total = Math.max(allEnded, minSamples);
    const expected = probeFailures * total;
    const chance = FAILURE_Z * Math.sqrt(Math.max(1, expected * (1 - probeFailures)));
    if (failed < FAILURE_MIN || failed <= expected + failureRate * total + chance) return 0;
    // The more jobs fail, the harder it backs off (an OOM engine fails nearly every new job).
    return Math.max(0.25, Math.min(backoff, 1 - failed / total));
  };
  const output = (value: number) => {
    returned = Math.min(max, Math.max(min, Math.round(value)));
    return returned;
  };

  const step = (observed: ConcurrencyObservation): number => {
    // A clock that stepped back (or a NaN, or Infinity) must not hold the next probe off for as
    // long, nor for ever, nor make every window a probe.
    const elapsed = observed.intervalMs;
    if (elapsed > 0 && elapsed < Infinity) clock += elapsed;
    const { running } = observed;
    // Jobs in flight when the window opened end first: drop as many ends (and their samples).
    let fresh = observed.completed + observed.failed;
    let latencies = observed.latenciesMs;
    if (skipped < skip) {
      const drop = Math.min(skip - skipped, fresh);
      skipped += drop;
      fresh -= drop;
      latencies = latencies.slice(Math.min(drop, latencies.length));
    }
    // Failures count wherever they fall (an engine out of memory must not wait a generation),
    // except right after a back-off for failures: the jobs admitted before it fail as well.
    if (!graceful || fresh === observed.completed + observed.failed) {
      failed += observed.failed;
      allEnded += observed.completed + observed.failed;
    } else {
      failed += Math.max(0, observed.failed - (observed.completed + observed.failed - fresh));
      allEnded += fresh;
    }
    ended += fresh;
    inUse = Math.max(inUse, running + observed.waiting);
    for (const latency of latencies) if (latency >= 0 && latency < Infinity) samples.push(latency);
    if (samples.length > MAX_BUFFERED) samples = samples.slice(samples.length - MAX_BUFFERED / 2);

    if (probe) {
      if (!probe.drained) {
        if (running > probe.limit) return output(probe.limit);
        probe.drained = true; // the jobs still running were admitted before the probe
        resetWindow(running);
        return output(probe.limit);
      }
      // Failing above the last probe's rate while measuring (the engine changed while the limit
      // was held, say over an idle spell): no floor to trust, nor a rate. Taken as they were, the
      // fast failures made a floor of their own and a failure rate that hid every later one, and
      // the limit ran to `max`. Measure again lower; the failing limit stays out of reach.
      const factor = probes > 0 && probe.limit > min ? failureBackoff() : 0;
      if (factor > 0) {
        probe.ceiling = Math.max(min, Math.floor(probe.limit * 0.9));
        probe.limit = Math.max(min, Math.floor(probe.limit * factor));
        probe.restore = probe.limit;
        probe.undo = undefined;
        probe.drained = false;
        resetWindow(running);
        return output(probe.limit);
      }
      if (ended < Math.max(2 * minSamples, Math.ceil(probe.limit / 2)) || samples.length === 0) {
        return output(probe.limit);
      }
      floorMs = Math.max(RESOLUTION_MS, quantile(samples, q));
      probeFailures = failed / Math.max(1, allEnded);
      probes++;
      // The floor itself rose as much as the latency that drove the limit down: the engine was
      // not overloaded (a slow moment, longer prompts), so the limit from before comes back.
      const undo = probe.undo && floorMs * (1 + tolerance) >= probe.undo.sample;
      ceiling = probe.ceiling ?? Infinity;
      limit = Math.min(max, ceiling, undo ? probe.undo!.limit : probe.restore);
      probe = undefined;
      atMin = 0;
      const interval = Math.max(probeIntervalMs, PROBE_FLOORS * floorMs);
      nextProbeAt = clock + interval * (0.85 + 0.3 * draw());
      resetWindow(running);
      return output(limit);
    }

    // Failures above the probe's rate back off at once, without waiting for a full window.
    const factor = failureBackoff();
    if (factor > 0) {
      ceiling = Math.max(min, Math.floor(Math.min(windowLimit, limit) * 0.9));
      limit = Math.max(min, Math.min(limit * factor, ceiling));
      growStreak = 0;
      falling = undefined;
      resetWindow(running);
      graceful = true;
      return output(limit);
    }
    if (clock >= nextProbeAt) {
      startProbe(running);
      return output(probe!.limit);
    }
    if (ended < Math.max(minSamples, Math.ceil(windowLimit / 4)) || samples.length === 0) {
      return output(limit);
    }

    const sample = Math.max(RESOLUTION_MS, quantile(samples, q));
    const gradient = floorMs! * (1 + tolerance) / sample;
    if (gradient >= 1) {
      falling = undefined;
      if (inUse >= Math.floor(windowLimit)) {
        // 1, 2, 4, 8… in consecutive windows, never more than max(√limit, limit / 3).
        const step = Math.min(2 ** growStreak++, Math.max(1, Math.sqrt(limit), limit / 3));
        limit = Math.min(max, ceiling, limit + step);
      }
      // Well below the floor: the engine got faster, or the floor was measured in a slow moment.
      if (sample * 1.2 < floorMs!) nextProbeAt = clock;
    } else {
      growStreak = 0;
      if (!falling) {
        falling = { windows: 0, firstSample: sample, lastSample: sample, startLimit: limit };
      }
      falling.windows++;
      falling.lastSample = sample;
      limit = Math.max(min, limit * Math.max(0.5, gradient));
      // Down by 30 % or more over 3+ windows: re-measure the floor. If it rose with the latency,
      // the decrease was a mistake and is undone; if not (the knee fell), the lower limit stays.
      if (falling.windows >= 3 && limit <= 0.7 * falling.startLimit) nextProbeAt = clock;
    }
    atMin = Math.round(limit) <= min ? atMin + 1 : 0;
    if (atMin >= AT_MIN_WINDOWS) nextProbeAt = clock;
    resetWindow(running);
    return output(limit);
  };

  const modifier = ((current: number, observed?: ConcurrencyObservation): number => {
    // The gate clamped or overrode the last value (maxConcurrency): continue from its limit.
    if (Number.isInteger(current) && current !== returned && !probe) limit = current;
    if (!observed) return output(probe ? probe.limit : limit);
    return step(observed);
  }) as AdaptiveConcurrencyModifier;
  Object.defineProperty(modifier, "state", {
    get: (): AdaptiveConcurrencyState => ({
      phase: probe ? "probe" : "run",
      limit: returned,
      floorMs,
      ceiling,
      probes,
    }),
  });
  return modifier;
}
