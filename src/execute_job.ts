/**
 * Running one job end to end, whatever the intake: input validation, the handler, the stream
 * (to the intake's sink and the aggregate), cancellation and timeout, and the final result.
 *
 * @module
 */

import { abortable } from "./async/abortable.ts";
import { JobStoppedError, JobTimeoutError } from "./errors.ts";
import {
  encodeResult,
  isPlainObject,
  resultFromError,
  resultFromValue,
  streamedError,
  strictStringify,
  type WorkerInfo,
} from "./job_result.ts";
import { bindProgress, refuseProgress } from "./progress_update.ts";
import type { RunPodLogger } from "./run_pod_logger.ts";
import { asStream } from "./run_handler.ts";
import type { StandardSchema } from "./standard_schema.ts";
import type { Handler, Job, JobContext, JobLogger, JobResult } from "./types.ts";
import { validateInput } from "./validate_input.ts";

/** Options for {@linkcode executeJob}. */
export interface ExecuteJobOptions {
  /** The handler. */
  handler: Handler;
  /** Who runs the job (ids and versions for the context and error reports). */
  info: WorkerInfo;
  /** The logger. */
  logger: RunPodLogger;
  /**
   * Aborting it stops the job; the reason becomes `ctx.signal.reason`. A function is called only
   * when the handler reads `ctx.signal` (or to tell an abort from a failure), so a job whose
   * handler never looks at it costs no `AbortController` (about 3 µs each on Node). With a
   * function the caller settles aborted jobs itself: `aborted` is never set, and `timeoutMs`
   * and `settleOnAbort` must be left out.
   */
  signal?: AbortSignal | (() => AbortSignal);
  /** Per-job timeout in ms: past it the job is aborted and FAILED. @default none */
  timeoutMs?: number;
  /** Validates `job.input` first. */
  inputSchema?: StandardSchema;
  /** The final output of a streaming handler is the list of its chunks. @default false */
  aggregate?: boolean;
  /** Every result carries `stopPod: true`. @default false */
  refreshWorker?: boolean;
  /**
   * Where chunks of a streaming handler go (the intake's bounded buffer), or a function making
   * it, called only if the handler streams. The handler is paused while the sink applies
   * backpressure; closing it waits for every chunk to be delivered. A sink error fails the job.
   */
  sink?: WritableStream<unknown> | (() => WritableStream<unknown>);
  /** Delivers `ctx.progress()` updates. @default logs them at INFO */
  progress?: (update: unknown) => Promise<void>;
  /** The largest result body, in bytes. @default 20 MB */
  maxResultBytes?: number;
  /**
   * Whether aborting `signal` settles the job at once even if the handler ignores the signal.
   * An intake that aborts its own jobs can settle them itself (with {@linkcode abortedJob}) and
   * pass `false`, which saves an abort listener per job. A timeout always settles the job.
   * @default true
   */
  settleOnAbort?: boolean;
}

/** The outcome of {@linkcode executeJob}. */
export interface ExecutedJob {
  /** The final result, checked to be JSON-serialisable and within the size limit. */
  result: JobResult;
  /** `result` as JSON. */
  body: string;
  /** The handler streamed (its final post carries `isStream=true`). */
  isStream: boolean;
  /**
   * Set when `signal` aborted the job (stop or shutdown): its reason. `result` then describes
   * the abort; whether to post it is the intake's call (a stopped job gets no result).
   */
  aborted?: unknown;
}

/**
 * Runs one job. It never throws: handler errors, invalid input, unserialisable output, timeouts
 * and aborts all become a result.
 *
 * @param job The job (`id`, `input`, other keys passed through).
 * @param options The handler and how to run it.
 * @returns The final result.
 *
 * @example
 * ```ts
 * import { executeJob } from "./execute_job.ts";
 * import { RunPodLogger } from "./run_pod_logger.ts";
 * const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: "node", version: "0" };
 * const done = await executeJob({ id: "j", input: 2 }, {
 *   handler: (job) => (job.input as number) * 21,
 *   info,
 *   logger: new RunPodLogger({ level: "NOTSET" }),
 * });
 * console.assert(done.body === '{"output":42}');
 * ```
 */
export async function executeJob(job: Job, options: ExecuteJobOptions): Promise<ExecutedJob> {
  return await runJob(job, options);
}

/**
 * {@linkcode executeJob}, synchronous when it can be: a handler that returns a plain value (not
 * a promise or a stream) and no `inputSchema` give the outcome at once, with no promise made on
 * the way. Anything else gives a promise. For intakes that run many small jobs (the shared
 * worker); it never throws either.
 *
 * @param job The job.
 * @param options The handler and how to run it.
 * @returns The final result, or a promise of it.
 *
 * @example
 * ```ts
 * import { runJob } from "./execute_job.ts";
 * import { RunPodLogger } from "./run_pod_logger.ts";
 * const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: "node", version: "0" };
 * const logger = new RunPodLogger({ level: "NOTSET" });
 * const done = runJob({ id: "j", input: 2 }, { handler: (job) => (job.input as number) * 21, info, logger });
 * console.assert(!(done instanceof Promise) && done.body === '{"output":42}');
 * const later = runJob({ id: "k", input: 2 }, { handler: async () => 1, info, logger });
 * console.assert(later instanceof Promise && (await later).body === '{"output":1}');
 * ```
 */
export function runJob(job: Job, options: ExecuteJobOptions): ExecutedJob | Promise<ExecutedJob> {
  const log = options.logger.forJob(job);
  const [signal, cleanup] = typeof options.signal === "function"
    ? [options.signal, NO_CLEANUP]
    : jobSignal(job.id, options as ExecuteJobOptions & { signal?: AbortSignal });
  log.info("Started.");
  const run: JobRun = {
    log,
    signal,
    cleanup,
    unbind: NO_CLEANUP,
    isStream: false,
    ctx: jobContext(job, signal, log, options.info, options.progress),
  };
  if (options.inputSchema) return validated(run, job, options.inputSchema, options);
  return proceed(run, job, options);
}

/** One job's run: what its end has to undo and report. */
interface JobRun {
  log: JobLogger;
  signal: () => AbortSignal;
  cleanup: () => void;
  unbind: () => void;
  isStream: boolean;
  ctx: JobContext;
}

async function validated(
  run: JobRun,
  job: Job,
  schema: StandardSchema,
  options: ExecuteJobOptions,
): Promise<ExecutedJob> {
  let checked;
  try {
    checked = await validateInput(schema, job.input);
  } catch (error) {
    return end(run, failure(run, error, options), options);
  }
  if (!checked.ok) {
    run.log.error(checked.message);
    return end(run, { error: checked.message }, options);
  }
  return await proceed(run, { ...job, input: checked.value }, options);
}

/** Calls the handler; a plain value ends the job at once, anything else is awaited. */
function proceed(
  run: JobRun,
  handlerJob: Job,
  options: ExecuteJobOptions,
): ExecutedJob | Promise<ExecutedJob> {
  // progress_update(job, ...) must find the very object the handler receives.
  run.unbind = bindProgress(handlerJob, run.ctx);
  let value: unknown;
  try {
    value = options.handler(handlerJob, run.ctx);
  } catch (error) {
    return end(run, failure(run, error, options), options);
  }
  if (isThenable(value)) return awaited(run, value, options);
  const stream = asStream(value);
  if (stream) return streamed(run, stream, options);
  if (watchesAbort(options) && run.signal().aborted) {
    return end(run, failure(run, run.signal().reason, options), options);
  }
  return end(run, resultFromValue(value), options);
}

/** Whether an abort settles the job even if the handler ignores it (see `settleOnAbort`). */
function watchesAbort(options: ExecuteJobOptions): boolean {
  return options.settleOnAbort !== false || options.timeoutMs !== undefined;
}

async function awaited(
  run: JobRun,
  pending: PromiseLike<unknown>,
  options: ExecuteJobOptions,
): Promise<ExecutedJob> {
  let value: unknown;
  try {
    value = watchesAbort(options)
      ? await abortable(Promise.resolve(pending), run.signal())
      : await pending;
  } catch (error) {
    return end(run, failure(run, error, options), options);
  }
  const stream = asStream(value);
  if (stream) return await streamed(run, stream, options);
  return end(run, resultFromValue(value), options);
}

async function streamed(
  run: JobRun,
  stream: ReadableStream<unknown>,
  options: ExecuteJobOptions,
): Promise<ExecutedJob> {
  run.isStream = true;
  let result: JobResult;
  try {
    result = await drainStream(stream, run.signal(), options);
  } catch (error) {
    result = failure(run, error, options);
  }
  return end(run, result, options);
}

/** The result for what the handler threw (or the abort that stopped it), logged as Python does. */
function failure(run: JobRun, error: unknown, options: ExecuteJobOptions): JobResult {
  const signal = run.signal();
  if (signal.aborted && error === signal.reason) return abortResult(signal.reason, options.info);
  const result = resultFromError(error, options.info);
  run.log.error("Captured Handler Exception");
  run.log.error(JSON.stringify(JSON.parse(result.error!), null, 4));
  return result;
}

function end(run: JobRun, result: JobResult, options: ExecuteJobOptions): ExecutedJob {
  run.unbind();
  run.cleanup();
  const done = finish(result, run.isStream, options);
  const given = options.signal;
  const external = typeof given === "object" && given.aborted ? given.reason : undefined;
  return external === undefined ? done : { ...done, aborted: external };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

const NO_CLEANUP = () => {};

function finish(
  result: JobResult,
  isStream: boolean,
  options: Pick<ExecuteJobOptions, "logger" | "refreshWorker" | "maxResultBytes">,
): ExecutedJob {
  if (options.refreshWorker) {
    result.stopPod = true;
    options.logger.info("refresh_worker flag set, stopping pod after job.");
  }
  const encoded = encodeResult(result, { maxBytes: options.maxResultBytes });
  if (encoded.result !== result) options.logger.error(encoded.result.error);
  return { result: encoded.result, body: encoded.body, isStream };
}

async function drainStream(
  stream: ReadableStream<unknown>,
  signal: AbortSignal,
  options: ExecuteJobOptions,
): Promise<JobResult> {
  const reader = stream.getReader();
  const sink = typeof options.sink === "function" ? options.sink() : options.sink;
  const writer = sink?.getWriter();
  const chunks: unknown[] = [];
  let stopPod = false;
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      const next = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (next.done) break;
      let item = next.value;
      const failure = streamedError(item);
      if (failure !== undefined) {
        await reader.cancel(failure).catch(() => {});
        await writer?.close();
        return stopPod ? { error: failure, stopPod } : { error: failure };
      }
      // A yielded `refresh_worker` asks for the pod to stop after the job, as a returned one
      // does (the Python SDK ignores it in generators, #397). The key is not part of the chunk.
      if (isPlainObject(item) && Object.hasOwn(item, "refresh_worker")) {
        const { refresh_worker: refresh, ...rest } = item;
        if (refresh) stopPod = true;
        if (Object.keys(rest).length === 0) continue; // only the request: nothing to stream
        item = rest;
      }
      if (options.aggregate) chunks.push(item);
      if (writer) {
        // Backpressure: wait while the sink's buffer is full, but never past an abort.
        if (writer.desiredSize! <= 0) await abortable(writer.ready, signal);
        writer.write(item).catch(() => {});
      }
    }
    await writer?.close();
    const output = options.aggregate ? chunks : [];
    return stopPod ? { output, stopPod } : { output };
  } catch (error) {
    // Stop the handler (a failing sink leaves it mid-stream), deliver what was already
    // streamed, then report the failure. On abort, drop what is queued; the sink's abort waits
    // for an in-flight write, so it is not awaited.
    reader.cancel(error).catch(() => {});
    if (writer && !signal.aborted) await writer.close().catch(() => {});
    else writer?.abort(error).catch(() => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/**
 * A job's `ctx`: a plain object whose properties are all its own, so handlers may spread it
 * (`{ ...ctx, log }`), destructure it, wrap it (`Object.create`, `Proxy`) or replace
 * `ctx.progress`. `signal` is an own getter, so the worker makes a job's `AbortController` only
 * when the handler reads it (on Node one costs about 2.6 µs). The getter makes the object
 * literal dearer than a class instance with prototype getters (about 0.6 µs a job on V8, 0.05 on
 * Bun), which broke all of those idioms.
 */
function jobContext(
  job: Job,
  signal: () => AbortSignal,
  log: JobLogger,
  info: WorkerInfo,
  progress: ((update: unknown) => Promise<void>) | undefined,
): JobContext {
  return {
    get signal() {
      return signal();
    },
    jobId: job.id,
    workerId: info.workerId,
    endpointId: info.endpointId,
    log,
    progress: progress ?? logProgress(log),
  };
}

function logProgress(log: JobLogger): (update: unknown) => Promise<void> {
  return (update) => {
    let text: string;
    try {
      text = typeof update === "string" ? update : strictStringify(update);
    } catch (error) {
      return refuseProgress("log", error, log);
    }
    log.info(`Progress: ${text}`);
    return Promise.resolve();
  };
}

/**
 * The job's signal: the caller's own when there is no timeout (no second controller and listener
 * per job), else one that aborts when the caller's does or when the timeout passes.
 */
function jobSignal(
  jobId: string,
  options: ExecuteJobOptions & { signal?: AbortSignal },
): [() => AbortSignal, () => void] {
  const given = options.signal;
  if (options.timeoutMs === undefined && given) return [() => given, NO_CLEANUP];
  const controller = new AbortController();
  const signal = controller.signal;
  return [() => signal, linkAbort(controller, jobId, options)];
}

/** Aborts `controller` when the caller's signal does, or when the timeout passes. */
function linkAbort(
  controller: AbortController,
  jobId: string,
  options: ExecuteJobOptions & { signal?: AbortSignal },
) {
  const { signal, timeoutMs } = options;
  const onAbort = () => controller.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const timer = timeoutMs === undefined
    ? undefined
    : setTimeout(() => controller.abort(new JobTimeoutError(jobId, timeoutMs)), timeoutMs);
  return () => {
    signal?.removeEventListener("abort", onAbort);
    if (timer !== undefined) clearTimeout(timer);
  };
}

/**
 * The outcome of a job aborted before it finished, as {@linkcode executeJob} reports it: for an
 * intake that settles the jobs it aborts itself (see `settleOnAbort`).
 *
 * @param reason The abort reason (`JobStoppedError`, `WorkerShutdownError`, ...).
 * @param options Who runs the job, the logger, `refreshWorker` and `maxResultBytes`.
 * @returns The job's outcome, with `aborted` set to `reason`.
 *
 * @example
 * ```ts
 * import { abortedJob } from "./execute_job.ts";
 * import { JobStoppedError } from "./errors.ts";
 * import { RunPodLogger } from "./run_pod_logger.ts";
 * const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: "r", version: "0" };
 * const done = abortedJob(new JobStoppedError("j"), { info, logger: new RunPodLogger({ level: "NOTSET" }) });
 * console.assert(done.aborted instanceof JobStoppedError && done.result.error === "Job j was stopped");
 * ```
 */
export function abortedJob(
  reason: unknown,
  options: Pick<ExecuteJobOptions, "info" | "logger" | "refreshWorker" | "maxResultBytes">,
): ExecutedJob {
  return { ...finish(abortResult(reason, options.info), false, options), aborted: reason };
}

function abortResult(reason: unknown, info: WorkerInfo): JobResult {
  if (reason instanceof JobTimeoutError || reason instanceof JobStoppedError) {
    return { error: reason.message };
  }
  return resultFromError(reason, info);
}
