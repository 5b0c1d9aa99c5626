/**
 * The shapes shared by every part of edgepod: jobs, handlers, their context and results.
 *
 * @module
 */

/**
 * A job as RunPod delivers it: an opaque `id`, the user's `input` (any JSON value) and any other
 * keys the platform adds (`webhook`, `batchId`, ...). The handler receives the object unchanged.
 *
 * @typeParam I The type of `input`.
 *
 * @example Reading a job
 * ```ts
 * import type { Job } from "./types.ts";
 * const job: Job<{ prompt: string }> = { id: "j1", input: { prompt: "hi" } };
 * console.assert(job.input.prompt === "hi");
 * ```
 */
export interface Job<I = unknown> {
  /** The job id, an opaque string such as `sync-0f3e...-e1`. */
  id: string;
  /** The job input: any JSON value in worker mode. */
  input: I;
  /** The client webhook; the platform calls it, never the worker. */
  webhook?: string | null;
  /** Set for batch jobs; prefixed to every log line of the job as `[batchId=<v>] `. */
  batchId?: string;
  /** Any other key the platform sends is passed through. */
  [key: string]: unknown;
}

/**
 * The logger every part of edgepod writes to. Methods take the message and, optionally, the job
 * id the line belongs to (RunPod's console filters by it).
 *
 * @example Logging with a job id
 * ```ts
 * import type { Logger } from "./types.ts";
 * function report(log: Logger) {
 *   log.info("Started.", "job-1");
 * }
 * ```
 */
export interface Logger {
  /** Very fine detail, off unless `RUNPOD_LOG_LEVEL=TRACE`. */
  trace(message: unknown, jobId?: string): void;
  /** Diagnostic detail. */
  debug(message: unknown, jobId?: string): void;
  /** Lifecycle lines (`Started.`, `Finished.`). */
  info(message: unknown, jobId?: string): void;
  /** Something went wrong and was handled. */
  warn(message: unknown, jobId?: string): void;
  /** Something failed. */
  error(message: unknown, jobId?: string): void;
}

/**
 * A logger bound to one job: lines carry the job id (and batch id) without passing them.
 *
 * @example
 * ```ts
 * import type { JobLogger } from "./types.ts";
 * function work(log: JobLogger) {
 *   log.info("loaded model");
 * }
 * ```
 */
export interface JobLogger {
  /** Logs at TRACE for this job. */
  trace(message: unknown): void;
  /** Logs at DEBUG for this job. */
  debug(message: unknown): void;
  /** Logs at INFO for this job. */
  info(message: unknown): void;
  /** Logs at WARN for this job. */
  warn(message: unknown): void;
  /** Logs at ERROR for this job. */
  error(message: unknown): void;
}

/**
 * What a handler gets besides the job: cancellation, identity, logging and progress.
 *
 * @example Honouring cancellation and reporting progress
 * ```ts
 * import type { Job, JobContext } from "./types.ts";
 * async function handler(job: Job<{ steps: number }>, ctx: JobContext) {
 *   for (let i = 0; i < job.input.steps; i++) {
 *     ctx.signal.throwIfAborted();
 *     await ctx.progress({ step: i + 1, of: job.input.steps });
 *   }
 *   return { done: true };
 * }
 * ```
 */
export interface JobContext {
  /**
   * Aborted when the job is stopped (RunPod job-stop, local cancel), times out, or the worker
   * shuts down past its drain deadline. `signal.reason` says which.
   */
  signal: AbortSignal;
  /** The job id (same as `job.id`). */
  jobId: string;
  /** This worker's id (`RUNPOD_POD_ID`, or a random id when unset). */
  workerId: string;
  /** `RUNPOD_ENDPOINT_ID`, when set. */
  endpointId: string | undefined;
  /** A logger whose lines carry this job's id. */
  log: JobLogger;
  /**
   * Reports progress (shown by `/status` while the job runs). Updates are delivered in order and
   * before the final result; the promise settles once the update is delivered or superseded by a
   * newer one.
   */
  progress(update: unknown): Promise<void>;
}

/**
 * Anything a handler may produce: a value, a promise of one, or a stream of outputs as a
 * (sync or async) iterable or a `ReadableStream`.
 */
export type HandlerReturn<O = unknown> =
  | O
  | Promise<O>
  | Iterable<O>
  | AsyncIterable<O>
  | ReadableStream<O>
  | Promise<AsyncIterable<O> | ReadableStream<O>>;

/**
 * A job handler: a plain, async, generator or async-generator function of `(job, ctx)`.
 *
 * @typeParam I The job input type.
 * @typeParam O The output (or stream item) type.
 *
 * @example An async generator handler
 * ```ts
 * import type { Handler } from "./types.ts";
 * const handler: Handler<{ text: string }, string> = async function* (job) {
 *   for (const word of job.input.text.split(" ")) yield word;
 * };
 * ```
 */
// `any` defaults let a handler typed for its own input (`Job<{ prompt: string }>`) be passed
// where a `Handler` is expected; `unknown` would reject it under strictFunctionTypes.
// deno-lint-ignore no-explicit-any
export type Handler<I = any, O = any> = (
  job: Job<I>,
  ctx: JobContext,
) => HandlerReturn<O>;

/**
 * A final job result in RunPod's shape: the body posted to `job-done`.
 *
 * @example
 * ```ts
 * import type { JobResult } from "./types.ts";
 * const ok: JobResult = { output: { text: "hi" } };
 * const failed: JobResult = { error: "bad input" };
 * ```
 */
export interface JobResult {
  /** The output; absent when the handler returned `{}` or failed without output. */
  output?: unknown;
  /** Set when the job failed; always a string. */
  error?: string;
  /** Asks the platform to stop this worker after the job (`refresh_worker`). */
  stopPod?: true;
}
