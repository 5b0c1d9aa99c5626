/**
 * The RunPod queue simulator's facade: queue, faults, ledger, waits and the Hono app.
 *
 * @module
 */

import type { Hono } from "hono";
import { createApp } from "./_create_app.ts";
import { SimulatorCore } from "./_core.ts";
import { jobEntry, rawText } from "./_queue_entry.ts";
import type { FaultOptions, SimulatorFault, SimulatorRoute } from "./faults.ts";
import type { Ledger, SimulatorReport } from "./ledger.ts";
import type {
  PingRecord,
  RecordedRequest,
  SimulatorCounters,
  UnhealthyReport,
} from "./request_log.ts";
import { simulatorEnv, type SimulatorEnvOptions } from "./simulator_env.ts";
import type {
  RawJobOptions,
  SimulatorJob,
  SimulatorOptions,
  StopOptions,
} from "./simulator_options.ts";
import { waitFor, type WaitForOptions } from "./wait_for.ts";

/**
 * A RunPod queue simulator. See {@linkcode createSimulator}.
 *
 * Dispatches a `SimulatorEvent` for every recorded thing (types in `SIMULATOR_EVENT_TYPES`),
 * which is what {@linkcode Simulator.waitFor} listens to.
 *
 * @example Waiting for a held take, then feeding it
 * ```ts
 * import { Simulator } from "./simulator.ts";
 * const sim = new Simulator({ longPollMs: 60_000 });
 * const held = sim.fetch(new Request("http://sim/v2/ep/job-take-batch/w1?batch_size=2"));
 * await sim.waitFor(() => sim.held.take === 1);
 * sim.enqueueMany([{ input: 1 }, { input: 2 }]);
 * console.assert((await (await held).json()).length === 2);
 * ```
 */
export class Simulator extends EventTarget {
  /** The Hono app (`app.request(path)` works too). */
  readonly app: Hono;
  /** The bound fetch handler, for any server taking a Web `fetch` handler (Deno, Bun, Node). */
  readonly fetch: (request: Request) => Promise<Response>;
  /** The endpoint id. */
  readonly endpointId: string;
  /** What happened to every job. */
  readonly ledger: Ledger;
  #core: SimulatorCore;
  #nextId = () => this.#core.nextJobId();

  /**
   * Creates a simulator; prefer {@linkcode createSimulator}.
   *
   * @param options Endpoint id, long-poll time, API key and recording switch.
   * @throws {TypeError} When `endpointId` has characters other than letters, digits, `-`, `_`.
   * @throws {RangeError} When `longPollMs` is negative or not a number.
   */
  constructor(options: SimulatorOptions = {}) {
    super();
    this.#core = new SimulatorCore(this, options);
    this.endpointId = this.#core.options.endpointId;
    this.ledger = this.#core.ledger;
    this.app = createApp(this.#core);
    const app = this.app;
    this.fetch = (request) => Promise.resolve(app.fetch(request));
  }

  /** Every request, in arrival order (empty when `recordRequests` is off). */
  get requests(): readonly RecordedRequest[] {
    return this.#core.log.requests;
  }

  /** The healthy heartbeats, in arrival order. */
  get pings(): readonly PingRecord[] {
    return this.#core.log.pings;
  }

  /** The unhealthy reports (`status=unhealthy` pings), in arrival order. */
  get unhealthy(): readonly UnhealthyReport[] {
    return this.#core.log.unhealthy;
  }

  /** Running totals for benchmarks (live object). */
  get counters(): Readonly<SimulatorCounters> {
    return this.#core.log.counters;
  }

  /** Requests held right now: takes (single and batch) and stop polls. */
  get held(): { take: number; stop: number } {
    return { take: this.#core.takes.size, stop: this.#core.stops.size };
  }

  /** Entries waiting in the queue. */
  get queued(): number {
    return this.#core.queue.length;
  }

  /** Whether {@linkcode Simulator.close} was called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * The worker's environment, pointing at this simulator in the production URL shapes.
   *
   * @param baseUrl Where the simulator is served, such as `http://127.0.0.1:8123`.
   * @param options The `gpu` parameter and an optional `RUNPOD_POD_ID`.
   * @returns `RUNPOD_WEBHOOK_GET_JOB`, `_POST_OUTPUT`, `_POST_STREAM`, `_PING`, plus
   * `RUNPOD_AI_API_KEY` when an API key is set and `RUNPOD_POD_ID` when asked for.
   */
  env(
    baseUrl: string,
    options: Pick<SimulatorEnvOptions, "gpu" | "podId"> = {},
  ): Record<string, string> {
    const { gpu, podId } = options;
    const { endpointId, apiKey } = this.#core.options;
    return simulatorEnv(baseUrl, { endpointId, apiKey, gpu, podId });
  }

  /**
   * Queues a job; a held take gets it at once.
   *
   * @param job The job; it is serialised now, so later changes to it are not seen.
   * @returns The job id.
   * @throws {TypeError} When the job is not an object, its `id` is not a non-empty string,
   * `input` is `undefined`, or it cannot be serialised.
   */
  enqueue(job: SimulatorJob): string {
    const entry = jobEntry(job, this.#nextId);
    this.#core.push([entry]);
    return entry.id;
  }

  /**
   * Queues jobs in order, then hands them to held takes (a held batch take gets several).
   *
   * @param jobs The jobs.
   * @returns Their ids.
   * @throws {TypeError} As {@linkcode Simulator.enqueue}; nothing is queued then.
   */
  enqueueMany(jobs: Iterable<SimulatorJob>): string[] {
    const entries = Array.from(jobs, (job) => jobEntry(job, this.#nextId));
    this.#core.push(entries);
    return entries.map((entry) => entry.id);
  }

  /**
   * Queues a malformed job, served verbatim as the next job-take answer (or as one element of a
   * job-take-batch array). A string is served as it is; any other value as its JSON.
   *
   * @param body The text, or a JSON value (such as `{ id: "x" }` without `input`).
   * @param options The content type served by a single take.
   * @returns Its label (`raw-1`, ...), listed in the report's `raw` and `pending`.
   * @throws {TypeError} When `body` cannot be serialised.
   */
  enqueueRaw(body: unknown, options: RawJobOptions = {}): string {
    const text = rawText(body);
    const id = this.#core.nextRawLabel();
    const raw = this.#core.ledger.recordRawEnqueued(id, performance.now());
    const contentType = options.contentType ?? "application/json";
    this.#core.push([{ id, text, contentType, raw }]);
    return id;
  }

  /**
   * Queues a stop signal for a job, delivered by the next job-stop poll of its worker.
   *
   * @param jobId The job to stop.
   * @param options Which worker's poll delivers it.
   */
  stop(jobId: string, options: StopOptions = {}): void {
    const target = options.workerId ?? this.#core.ledger.get(jobId)?.takenBy.at(-1);
    this.#core.stop(jobId, target === "*" ? undefined : target);
  }

  /**
   * Scripts a fault for the next `times` requests of a route (faults of a route queue up), or,
   * with `forMs`, for every request of the route during a time window: an outage, such as
   * `sim.fault("job-done", { status: 503 }, { forMs: 20_000 })`, or a broken network with
   * `{ drop: true }` (the connection is cut, so the worker sees a network error).
   *
   * @param route The route.
   * @param fault `{ status, body?, headers? }`, `{ drop: true }`, `{ delayMs }` or
   * `{ body, contentType, status? }`.
   * @param options How many requests it applies to, or the window (`forMs`, `afterMs`).
   * @throws {TypeError} When the route or the fault's shape is unknown, or both `times` and
   * `forMs` are given.
   * @throws {RangeError} When `times`, `forMs`, `afterMs`, `status` or `delayMs` is out of range.
   */
  fault(route: SimulatorRoute, fault: SimulatorFault, options?: FaultOptions): void {
    this.#core.faults.add(route, fault, options);
  }

  /**
   * Removes scripted faults not yet applied.
   *
   * @param route Only this route's; all when omitted.
   */
  clearFaults(route?: SimulatorRoute): void {
    this.#core.faults.clear(route);
  }

  /**
   * Sorts out lost, duplicated and unknown jobs. O(jobs): for assertions, not hot loops.
   *
   * @returns The report.
   */
  report(): SimulatorReport {
    return this.#core.ledger.report();
  }

  /**
   * Resolves once `predicate()` holds, re-checking it on every event of this simulator.
   *
   * @param predicate The condition.
   * @param options Signal and timeout (default 30 s).
   * @returns A promise for the moment the condition holds.
   * @throws {DOMException} `TimeoutError` on timeout; `signal.reason` when aborted.
   */
  waitFor(predicate: () => boolean, options?: WaitForOptions): Promise<void> {
    return waitFor(this, predicate, options);
  }

  /**
   * Resolves once `n` distinct jobs have at least one final result (O(1) per check).
   *
   * @param n The number of jobs.
   * @param options Signal and timeout.
   * @returns A promise for that moment.
   */
  waitForResults(n: number, options?: WaitForOptions): Promise<void> {
    return this.#waitCount(() => this.ledger.jobsWithResult, n, "results", options);
  }

  /**
   * Resolves once `n` healthy heartbeats have arrived.
   *
   * @param n The number of pings.
   * @param options Signal and timeout.
   * @returns A promise for that moment.
   */
  waitForPings(n: number, options?: WaitForOptions): Promise<void> {
    return this.#waitCount(() => this.pings.length, n, "pings", options);
  }

  /**
   * Resolves once `n` entries have been handed out in total.
   *
   * @param n The number of jobs.
   * @param options Signal and timeout.
   * @returns A promise for that moment.
   */
  waitForTaken(n: number, options?: WaitForOptions): Promise<void> {
    return this.#waitCount(() => this.counters.handedOut, n, "jobs taken", options);
  }

  /**
   * Answers every held long-poll with 204 at once and ends pending delays, so a server can
   * close promptly. Afterwards long-polls answer at once (a queued job is still handed out).
   */
  close(): void {
    this.#core.close();
  }

  #waitCount(count: () => number, n: number, what: string, options?: WaitForOptions) {
    return waitFor(this, () => count() >= n, { description: `${n} ${what}`, ...options });
  }
}

/**
 * Creates a RunPod queue simulator. Serve `sim.fetch` on loopback, give a worker `sim.env(url)`,
 * feed jobs, script faults, then assert on `sim.report()`.
 *
 * @param options Endpoint id, long-poll time, API key and recording switch.
 * @returns The simulator.
 * @throws {TypeError} When `endpointId` is not letters, digits, `-`, `_`.
 * @throws {RangeError} When `longPollMs` is out of range.
 *
 * @example A take, a result, a clean report
 * ```ts
 * import { createSimulator } from "./simulator.ts";
 * const sim = createSimulator({ longPollMs: 0 });
 * const id = sim.enqueue({ input: { prompt: "hi" } });
 * const take = await sim.fetch(new Request("http://sim/v2/ep/job-take/w1?job_in_progress=0"));
 * console.assert((await take.json()).id === id);
 * await sim.fetch(
 *   new Request(`http://sim/v2/ep/job-done/w1/${id}?isStream=false`, {
 *     method: "POST",
 *     headers: { "content-type": "application/x-www-form-urlencoded" },
 *     body: JSON.stringify({ output: "ok" }),
 *   }),
 * );
 * const report = sim.report();
 * console.assert(report.lost.length === 0 && report.jobs[0]?.results.length === 1);
 * ```
 */
export function createSimulator(options?: SimulatorOptions): Simulator {
  return new Simulator(options);
}
