/**
 * Test doubles for the pull worker's HTTP layer: an `HttpClient` over the in-memory simulator
 * (no sockets), a scripted `HttpClient` for odd answers, and a recording job logger.
 *
 * @module
 */

import { abortable } from "../../src/async/abortable.ts";
import type { HttpClient, HttpRequest, HttpResponse } from "../../src/http_client.ts";
import type { WorkerInfo } from "../../src/job_result.ts";
import type { JobLogger } from "../../src/types.ts";

/** An `HttpClient` with the requests it was given, in call order. */
export interface RecordingHttp {
  /** The client. */
  http: HttpClient;
  /** Every request, in call order. */
  requests: HttpRequest[];
}

/** Options for {@linkcode simHttp}. */
export interface SimHttpOptions {
  /** Awaited before a request reaches the simulator, to hold it (for example on a deferred). */
  gate?: (request: HttpRequest, index: number) => Promise<void> | void;
}

/**
 * An `HttpClient` that hands every request to `sim.fetch` in memory and reads the whole answer.
 * Like `fetch`, it rejects with `signal.reason` when the request's signal aborts.
 *
 * @param sim Anything with a `fetch(Request)`, such as a `Simulator`.
 * @param options A gate to hold requests.
 * @returns The client and its request log.
 */
export function simHttp(
  sim: { fetch(request: Request): Promise<Response> },
  options: SimHttpOptions = {},
): RecordingHttp {
  const requests: HttpRequest[] = [];
  const http: HttpClient = (request) => {
    const index = requests.push(request) - 1;
    const run = async (): Promise<HttpResponse> => {
      await options.gate?.(request, index);
      const res = await sim.fetch(
        new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.body,
          signal: request.signal,
        }),
      );
      const body = await res.text();
      return { status: res.status, header: (name) => res.headers.get(name), body };
    };
    return request.signal ? abortable(run(), request.signal) : run();
  };
  return { http, requests };
}

/**
 * An `HttpClient` answering from a function: return a response or throw a network error.
 *
 * @param answer Gets the request and its index (from 0).
 * @returns The client and its request log.
 */
export function scriptedHttp(
  answer: (request: HttpRequest, index: number) => HttpResponse | Promise<HttpResponse>,
): RecordingHttp {
  const requests: HttpRequest[] = [];
  const http: HttpClient = async (request) => {
    const index = requests.push(request) - 1;
    return await answer(request, index);
  };
  return { http, requests };
}

/**
 * A response as an `HttpClient` returns it; header names are case-insensitive.
 *
 * @param status The status.
 * @param body The body text.
 * @param headers Response headers.
 * @returns The response.
 */
export function httpResponse(
  status: number,
  body = "",
  headers: Record<string, string> = {},
): HttpResponse {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { status, body, header: (name) => lower.get(name.toLowerCase()) ?? null };
}

/** One line of a {@linkcode recordingLogger}. */
export interface LogLine {
  /** The level. */
  level: "trace" | "debug" | "info" | "warn" | "error";
  /** The message as text. */
  message: string;
}

/**
 * A `JobLogger` keeping its lines.
 *
 * @returns The logger and its lines.
 */
export function recordingLogger(): { log: JobLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine["level"]) => (message: unknown) =>
    void lines.push({ level, message: String(message) });
  return {
    log: {
      trace: at("trace"),
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
    },
    lines,
  };
}

/** A fixed worker identity for tests. */
export const TEST_WORKER_INFO: WorkerInfo = Object.freeze({
  workerId: "pod-test",
  endpointId: "ep",
  hostname: "host-test",
  runtime: "test 1.0.0",
  version: "9.8.7",
});
