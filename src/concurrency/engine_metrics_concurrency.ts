/**
 * `engineMetricsConcurrency()`: a concurrency modifier driven by the engine's own Prometheus
 * endpoint (vLLM's first), so the worker admits as many jobs as the engine says it has room for.
 *
 * @module
 */

import type { Logger } from "../types.ts";
import type { ConcurrencyObservation } from "../worker/concurrency_observation.ts";
import { checkInteger, checkRange } from "./_checks.ts";
import { metricValue, parsePrometheusText, type PrometheusSample } from "./prometheus_text.ts";

/** Which metrics mean what on an engine; for each, the first name the endpoint serves is used. */
export interface EngineMetricsPreset {
  /** The preset's name, for log lines. */
  name: string;
  /** Gauges of requests the engine is running now (summed over label sets). */
  running: readonly string[];
  /** Gauges of requests waiting in the engine's own queue (summed). */
  waiting: readonly string[];
  /** Gauges of memory (KV-cache) use, 0 to 1 (the maximum over label sets). */
  cacheUsage: readonly string[];
}

/**
 * vLLM's metrics: `vllm:num_requests_running`, `vllm:num_requests_waiting`, and KV-cache usage as
 * `vllm:kv_cache_usage_perc` (vLLM ≥ 0.10) or `vllm:gpu_cache_usage_perc` (earlier), both a
 * fraction from 0 to 1 despite the name.
 */
export const VLLM_METRICS: EngineMetricsPreset = Object.freeze({
  name: "vLLM",
  running: Object.freeze(["vllm:num_requests_running"]),
  waiting: Object.freeze(["vllm:num_requests_waiting"]),
  cacheUsage: Object.freeze(["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"]),
});

/** One scrape, read through a preset. */
export interface EngineMetricsReading {
  /** Requests the engine runs. */
  running: number;
  /** Requests in its queue. */
  waiting: number;
  /** Memory use, 0 to 1 (`undefined` when the endpoint serves none of the preset's names). */
  cacheUsage: number | undefined;
}

/** Options for {@linkcode engineMetricsConcurrency}. */
export interface EngineMetricsConcurrencyOptions {
  /** The engine's metrics URL, e.g. `http://127.0.0.1:8000/metrics`. */
  url: string | URL;
  /** The metric names. @default VLLM_METRICS */
  preset?: EngineMetricsPreset;
  /** The lowest limit. @default 1 */
  min?: number;
  /** The highest limit. @default 256 (or `min`, when that is higher) */
  max?: number;
  /** The limit until the first good scrape. @default 4 (clamped to min…max) */
  initial?: number;
  /** The least time between scrapes, in ms (scrapes start from modifier calls). @default 250 */
  intervalMs?: number;
  /**
   * A scrape that takes longer is abandoned (and counts as failed); at most 2147483647, or
   * `Infinity` for none. @default 2000
   */
  timeoutMs?: number;
  /** Requests allowed to wait in the engine's queue, so its batch refills at once. @default 1 */
  queueTarget?: number;
  /** The memory use the limit keeps below (the engine fails or preempts when full). @default 0.9 */
  cacheTarget?: number;
  /** How much the limit grows per scrape while the engine has room. @default 0.25 */
  growth?: number;
  /** Headers sent with each scrape (e.g. `Authorization`). @default none */
  headers?: HeadersInit;
  /** The fetch function. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Receives one warning when scraping starts failing and one line when it recovers. */
  logger?: Pick<Logger, "warn" | "info">;
  /** The clock, in ms. @default performance.now */
  now?: () => number;
}

/** What the modifier is doing, for logs, tests and benchmarks. */
export interface EngineMetricsState {
  /** The limit it returns now. */
  limit: number;
  /** The last good reading (`undefined` before the first). */
  reading: EngineMetricsReading | undefined;
  /** Good scrapes so far. */
  scrapes: number;
  /** Failed scrapes so far. */
  failures: number;
  /** Whether the last scrape failed. */
  failing: boolean;
}

/** A synchronous `ConcurrencyModifier` that also reports its state. */
export interface EngineMetricsModifier {
  /** The modifier itself: always answers at once, with a number. */
  (current: number, observed?: ConcurrencyObservation): number;
  /** A snapshot of the modifier's state. */
  readonly state: EngineMetricsState;
  /** Waits for the scrape in flight, if any (tests; the worker never waits). */
  settled(): Promise<void>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** The longest delay a timer keeps (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Creates a modifier that follows the engine's own view of its load. Each call returns the
 * current decision at once; when the last scrape is older than `intervalMs`, a new one starts in
 * the background (one at a time, bounded by `timeoutMs`). On each good scrape:
 *
 * - the engine queues more than `queueTarget` requests: its batch is full, so the limit becomes
 *   what it runs plus `queueTarget` (at once, however far that is below the current limit);
 * - it queues fewer (none, with the default `queueTarget` of 1): it has room, so when the worker
 *   used its whole limit and memory is below `cacheTarget`, the limit grows by `growth` (at
 *   least 1); with exactly `queueTarget` waiting, the limit holds;
 * - in every case the limit stays where the memory per request held predicts `cacheTarget`;
 * - between scrapes, when more than 5 % of the jobs the worker saw end failed (an engine out of
 *   memory fails fast), the limit is halved at once, once per scrape.
 *
 * A failed scrape (network error, timeout, non-2xx, unparsable text, missing gauges) keeps the
 * last good limit; the first failure logs one warning, the recovery one line.
 *
 * @param options The endpoint, preset and bounds.
 * @returns The modifier.
 * @throws {TypeError} When `url` is not a valid URL.
 * @throws {RangeError} When a bound or knob is out of range.
 *
 * @example Against a metrics endpoint
 * ```ts ignore
 * import { engineMetricsConcurrency } from "edgepod";
 * start({ handler, concurrencyModifier: engineMetricsConcurrency({ url: "http://127.0.0.1:8000/metrics" }) });
 * ```
 *
 * @example With a fetch that serves fixed metrics
 * ```ts
 * import { engineMetricsConcurrency } from "./engine_metrics_concurrency.ts";
 * const text = "vllm:num_requests_running 6\nvllm:num_requests_waiting 3\nvllm:kv_cache_usage_perc 0.5\n";
 * const modifier = engineMetricsConcurrency({
 *   url: "http://engine.invalid/metrics",
 *   fetch: () => Promise.resolve(new Response(text)),
 * });
 * console.assert(modifier(4) === 4); // starts the first scrape, returns the initial limit
 * await modifier.settled();
 * console.assert(modifier(4) === 7); // 6 running + 1 allowed to wait
 * ```
 */
export function engineMetricsConcurrency(
  options: EngineMetricsConcurrencyOptions,
): EngineMetricsModifier {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError(`'url' must be an absolute URL: received ${String(options.url)}`);
  }
  const preset = options.preset ?? VLLM_METRICS;
  const min = checkInteger(options.min ?? 1, "min", 1);
  // Without a `max`, a `min` above 256 is the ceiling too (not a refusal of a `max` never given).
  const max = checkInteger(options.max ?? Math.max(256, min), "max", min);
  const initial = Math.min(max, Math.max(min, checkInteger(options.initial ?? 4, "initial", 1)));
  const intervalMs = checkRange(options.intervalMs ?? 250, "intervalMs", 0);
  const timeoutMs = options.timeoutMs === Infinity
    ? Infinity
    : checkRange(options.timeoutMs ?? 2000, "timeoutMs", 1, MAX_TIMER_MS);
  const queueTarget = checkInteger(options.queueTarget ?? 1, "queueTarget", 0);
  const cacheTarget = checkRange(options.cacheTarget ?? 0.9, "cacheTarget", 0.01, 1);
  const growth = checkRange(options.growth ?? 0.25, "growth", 0, 10);
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const logger = options.logger ?? console;
  const now = options.now ?? (() => performance.now());

  let limit = initial;
  let returned: number | undefined;
  let reading: EngineMetricsReading | undefined;
  let scrapes = 0;
  let failures = 0;
  let failing = false;
  /** The invalid line last warned of: each distinct one is logged once, not every scrape. */
  let warnedInvalid: string | undefined;
  let inFlight: Promise<void> | undefined;
  let lastStart = -Infinity;
  let demand = true; // whether the worker used its whole limit since the last scrape
  let ended = 0; // jobs ended, and failed, since the last failure check
  let failed = 0;
  let backedOff = false; // at most one failure back-off between two scrapes

  const decide = (r: EngineMetricsReading) => {
    let next = limit;
    if (r.waiting > queueTarget) next = r.running + queueTarget;
    else if (r.waiting < Math.max(1, queueTarget) && demand && (r.cacheUsage ?? 0) < cacheTarget) {
      next = limit + Math.max(1, Math.round(limit * growth));
    }
    const held = r.running + r.waiting;
    if (r.cacheUsage !== undefined && r.cacheUsage > 0 && held > 0) {
      // Memory per held request predicts where the engine fills; stay below cacheTarget of it.
      next = Math.min(next, Math.floor(cacheTarget * held / r.cacheUsage));
    }
    limit = Math.min(max, Math.max(min, Math.round(next)));
    demand = false;
    backedOff = false;
  };

  const scrape = async () => {
    // A timer of our own, not AbortSignal.timeout(): Node does not keep the process alive for
    // the latter, so a hung scrape (and `settled()`) could outlive the event loop.
    const abort = new AbortController();
    // Infinity is no timeout (a timer past 2^31 - 1 ms would fire at once).
    const timer = timeoutMs === Infinity ? undefined : setTimeout(
      () =>
        abort.abort(new DOMException(`the scrape timed out after ${timeoutMs} ms`, "TimeoutError")),
      timeoutMs,
    );
    try {
      const response = await fetchFn(url, { headers: options.headers, signal: abort.signal });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      // A line that is not a valid sample (an engine's odd new metric) is skipped, not the scrape:
      // only the few gauges read here matter, and a missing one fails the read below anyway.
      let invalid: SyntaxError | undefined;
      let invalidLines = 0;
      const samples = parsePrometheusText(await boundedText(response), {
        onInvalidLine: (error) => void (invalidLines++, invalid ??= error),
      });
      let r: EngineMetricsReading;
      try {
        r = readPreset(samples, preset);
      } catch (error) {
        if (invalid === undefined) throw error;
        throw new Error(`${describe(error)} (${invalid.message})`);
      }
      if (invalid !== undefined && invalid.message !== warnedInvalid) {
        warnedInvalid = invalid.message;
        logger.warn(
          `Skipped ${invalidLines} line${invalidLines === 1 ? "" : "s"} of ${url} that ${
            invalidLines === 1 ? "is not a" : "are not"
          } valid Prometheus sample${invalidLines === 1 ? "" : "s"}; the first: ${invalid.message}`,
        );
      }
      scrapes++;
      if (failing) {
        failing = false;
        logger.info(`Engine metrics at ${url} are back; concurrency follows them again`);
      }
      reading = r;
      decide(r);
    } catch (error) {
      failures++;
      if (!failing) {
        failing = true;
        logger.warn(
          `Cannot scrape ${preset.name} metrics at ${url}: ${
            describe(error)
          }; keeping concurrency ${limit} until a scrape succeeds`,
        );
      }
    } finally {
      clearTimeout(timer);
    }
  };

  const modifier = ((current: number, observed?: ConcurrencyObservation): number => {
    // The gate clamped or overrode the last value (maxConcurrency): continue from its limit.
    if (returned !== undefined && Number.isInteger(current) && current !== returned) {
      limit = current;
    }
    if (observed) {
      if (observed.running + observed.waiting >= observed.limit) demand = true;
      ended += observed.completed + observed.failed;
      failed += observed.failed;
      // Jobs failing (an engine out of memory fails fast) halve the limit at once, without
      // waiting for the next scrape; the scrape that follows decides from the engine again.
      if (failed >= 3 && failed > 0.05 * ended) {
        if (!backedOff) limit = Math.max(min, Math.floor(limit / 2));
        backedOff = true;
        demand = false;
        ended = failed = 0;
      } else if (ended >= 1000) ended = failed = 0;
    } else demand = true;
    if (!inFlight && now() - lastStart >= intervalMs) {
      lastStart = now();
      inFlight = scrape().finally(() => inFlight = undefined);
    }
    returned = limit;
    return limit;
  }) as EngineMetricsModifier;
  Object.defineProperty(modifier, "state", {
    get: (): EngineMetricsState => ({ limit, reading, scrapes, failures, failing }),
  });
  modifier.settled = () => inFlight ?? Promise.resolve();
  return modifier;
}

/**
 * Reads a preset's gauges from parsed samples.
 *
 * @param samples The parsed exposition.
 * @param preset The metric names.
 * @returns The reading.
 * @throws {Error} When the running or the waiting gauge is missing.
 *
 * @example
 * ```ts
 * import { readPreset, VLLM_METRICS } from "./engine_metrics_concurrency.ts";
 * import { parsePrometheusText } from "./prometheus_text.ts";
 * const r = readPreset(parsePrometheusText("vllm:num_requests_running 2\nvllm:num_requests_waiting 0\n"), VLLM_METRICS);
 * console.assert(r.running === 2 && r.cacheUsage === undefined);
 * ```
 */
export function readPreset(
  samples: readonly PrometheusSample[],
  preset: EngineMetricsPreset,
): EngineMetricsReading {
  const first = (names: readonly string[], how: "sum" | "max") => {
    for (const name of names) {
      const value = metricValue(samples, name, how);
      if (value !== undefined && Number.isFinite(value)) return value;
    }
    return undefined;
  };
  const running = first(preset.running, "sum");
  const waiting = first(preset.waiting, "sum");
  if (running === undefined || waiting === undefined) {
    throw new Error(
      `the endpoint serves none of ${[...preset.running, ...preset.waiting].join(", ")}`,
    );
  }
  const usage = first(preset.cacheUsage, "max");
  return {
    running: Math.max(0, running),
    waiting: Math.max(0, waiting),
    cacheUsage: usage === undefined ? undefined : Math.min(1, Math.max(0, usage)),
  };
}

async function boundedText(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new Error(`the metrics body is larger than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.name === "TimeoutError" ? "timed out" : `${error.message}`;
  }
  return String(error);
}
