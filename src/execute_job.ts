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
  resultFromError,
  resultFromValue,
  streamedError,
  type WorkerInfo,
} from "./job_result.ts";
import { bindProgress } from "./progress_update.ts";
import type { RunPodLogger } from "./run_pod_logger.ts";
import { runHandler } from "./run_handler.ts";
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
  const { logger, info } = options;
  const log = logger.forJob(job);
  const [signal, cleanup] = typeof options.signal === "function"
    ? [options.signal, NO_CLEANUP]
    : jobSignal(job.id, options as ExecuteJobOptions & { signal?: AbortSignal });
  let isStream = false;
  let result: JobResult;
  log.info("Started.");
  let unbind = NO_CLEANUP;
  try {
    const ctx = jobContext(job, signal, log, info, options.progress);
    let handlerJob = job;
    if (options.inputSchema) {
      const checked = await validateInput(options.inputSchema, job.input);
      if (!checked.ok) {
        log.error(checked.message);
        return finish({ error: checked.message }, false, options);
      }
      handlerJob = { ...job, input: checked.value };
    }
    // progress_update(job, ...) must find the very object the handler receives.
    unbind = bindProgress(handlerJob, ctx.progress);
    const running = runHandler(options.handler, handlerJob, ctx);
    const output = options.settleOnAbort === false && options.timeoutMs === undefined
      ? await running
      : await abortable(running, signal());
    if (output.kind === "value") {
      result = resultFromValue(output.value);
    } else {
      isStream = true;
      result = await drainStream(output.stream, signal(), options);
    }
  } catch (error) {
    const aborted = signal();
    if (aborted.aborted && error === aborted.reason) {
      result = abortResult(aborted.reason, info);
    } else {
      result = resultFromError(error, info);
      log.error("Captured Handler Exception");
      log.error(JSON.stringify(JSON.parse(result.error!), null, 4));
    }
  } finally {
    unbind();
    cleanup();
  }
  const done = finish(result, isStream, options);
  const given = options.signal;
  const external = typeof given === "object" && given.aborted ? given.reason : undefined;
  return external === undefined ? done : { ...done, aborted: external };
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
  return { ...encoded, isStream };
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
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      const next = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (next.done) break;
      const failure = streamedError(next.value);
      if (failure !== undefined) {
        await reader.cancel(failure).catch(() => {});
        await writer?.close();
        return { error: failure };
      }
      if (options.aggregate) chunks.push(next.value);
      if (writer) {
        // Backpressure: wait while the sink's buffer is full, but never past an abort.
        if (writer.desiredSize! <= 0) await abortable(writer.ready, signal);
        writer.write(next.value).catch(() => {});
      }
    }
    await writer?.close();
    return { output: options.aggregate ? chunks : [] };
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
    log.info(`Progress: ${typeof update === "string" ? update : JSON.stringify(update)}`);
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
