/**
 * JSON answers shared by the HTTP intakes (push and dev API), and their answer to a worker that
 * refuses a job for capacity.
 *
 * @module
 */

import { WorkerBusyError, WorkerDrainingError } from "../errors.ts";

/**
 * A response whose body is already JSON text.
 *
 * @param status The HTTP status.
 * @param body The JSON text.
 * @param headers More headers.
 * @returns The response.
 *
 * @example
 * ```ts
 * import { jsonText } from "./json_response.ts";
 * console.assert(jsonText(200, "{}").headers.get("content-type")!.startsWith("application/json"));
 * ```
 */
export function jsonText(
  status: number,
  body: string,
  headers?: Record<string, string>,
): Response {
  if (headers === undefined && status === 200) return new Response(body, OK_JSON);
  return new Response(body, {
    status,
    headers: headers === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...headers },
  });
}

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "application/json; charset=utf-8",
});
/** The init of most answers, made once: a `Response` copies what it needs from it. */
const OK_JSON: ResponseInit = Object.freeze({ status: 200, headers: JSON_HEADERS });

/**
 * A response with `body` serialised as JSON.
 *
 * @param status The HTTP status.
 * @param body The value to send.
 * @param headers More headers.
 * @returns The response.
 *
 * @example
 * ```ts
 * import { json } from "./json_response.ts";
 * console.assert((await json(404, { error: "x" }).json()).error === "x");
 * ```
 */
export function json(
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): Response {
  return jsonText(status, JSON.stringify(body), headers);
}

/**
 * The answer to a submission the worker refused for capacity: `429` when slots and the wait
 * queue are full, `503` while draining, each with `Retry-After`; `undefined` for any other error.
 *
 * @param error What `worker.submit()` threw.
 * @param busyRetryAfterSeconds The `Retry-After` of a 429.
 * @returns The response, or `undefined`.
 *
 * @example
 * ```ts
 * import { capacityRefusal } from "./json_response.ts";
 * import { WorkerBusyError } from "../errors.ts";
 * console.assert(capacityRefusal(new WorkerBusyError(1, 1), 2)!.status === 429);
 * console.assert(capacityRefusal(new Error("bug"), 2) === undefined);
 * ```
 */
export function capacityRefusal(
  error: unknown,
  busyRetryAfterSeconds: number,
): Response | undefined {
  if (error instanceof WorkerBusyError) {
    return json(429, { error: error.message }, { "retry-after": String(busyRetryAfterSeconds) });
  }
  if (error instanceof WorkerDrainingError) {
    return json(503, { error: error.message }, { "retry-after": "5" });
  }
  return undefined;
}
