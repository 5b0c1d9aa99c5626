/**
 * The option and input shapes of the simulator's public API.
 *
 * @module
 */

/** Options for {@linkcode createSimulator}. */
export interface SimulatorOptions {
  /**
   * The endpoint id in every URL (`/v2/<endpointId>/...`): letters, digits, `-`, `_`.
   * @default "ep"
   */
  endpointId?: string;
  /** How long job-take and job-stop hold a request before answering 204. @default 1000 */
  longPollMs?: number;
  /**
   * When set, every route requires `Authorization: <apiKey>` (raw, no `Bearer`), else 401.
   * @default undefined
   */
  apiKey?: string;
  /**
   * Keep a record per request in `Simulator.requests`; when off, only the counters, the ledger
   * and the heartbeats are kept.
   * @default true
   */
  recordRequests?: boolean;
}

/**
 * A job to enqueue, served as `{ id, input, ...extra }`. `id` is generated (`job-1`, `job-2`,
 * ...) when absent.
 */
export interface SimulatorJob {
  /** The job id; an opaque non-empty string. @default "job-<n>" */
  id?: string;
  /** The job input, any JSON value but `undefined`. */
  input: unknown;
  /** Extra keys (`webhook`, `batchId`, ...). */
  [key: string]: unknown;
}

/** Options for `Simulator.enqueueRaw`. */
export interface RawJobOptions {
  /**
   * The content type when the entry is the whole answer of a single job-take.
   * @default "application/json"
   */
  contentType?: string;
}

/** Options for `Simulator.stop`. */
export interface StopOptions {
  /**
   * The worker whose job-stop poll delivers the signal; `"*"` for whichever polls first.
   * @default the worker that last took the job, else any
   */
  workerId?: string;
}
