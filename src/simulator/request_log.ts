/**
 * The request log: counters for benchmarks, the detailed request records (optional), and the
 * heartbeats.
 *
 * @module
 */

import type { SimulatorRoute } from "./faults.ts";

/** The request headers the simulator keeps (lower-case names; absent ones are left out). */
export interface RecordedHeaders {
  /** The raw `Authorization` value. */
  authorization?: string;
  /** `X-Request-ID`: the Python SDK sends the last posted job id, even on job-take. */
  "x-request-id"?: string;
  /** `Content-Type`: the Python SDK posts JSON as `application/x-www-form-urlencoded`. */
  "content-type"?: string;
  /** The non-standard `charset` header the Python SDK sends with posts. */
  charset?: string;
}

/** One request as recorded when `recordRequests` is on. */
export interface RecordedRequest {
  /** The route, or `"other"` for a URL no route matched. */
  route: SimulatorRoute | "other";
  /** The HTTP method. */
  method: string;
  /** The URL path. */
  path: string;
  /** The query parameters (the last value of a repeated name wins). */
  query: Record<string, string>;
  /** The headers of interest. */
  headers: RecordedHeaders;
  /** The worker id of the URL. */
  workerId: string | undefined;
  /** The job id of the URL (job-done, job-stream). */
  jobId: string | undefined;
  /** The body text of a POST. */
  body?: string;
  /** The answered status; `0` while held. A dropped request records 200. */
  status: number;
  /** The kind of scripted fault applied, if any. */
  fault: "drop" | "delay" | "respond" | undefined;
  /** When it arrived (`performance.now()`). */
  at: number;
}

/** One heartbeat. */
export interface PingRecord {
  /** When it arrived (`performance.now()`). */
  at: number;
  /** The worker id of the URL. */
  workerId: string;
  /** The `job_id` list; empty when the parameter is absent. */
  jobIds: string[];
  /** The `runpod_version` parameter. */
  runpodVersion: string | undefined;
}

/** A heartbeat with `status=unhealthy`. */
export interface UnhealthyReport extends PingRecord {
  /** The `check` parameter. */
  check: string | undefined;
  /** The `reason` parameter. */
  reason: string | undefined;
}

/** Cheap running totals, kept even when `recordRequests` is off. */
export interface SimulatorCounters {
  /** Requests received per route (including 401s and faulted ones). */
  requests: Record<SimulatorRoute | "other", number>;
  /** Take requests (single or batch) answered with at least one job. */
  takes: number;
  /** Take requests answered 204. */
  emptyTakes: number;
  /** Jobs handed out, raw entries included. */
  handedOut: number;
  /** Final results delivered. */
  results: number;
  /** Final-result posts received, faulted ones included. */
  attempts: number;
  /** Progress updates delivered. */
  progress: number;
  /** Stream chunks delivered. */
  chunks: number;
  /** Heartbeats recorded (healthy and unhealthy). */
  pings: number;
  /** Job ids delivered on job-stop. */
  stopsDelivered: number;
  /** Posts answered 400 for a body that was not JSON. */
  badPosts: number;
  /** Requests answered 401. */
  unauthorized: number;
  /** Scripted faults applied. */
  faults: number;
  /** job-take, job-take-batch and job-stop requests that carried an `X-Request-ID`. */
  pollsWithRequestId: number;
}

/**
 * Creates zeroed counters.
 *
 * @returns The counters.
 *
 * @example Fresh counters
 * ```ts
 * import { createCounters } from "./request_log.ts";
 * console.assert(createCounters().requests["job-take"] === 0);
 * ```
 */
export function createCounters(): SimulatorCounters {
  return {
    requests: {
      "job-take": 0,
      "job-take-batch": 0,
      "job-stop": 0,
      "job-done": 0,
      "job-stream": 0,
      "ping": 0,
      "other": 0,
    },
    takes: 0,
    emptyTakes: 0,
    handedOut: 0,
    results: 0,
    attempts: 0,
    progress: 0,
    chunks: 0,
    pings: 0,
    stopsDelivered: 0,
    badPosts: 0,
    unauthorized: 0,
    faults: 0,
    pollsWithRequestId: 0,
  };
}

/** Options for {@linkcode RequestLog}. */
export interface RequestLogOptions {
  /** Keep a {@linkcode RecordedRequest} per request; off keeps only the counters. @default true */
  recordRequests?: boolean;
}

/**
 * Counts every request and, when enabled, records its details.
 *
 * @example Recording a request
 * ```ts
 * import { RequestLog } from "./request_log.ts";
 * const log = new RequestLog();
 * const rec = log.start("ping", new Request("http://sim/v2/ep/ping/w1?gpu=SIM"), "w1");
 * console.assert(rec?.query.gpu === "SIM" && log.counters.requests.ping === 1);
 * ```
 */
export class RequestLog {
  /** The running totals. */
  readonly counters: SimulatorCounters = createCounters();
  /** Whether details are recorded. */
  readonly recording: boolean;
  #requests: RecordedRequest[] = [];
  #pings: PingRecord[] = [];
  #unhealthy: UnhealthyReport[] = [];

  /**
   * Creates a log.
   *
   * @param options Whether to record details.
   */
  constructor(options: RequestLogOptions = {}) {
    this.recording = options.recordRequests ?? true;
  }

  /** The recorded requests, in arrival order (empty when recording is off). */
  get requests(): readonly RecordedRequest[] {
    return this.#requests;
  }

  /** The healthy heartbeats, in arrival order. */
  get pings(): readonly PingRecord[] {
    return this.#pings;
  }

  /** The unhealthy reports, in arrival order. */
  get unhealthy(): readonly UnhealthyReport[] {
    return this.#unhealthy;
  }

  /**
   * Counts a request and, when recording, records it with status `0`.
   *
   * @param route The matched route.
   * @param request The request.
   * @param workerId The worker id of the URL.
   * @param jobId The job id of the URL.
   * @returns The record to complete, or `undefined` when recording is off.
   */
  start(
    route: SimulatorRoute | "other",
    request: Request,
    workerId?: string,
    jobId?: string,
  ): RecordedRequest | undefined {
    this.counters.requests[route]++;
    if (!this.recording) return undefined;
    const url = new URL(request.url);
    const headers: RecordedHeaders = {};
    for (const name of ["authorization", "x-request-id", "content-type", "charset"] as const) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const record: RecordedRequest = {
      route,
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      workerId,
      jobId,
      status: 0,
      fault: undefined,
      at: performance.now(),
    };
    this.#requests.push(record);
    return record;
  }

  /**
   * Records a heartbeat.
   *
   * @param ping The heartbeat.
   */
  recordPing(ping: PingRecord): void {
    this.counters.pings++;
    this.#pings.push(ping);
  }

  /**
   * Records an unhealthy report.
   *
   * @param report The report.
   */
  recordUnhealthy(report: UnhealthyReport): void {
    this.counters.pings++;
    this.#unhealthy.push(report);
  }
}
