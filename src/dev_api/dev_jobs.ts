/**
 * The dev API's job logic: RunPod's v2 endpoint operations (run, runsync, status, stream,
 * cancel, retry, purge-queue, health) over the shared worker, with finished jobs kept for a
 * bounded time and memory.
 *
 * @module
 */

import { CoarseTimers } from "../async/coarse_timers.ts";
import { JobStoppedError } from "../errors.ts";
import type { HttpClient } from "../http_client.ts";
import type { LookupHost } from "../runtime.ts";
import { strictStringify } from "../job_result.ts";
import { capacityRefusal, json, jsonText } from "../worker/json_response.ts";
import type { RunPodLogger } from "../run_pod_logger.ts";
import type { Job } from "../types.ts";
import type { HeldJob, JobOutcome, JobWorker } from "../worker/job_worker.ts";
import { postWebhook } from "../worker/post_webhook.ts";
import { ResultStore } from "../worker/result_store.ts";
import { statusBody } from "../worker/status_body.ts";
import { DEFAULT_READER_WAIT_MS, StreamBuffer } from "./stream_buffer.ts";

/** Options for {@linkcode DevJobs}. */
export interface DevJobsOptions {
  /** The shared worker. */
  worker: JobWorker;
  /** The logger. */
  logger: RunPodLogger;
  /** The client that posts webhooks. */
  http: HttpClient;
  /** Resolves webhook host names for the webhook rule ({@linkcode LookupHost}). @default none */
  lookupHost?: LookupHost;
  /** How long a finished job can still be read, in ms. @default 1800000 (30 min, as RunPod) */
  resultTtlMs?: number;
  /** How many finished jobs are kept at most. @default 10000 */
  maxStoredResults?: number;
  /** How many bytes of finished jobs (input, result, chunks) are kept at most. @default 256 MiB */
  maxStoredBytes?: number;
  /** How long `/stream` holds a request open waiting for chunks, in ms. @default 10000 */
  streamHoldMs?: number;
}

/** A job as the client submitted it. */
export interface DevSubmission {
  /** The handler's `job.input`. */
  input: unknown;
  /** An http(s) URL to POST the final status to. */
  webhook?: string;
  /** `executionTimeout` in ms: past it the job is aborted and ends `TIMED_OUT`. */
  policy?: { executionTimeout?: number };
  /** The body's other keys (`s3Config`, ...): the job's other keys, as on the platform. */
  extra?: Readonly<Record<string, unknown>>;
  /** The request body's size, for the store's memory accounting. */
  bytes: number;
}

interface DevJob {
  job: Job;
  timeoutMs?: number;
  bytes: number;
  buffer: StreamBuffer;
  held?: HeldJob;
  outcome?: JobOutcome;
  body?: string;
  /** A non-streaming job's output was handed to `/stream` already. */
  outputStreamed: boolean;
}

const TERMINAL_NOT_RETRYABLE = new Set(["COMPLETED", "CANCELLED"]);

/**
 * Runs dev API submissions through the worker and answers RunPod's v2 operations. Every answer
 * to a call that succeeded is exactly 200 (`runpod-sdk` reads any other 2xx as empty).
 *
 * @example
 * ```ts ignore
 * const jobs = new DevJobs({ worker, logger, http: fetchClient });
 * const accepted = jobs.run({ input: { prompt: "hi" }, bytes: 20 }); // {id, status: "IN_QUEUE"}
 * ```
 */
export class DevJobs {
  readonly #o: DevJobsOptions;
  readonly #live = new Map<string, DevJob>();
  readonly #store: ResultStore<DevJob>;
  readonly #holdMs: number;
  readonly #counts = { completed: 0, failed: 0, retried: 0 };
  /** Wakes the requests waiting for a result; all of them at shutdown (one listener, not one each). */
  readonly #waits = new Set<() => void>();
  readonly #timers = new CoarseTimers();

  /** @param options Worker, logger, webhook client and retention bounds. */
  constructor(options: DevJobsOptions) {
    this.#o = options;
    this.#holdMs = options.streamHoldMs ?? 10_000;
    options.worker.signal.addEventListener("abort", () => {
      for (const wake of this.#waits) wake();
      this.#timers.clear();
    }, { once: true });
    this.#store = new ResultStore<DevJob>({
      ttlMs: options.resultTtlMs ?? 30 * 60_000,
      maxEntries: options.maxStoredResults ?? 10_000,
      maxBytes: options.maxStoredBytes ?? 256 * 1024 * 1024,
      size: (record: DevJob) =>
        record.bytes + (record.body?.length ?? 0) * 2 + record.buffer.heldBytes * 2 + 256,
    });
  }

  /**
   * `POST /run`: queues the job and answers at once; it runs in the background through the gate.
   *
   * @param submission The parsed body.
   * @returns 200 `{id, status: "IN_QUEUE"}`, 429 when the wait queue is full, 503 while draining.
   */
  run(submission: DevSubmission): Response {
    const record = this.#accept(submission);
    if (record instanceof Response) return record;
    return json(200, { id: record.job.id, status: "IN_QUEUE" });
  }

  /**
   * `POST /runsync?wait=`: runs the job and answers its result if it ends within `waitMs`, else
   * its current status (the client then polls `/status-sync`).
   *
   * @param submission The parsed body.
   * @param waitMs How long to wait for the result.
   * @returns 200 with the status body, or the refusal.
   */
  runSync(submission: DevSubmission, waitMs: number): Promise<Response> {
    // No request signal: reading it costs an AbortController per request on Node, and the job
    // runs to its stored result anyway if the client leaves (the wait ends with the job).
    const record = this.#accept(submission);
    if (record instanceof Response) return Promise.resolve(record);
    // A `then`, not an async function: every /runsync waits here.
    return this.#settled(record, waitMs).then(() => this.#statusOf(record));
  }

  /**
   * `GET|POST /status/:id` and `GET /status-sync/:id?wait=`.
   *
   * @param id The job id.
   * @param waitMs How long to wait for a terminal state first. @default 0
   * @param signal The request's signal.
   * @returns 200 with the status body, or 404.
   */
  async status(id: string, waitMs = 0, signal?: AbortSignal): Promise<Response> {
    const record = this.#find(id);
    if (!record) return notFound();
    await this.#settled(record, waitMs, signal);
    return this.#statusOf(record);
  }

  /**
   * `GET|POST /stream/:id`: the chunks produced since the last read, held open until there are
   * some or the job ends. The answer that first reports a terminal status carries the last
   * chunks (a non-streaming job's output is its one chunk).
   *
   * @param id The job id.
   * @param signal The request's signal.
   * @returns 200 `{id, status, stream: [{output}, ...]}`, or 404.
   */
  async stream(id: string, signal: AbortSignal): Promise<Response> {
    const record = this.#find(id);
    if (!record) return notFound();
    if (!record.outcome) {
      await record.buffer.wait(this.#holdMs, signal, this.#o.worker.signal);
    }
    // Read the status and take the chunks in one synchronous step: every chunk of a job that
    // has ended is in the buffer already, so none can arrive after the terminal answer.
    const { outcome, held } = record;
    const chunks = record.buffer.take();
    let text = `{"id":${JSON.stringify(record.job.id)},"status":"${
      outcome?.status ?? held!.status
    }"`;
    if (outcome) {
      if (!outcome.isStream && !record.outputStreamed && outcome.result.output !== undefined) {
        record.outputStreamed = true;
        chunks.push(strictStringify({ output: outcome.result.output }));
      }
      if (outcome.result.error !== undefined) {
        text += `,"error":${strictStringify(outcome.result.error)}`;
      }
    }
    return jsonText(200, `${text},"stream":[${chunks.join(",")}]}`);
  }

  /**
   * `POST /cancel/:id`: aborts the job's `ctx.signal`; it ends `CANCELLED`. A job that already
   * ended answers its final status unchanged.
   *
   * @param id The job id.
   * @returns 200 with the status body, or 404.
   */
  async cancel(id: string): Promise<Response> {
    const record = this.#find(id);
    if (!record) return notFound();
    const held = record.outcome ? undefined : record.held;
    if (held) {
      // The cancel settles the job at once, and its record lets the handle go.
      this.#o.worker.cancel(id, new JobStoppedError(id));
      await held.done;
    }
    return this.#statusOf(record);
  }

  /**
   * `POST /retry/:id`: runs a `FAILED` or `TIMED_OUT` job again under the same id.
   *
   * @param id The job id.
   * @returns 200 `{id, status: "IN_QUEUE"}`, 400 for a job in another state, or 404.
   */
  retry(id: string): Response {
    const record = this.#find(id);
    if (!record) return notFound();
    const status = record.outcome?.status ?? record.held?.status ?? "IN_QUEUE";
    if (!record.outcome || TERMINAL_NOT_RETRYABLE.has(status)) {
      return json(400, {
        error: `job ${id} is ${status}: only FAILED or TIMED_OUT jobs can be retried`,
      });
    }
    const again: DevJob = { ...record, buffer: new StreamBuffer(), outputStreamed: false };
    delete again.outcome;
    delete again.body;
    const started = this.#start(again);
    if (started) return started;
    this.#store.delete(id);
    this.#counts.retried++;
    return json(200, { id, status: "IN_QUEUE" });
  }

  /**
   * `POST /purge-queue`: cancels every job still waiting for a slot (running jobs go on).
   *
   * @returns 200 `{removed, status: "completed"}`.
   */
  purgeQueue(): Response {
    let removed = 0;
    for (const record of [...this.#live.values()]) {
      if (record.held?.status !== "IN_QUEUE") continue;
      if (this.#o.worker.cancel(record.job.id, new JobStoppedError(record.job.id))) removed++;
    }
    return json(200, { removed, status: "completed" });
  }

  /**
   * `GET /health`: job counts, and this one worker as idle or running.
   *
   * @returns 200 in the shape `runpod-sdk` reads.
   */
  health(): Response {
    let inQueue = 0;
    let inProgress = 0;
    for (const record of this.#live.values()) {
      if (record.held?.status === "IN_PROGRESS") inProgress++;
      else inQueue++;
    }
    const worker = this.#o.worker;
    const ready = worker.state === "ready" ? 1 : 0;
    const running = ready && worker.gate.running > 0 ? 1 : 0;
    return json(200, {
      jobs: { ...this.#counts, inProgress, inQueue },
      workers: {
        idle: ready - running,
        initializing: worker.state === "initializing" ? 1 : 0,
        ready: ready - running,
        running,
        throttled: 0,
      },
    });
  }

  #find(id: string): DevJob | undefined {
    return this.#live.get(id) ?? this.#store.get(id);
  }

  #accept(submission: DevSubmission): DevJob | Response {
    const job: Job = { ...submission.extra, id: crypto.randomUUID(), input: submission.input };
    if (submission.webhook !== undefined) job.webhook = submission.webhook;
    const record: DevJob = {
      job,
      timeoutMs: submission.policy?.executionTimeout,
      bytes: submission.bytes,
      buffer: new StreamBuffer(),
      outputStreamed: false,
    };
    return this.#start(record) ?? record;
  }

  /** Submits the record's job; the refusal to answer, if the worker will not take it. */
  #start(record: DevJob): Response | undefined {
    try {
      record.held = this.#o.worker.submit(record.job, {
        admission: "queue",
        timeoutMs: record.timeoutMs,
        sink: () => record.buffer.sink(),
        onStart: () => record.buffer.touch(), // a /stream long-poll reports IN_PROGRESS at once
        deliver: (outcome) => this.#finish(record, outcome),
      });
    } catch (error) {
      const refusal = capacityRefusal(error, 1);
      if (refusal) return refusal;
      throw error;
    }
    this.#live.set(record.job.id, record);
    return undefined;
  }

  #finish(record: DevJob, outcome: JobOutcome): void {
    const { job } = record;
    record.outcome = outcome;
    record.body = statusBody(outcome);
    this.#o.logger.info("Finished.", job.id); // as the pull worker logs a posted result
    record.buffer.end();
    const dropped = record.buffer.dropped;
    if (dropped > 0) {
      this.#o.logger.warn(
        `${dropped} stream chunks were dropped unread: nobody read /stream for ${
          DEFAULT_READER_WAIT_MS / 1000
        } s while the buffer was full.`,
        job.id,
      );
    }
    // Kept in the store from here on: let the worker's handle (its controller, promises) go.
    record.held = undefined;
    if (outcome.status === "COMPLETED") this.#counts.completed++;
    else if (outcome.status !== "CANCELLED") this.#counts.failed++;
    this.#live.delete(job.id);
    if (this.#store.set(job.id, record) === "too-large") {
      this.#o.logger.warn(
        `The finished job (input, result and unread chunks) is over the result store's ` +
          `${this.#store.maxBytes} bytes (maxStoredBytes), so it is not kept: ` +
          `/status and /stream answer 404 for it from now on.`,
        job.id,
      );
    }
    if (typeof job.webhook === "string") {
      const { worker, http, lookupHost, logger } = this.#o;
      worker.track(
        Symbol(`webhook:${job.id}`), // a symbol: never a job id's key
        postWebhook(job.webhook, record.body, {
          http,
          lookupHost,
          log: logger.forJob(job),
          signal: worker.forcedSignal, // the drain's end stops it
        }),
      );
    }
  }

  /** Waits up to `ms` for the record's job to end (or the client to leave, or shutdown). */
  #settled(record: DevJob, ms: number, signal?: AbortSignal): Promise<void> {
    const held = record.held;
    if (record.outcome || !held || ms <= 0 || signal?.aborted) return Promise.resolve();
    let wake!: () => void;
    let slot = 0;
    return new Promise<void>((resolve) => {
      wake = () => resolve();
      held.done.then(wake);
      // Rounded up to 10 ms: most waits end with their job long before, and share a timer.
      slot = this.#timers.add(ms, wake);
      this.#waits.add(wake);
      signal?.addEventListener("abort", wake, { once: true });
    }).then(() => {
      this.#timers.cancel(slot, wake);
      this.#waits.delete(wake);
      signal?.removeEventListener("abort", wake);
    });
  }

  #statusOf(record: DevJob): Response {
    if (record.body !== undefined) return jsonText(200, record.body);
    const held = record.held!;
    return json(200, {
      id: record.job.id,
      status: held.status,
      delayTime: held.delayTime,
      executionTime: held.executionTime,
    });
  }
}

/** The real API's answer to an id it does not know (or no longer keeps). */
function notFound(): Response {
  return json(404, { error: "request does not exist" });
}
