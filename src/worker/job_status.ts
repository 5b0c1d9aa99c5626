/**
 * RunPod's job statuses, and the terminal one an outcome maps to.
 *
 * @module
 */

import { JobStoppedError, JobTimeoutError } from "../errors.ts";
import type { ExecutedJob } from "../execute_job.ts";

/** A job's status, as RunPod's API reports it. */
export type JobStatus =
  | "IN_QUEUE"
  | "IN_PROGRESS"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "TIMED_OUT";

/**
 * The terminal status of an executed job: `CANCELLED` when it was stopped or cancelled,
 * `TIMED_OUT` past its execution timeout, `FAILED` when the result carries an error (a shutdown
 * abort included), else `COMPLETED`.
 *
 * @param done The executed job.
 * @returns Its terminal status.
 *
 * @example
 * ```ts
 * import { jobStatus } from "./job_status.ts";
 * console.assert(jobStatus({ result: { output: 1 }, body: "", isStream: false }) === "COMPLETED");
 * console.assert(jobStatus({ result: { error: "x" }, body: "", isStream: false }) === "FAILED");
 * ```
 */
export function jobStatus(done: ExecutedJob): Exclude<JobStatus, "IN_QUEUE" | "IN_PROGRESS"> {
  if (done.aborted instanceof JobStoppedError) return "CANCELLED";
  if (done.aborted instanceof JobTimeoutError) return "TIMED_OUT";
  return done.result.error === undefined ? "COMPLETED" : "FAILED";
}
