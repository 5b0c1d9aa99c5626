/**
 * A simulated inference engine with a knee and a memory limit, for the adaptive-concurrency tests,
 * the benchmark and `examples/adaptive-engine`. Web APIs only, so every runtime can run it.
 *
 * The model is a continuous-batching engine (vLLM's shape): up to `knee` requests run at once in
 * its batch, each for about `baseLatencyMs`; the rest wait in its queue. So throughput rises with
 * concurrency up to the knee K and is flat above it, while latency grows in proportion
 * (`baseLatencyMs × n / K` for n > K in flight). Every request it holds (running or waiting) takes
 * memory: admitting one while `memoryLimit` M are held fails it as an out-of-memory engine would.
 * K, M and the base latency can change at any time (a longer prompt mix, say). It serves
 * vLLM-shaped Prometheus metrics through {@linkcode SimulatedEngine.fetch}.
 *
 * @module
 */

/** The timers the engine runs on: the real ones, or a manual clock in deterministic tests. */
export interface EngineClock {
  /** The time in ms. */
  now(): number;
  /** Calls `fn` after `ms`. */
  setTimeout(fn: () => void, ms: number): unknown;
}

/** The real clock: `performance.now()` and `setTimeout`. */
export const REAL_CLOCK: EngineClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
};

/** Options for {@linkcode SimulatedEngine}. */
export interface SimulatedEngineOptions {
  /** K: how many requests run at once in the batch (throughput is flat above it). */
  knee: number;
  /** M: how many requests the engine can hold (running plus waiting); one more fails as OOM. */
  memoryLimit: number;
  /** Time in the batch of one request, before jitter. @default 200 */
  baseLatencyMs?: number;
  /** Each request's time in the batch is `baseLatencyMs × (1 ± jitter)`, uniformly. @default 0.2 */
  jitter?: number;
  /** How long an out-of-memory failure takes to surface. @default 5 */
  oomLatencyMs?: number;
  /** Seed of the jitter's pseudo-random sequence (the same seed gives the same run). @default 1 */
  seed?: number;
  /** The clock. @default REAL_CLOCK */
  clock?: EngineClock;
  /** The `model_name` label of the metrics. @default "simulated" */
  modelName?: string;
  /**
   * The KV-cache gauge's name: vLLM ≥ 0.10 serves `vllm:kv_cache_usage_perc`, older versions
   * `vllm:gpu_cache_usage_perc`. @default "vllm:kv_cache_usage_perc"
   */
  cacheMetric?: "vllm:kv_cache_usage_perc" | "vllm:gpu_cache_usage_perc";
}

/** The outcome of one request. */
export interface EngineOutcome {
  /** `true` when it completed; `false` when it failed as out of memory. */
  ok: boolean;
  /** From submission to the end, in ms (the engine's clock). */
  latencyMs: number;
}

/** Thrown (by {@linkcode SimulatedEngine.generate}) for a request that ran out of memory. */
export class EngineOutOfMemoryError extends Error {
  /**
   * @param held The requests the engine held when this one arrived.
   * @param limit The memory limit then.
   */
  constructor(held: number, limit: number) {
    super(`CUDA out of memory: the engine holds ${held} requests and has room for ${limit}`);
    this.name = "EngineOutOfMemoryError";
  }
}

interface Pending {
  submittedAt: number;
  done: (outcome: EngineOutcome) => void;
}

/**
 * A simulated continuous-batching engine (see the module doc for the model).
 *
 * @example A batch of 2, room for 3
 * ```ts
 * import { SimulatedEngine } from "./simulated_engine.ts";
 * const engine = new SimulatedEngine({ knee: 2, memoryLimit: 3, baseLatencyMs: 10 });
 * const runs = [1, 2, 3].map(() => engine.generate());
 * console.assert(engine.running === 2 && engine.waiting === 1); // the third waits for a slot
 * const oom = await engine.generate().then(() => false, () => true); // the fourth: no memory
 * await Promise.all(runs);
 * console.assert(oom && engine.completed === 3 && engine.failed === 1);
 * ```
 */
export class SimulatedEngine {
  #knee: number;
  #memoryLimit: number;
  #baseLatencyMs: number;
  readonly #jitter: number;
  readonly #oomLatencyMs: number;
  readonly #clock: EngineClock;
  readonly #modelName: string;
  readonly #cacheMetric: string;
  #seed: number;
  #running = 0;
  #queue: Pending[] = [];
  #head = 0;
  #completed = 0;
  #failed = 0;

  /**
   * Creates an idle engine.
   *
   * @param options Knee, memory limit, latency and clock.
   * @throws {RangeError} When the knee or the memory limit is not a positive integer, the base
   * latency is not positive, or the jitter is outside [0, 1).
   */
  constructor(options: SimulatedEngineOptions) {
    this.#knee = checkCount(options.knee, "knee");
    this.#memoryLimit = checkCount(options.memoryLimit, "memoryLimit");
    this.#baseLatencyMs = checkPositive(options.baseLatencyMs ?? 200, "baseLatencyMs");
    this.#jitter = options.jitter ?? 0.2;
    if (!(this.#jitter >= 0 && this.#jitter < 1)) {
      throw new RangeError(`'jitter' must be in [0, 1): received ${this.#jitter}`);
    }
    this.#oomLatencyMs = options.oomLatencyMs ?? 5;
    this.#seed = (options.seed ?? 1) >>> 0;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#modelName = options.modelName ?? "simulated";
    this.#cacheMetric = options.cacheMetric ?? "vllm:kv_cache_usage_perc";
  }

  /** K: the batch size (changing it admits waiting requests at once when it grows). */
  get knee(): number {
    return this.#knee;
  }
  set knee(value: number) {
    this.#knee = checkCount(value, "knee");
    this.#fill();
  }

  /** M: the requests the engine can hold; requests already held keep running when it shrinks. */
  get memoryLimit(): number {
    return this.#memoryLimit;
  }
  set memoryLimit(value: number) {
    this.#memoryLimit = checkCount(value, "memoryLimit");
  }

  /** The time in the batch of one request, before jitter (applies to requests entering it). */
  get baseLatencyMs(): number {
    return this.#baseLatencyMs;
  }
  set baseLatencyMs(value: number) {
    this.#baseLatencyMs = checkPositive(value, "baseLatencyMs");
  }

  /** Requests in the batch now. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting in the engine's queue now. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Requests that completed so far. */
  get completed(): number {
    return this.#completed;
  }

  /** Requests that failed as out of memory so far. */
  get failed(): number {
    return this.#failed;
  }

  /** The share of memory held, 0 to 1 (vLLM's KV-cache usage). */
  get cacheUsage(): number {
    return Math.min(1, (this.#running + this.waiting) / this.#memoryLimit);
  }

  /**
   * Submits a request; `done` is called once with its outcome (synchronously from the clock's
   * timer, which is what deterministic tests need).
   *
   * @param done Receives the outcome.
   */
  submit(done: (outcome: EngineOutcome) => void): void {
    const submittedAt = this.#clock.now();
    const held = this.#running + this.waiting;
    if (held >= this.#memoryLimit) {
      this.#clock.setTimeout(() => {
        this.#failed++;
        done({ ok: false, latencyMs: this.#clock.now() - submittedAt });
      }, this.#oomLatencyMs);
      return;
    }
    this.#queue.push({ submittedAt, done });
    this.#fill();
  }

  /**
   * Runs one request.
   *
   * @param options `signal` only stops the wait for the outcome (the engine finishes the work).
   * @returns Its latency.
   * @throws {EngineOutOfMemoryError} When the engine was full.
   */
  generate(options: { signal?: AbortSignal } = {}): Promise<EngineOutcome> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const held = this.#running + this.waiting;
    const limit = this.#memoryLimit;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.submit((outcome) => {
        signal?.removeEventListener("abort", onAbort);
        if (outcome.ok) resolve(outcome);
        else reject(new EngineOutOfMemoryError(held, limit));
      });
    });
  }

  /**
   * The engine's metrics in Prometheus text format, named as vLLM names them.
   *
   * @returns The exposition text.
   */
  metricsText(): string {
    const labels = `{model_name="${this.#modelName}"}`;
    const gauge = (name: string, help: string, value: number) =>
      `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}${labels} ${value}\n`;
    const counter = (name: string, help: string, value: number) =>
      `# HELP ${name} ${help}\n# TYPE ${name} counter\n${name}${labels} ${value}\n`;
    return gauge(
      "vllm:num_requests_running",
      "Number of requests in model execution batches.",
      this.#running,
    ) +
      gauge(
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        this.waiting,
      ) +
      gauge(this.#cacheMetric, "KV-cache usage. 1 means 100 percent usage.", this.cacheUsage) +
      counter(
        "vllm:request_success_total",
        "Count of successfully processed requests.",
        this.#completed,
      );
  }

  /**
   * A Web `fetch` handler: `GET /metrics` serves {@linkcode SimulatedEngine.metricsText}; anything
   * else is 404. Serve it with `Runtime.serve` on 127.0.0.1.
   *
   * @param request The request.
   * @returns The response.
   */
  fetch = (request: Request): Response => {
    const url = new URL(request.url);
    if (request.method !== "GET" || url.pathname !== "/metrics") {
      return new Response("Not found: the simulated engine serves GET /metrics\n", { status: 404 });
    }
    return new Response(this.metricsText(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  };

  #fill(): void {
    while (this.#running < this.#knee && this.#head < this.#queue.length) {
      const next = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Pending;
      this.#running++;
      const spread = this.#jitter * (2 * this.#random() - 1);
      this.#clock.setTimeout(() => {
        this.#running--;
        this.#completed++;
        next.done({ ok: true, latencyMs: this.#clock.now() - next.submittedAt });
        this.#fill();
      }, this.#baseLatencyMs * (1 + spread));
    }
    if (this.#head > 0 && this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** mulberry32: a small seeded generator, so runs are reproducible. */
  #random(): number {
    let t = (this.#seed = (this.#seed + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

function checkCount(value: number, name: string): number {
  if (!(Number.isInteger(value) && value >= 1)) {
    throw new RangeError(`'${name}' must be a positive integer: received ${value}`);
  }
  return value;
}

function checkPositive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`'${name}' must be a positive number: received ${value}`);
  }
  return value;
}
