/**
 * The errors callers catch: the reasons a job's `ctx.signal` aborts. Bad arguments throw the
 * built-in `TypeError`/`RangeError` instead.
 *
 * @module
 */

/**
 * The job was stopped on request (RunPod's job-stop channel, or a local cancel). No result is
 * posted for it, as in the Python SDK.
 *
 * @example
 * ```ts
 * import { JobStoppedError } from "./errors.ts";
 * const controller = new AbortController();
 * controller.abort(new JobStoppedError("job-1"));
 * console.assert(controller.signal.reason instanceof JobStoppedError);
 * ```
 */
export class JobStoppedError extends Error {
  /** The stopped job. */
  readonly jobId: string;

  /**
   * @param jobId The stopped job.
   */
  constructor(jobId: string) {
    super(`Job ${jobId} was stopped`);
    this.name = "JobStoppedError";
    this.jobId = jobId;
  }
}

/**
 * The job ran past its execution timeout; it is reported FAILED.
 *
 * @example
 * ```ts
 * import { JobTimeoutError } from "./errors.ts";
 * console.assert(new JobTimeoutError("j", 5000).message.includes("5000 ms"));
 * ```
 */
export class JobTimeoutError extends Error {
  /** The job. */
  readonly jobId: string;
  /** The timeout that passed, in ms. */
  readonly timeoutMs: number;

  /**
   * @param jobId The job.
   * @param timeoutMs The timeout that passed, in ms.
   */
  constructor(jobId: string, timeoutMs: number) {
    super(`Job ${jobId} timed out after ${timeoutMs} ms`);
    this.name = "JobTimeoutError";
    this.jobId = jobId;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The worker is shutting down and the job did not finish within the drain deadline; it is
 * reported FAILED.
 *
 * @example
 * ```ts
 * import { WorkerShutdownError } from "./errors.ts";
 * console.assert(new WorkerShutdownError().name === "WorkerShutdownError");
 * ```
 */
export class WorkerShutdownError extends Error {
  /** @param message What happened. */
  constructor(message = "The worker shut down before the job finished") {
    super(message);
    this.name = "WorkerShutdownError";
  }
}

/**
 * A job submitted with queue admission found every slot taken and the wait queue full. Push and
 * dev intakes answer it with `429` and `Retry-After`.
 *
 * @example
 * ```ts
 * import { WorkerBusyError } from "./errors.ts";
 * const error = new WorkerBusyError(4, 4);
 * console.assert(error.name === "WorkerBusyError" && error.limit === 4);
 * ```
 */
export class WorkerBusyError extends Error {
  /** The concurrency limit in force. */
  readonly limit: number;
  /** The wait-queue bound. */
  readonly queueLimit: number;
  /**
   * @param limit The concurrency limit in force.
   * @param queueLimit The wait-queue bound.
   */
  constructor(limit: number, queueLimit: number) {
    super(`The worker is at capacity: ${limit} running and ${queueLimit} waiting`);
    this.name = "WorkerBusyError";
    this.limit = limit;
    this.queueLimit = queueLimit;
  }
}

/**
 * A job submitted with queue admission while the worker drains for shutdown. Push and dev
 * intakes answer it with `503` and `Retry-After`.
 *
 * @example
 * ```ts
 * import { WorkerDrainingError } from "./errors.ts";
 * console.assert(new WorkerDrainingError("SIGTERM received").name === "WorkerDrainingError");
 * ```
 */
export class WorkerDrainingError extends Error {
  /** @param reason Why the worker is shutting down. */
  constructor(reason: string) {
    super(`The worker is shutting down (${reason}) and takes no new jobs`);
    this.name = "WorkerDrainingError";
  }
}
