/**
 * A finished job in RunPod's status shape, as the push and dev intakes answer it.
 *
 * @module
 */

import type { JobOutcome } from "./job_worker.ts";

/**
 * `{id, status, delayTime, executionTime, output | error}` as JSON, reusing the outcome's
 * already-encoded body so a large output is not serialised twice.
 *
 * @param outcome The job's outcome.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { statusBody } from "./status_body.ts";
 * const body = statusBody({
 *   id: "j", status: "COMPLETED", delayTime: 1, executionTime: 2,
 *   result: { output: 3 }, body: '{"output":3}', isStream: false,
 * });
 * console.assert(body === '{"id":"j","status":"COMPLETED","delayTime":1,"executionTime":2,"output":3}');
 * ```
 */
export function statusBody(outcome: JobOutcome): string {
  const head = `{"id":${
    JSON.stringify(outcome.id)
  },"status":"${outcome.status}","delayTime":${outcome.delayTime},"executionTime":${outcome.executionTime}`;
  const rest = outcome.body.slice(1); // the result object without its opening brace
  return rest === "}" ? `${head}}` : `${head},${rest}`;
}
