/**
 * The push intake's job logic: submissions become worker jobs, answers go back synchronously,
 * asynchronously, or streamed, and a redelivered id never runs twice.
 *
 * @module
 */

import type { WorkerConfig } from "../config.ts";
import { JobStoppedError, WorkerShutdownError } from "../errors.ts";
import type { HttpClient } from "../http_client.ts";
import type { LookupHost } from "../runtime.ts";
import type { RunPodLogger } from "../run_pod_logger.ts";
import type { Job } from "../types.ts";
import { validateInput } from "../validate_input.ts";
import type { HeldJob, JobOutcome, JobWorker } from "../worker/job_worker.ts";
import { postWebhook } from "../worker/post_webhook.ts";
import { ResultStore } from "../worker/result_store.ts";
import { statusBody } from "../worker/status_body.ts";
import { capacityRefusal, json, jsonText as text } from "../worker/json_response.ts";
import { ChunkFeed, type FeedFormat } from "./chunk_feed.ts";
import type { RejectReason } from "./prometheus_metrics.ts";
import type { PushSubmission } from "./push_submission.ts";

/** How the submitter wants the answer. */
export type ReplyMode = "sync" | "async" | FeedFormat;

/**
 * Keeps work alive after the answer is sent: an edge runtime's `ctx.waitUntil` (workerd and
 * Cloudflare Workers cancel a request's timers and I/O once its response is done, unless told).
 */
export type KeepAlive = (work: Promise<unknown>) => void;

/** Options for {@linkcode PushJobs}. */
export interface PushJobsOptions {
  /** The shared worker. */
  worker: JobWorker;
  /** The configuration (push settings, input schema). */
  config: WorkerConfig;
  /** The logger. */
  logger: RunPodLogger;
  /** The client that posts webhooks. */
  http: HttpClient;
  /** Resolves webhook host names for the webhook rule ({@linkcode LookupHost}). @default none */
  lookupHost?: LookupHost;
  /** Counts a refusal for `/metrics`. */
  reject: (reason: RejectReason) => void;
}

/** A final status body kept for redeliveries and `GET /jobs/:id`. */
interface Stored {
  body: string;
  /** A failure answered 5xx: a redelivery runs the job again. */
  rerun: boolean;
}

interface Tracked {
  /** The chunks for stream watchers: made when the handler streams or somebody watches. */
  feed?: ChunkFeed;
  /** Who can still collect the result: sync waiters, stream watchers, async submitters. */
  collectors: number;
  /** Dropped before it ran because nobody could collect it: forget, do not store. */
  dropped?: boolean;
  /** The final status body, once made. */
  body?: string;
  /** The webhook post, once started (`true` when delivered). */
  delivery?: Promise<boolean>;
}

/**
 * Runs push submissions through the worker and answers them.
 *
 * @example
 * ```ts ignore
 * const jobs = new PushJobs({ worker, config, logger, http, reject: () => {} });
 * const response = await jobs.submit({ input: 1, source: "native" }, "sync", () => request.signal);
 * ```
 */
export class PushJobs {
  readonly #o: PushJobsOptions;
  readonly #store: ResultStore<Stored>;
  readonly #tracked = new Map<string, Tracked>();

  /** @param options Worker, configuration, logger, webhook client and rejection counter. */
  constructor(options: PushJobsOptions) {
    this.#o = options;
    const { push } = options.config;
    this.#store = new ResultStore<Stored>({
      ttlMs: push.resultTtlMs,
      maxEntries: push.maxStoredResults,
      maxBytes: push.maxStoredBytes,
      size: (stored: Stored) => stored.body.length * 2 + 72,
    });
  }

  /**
   * Answers one submission: attaches to a running job with the same id, returns a stored
   * result, or runs the job.
   *
   * @param submission The parsed submission.
   * @param mode How to answer.
   * @param signal The request's signal (aborts when the client goes away), read only for a job
   * that has to wait for a slot: on Node and Deno reading a request's signal makes an
   * `AbortController` per request, which costs a third of a bare route's throughput.
   * @param keepAlive Where a new job's run and webhook post are kept alive past the answer (an
   * edge runtime's `waitUntil`); needed for a 202 answer or a webhook, where the work outlives
   * the request.
   * @returns The HTTP answer.
   */
  submit(
    submission: PushSubmission,
    mode: ReplyMode,
    signal: () => AbortSignal,
    keepAlive?: KeepAlive,
  ): Promise<Response> {
    let id = submission.id;
    if (id === undefined) {
      id = crypto.randomUUID(); // new: nothing to attach to or replay
    } else {
      const known = this.#known(id, mode, signal);
      if (known) return known;
    }
    // No async frame on the common path (no schema): every sync submission passes here.
    if (this.#o.config.inputSchema) return this.#validated(id, submission, mode, signal, keepAlive);
    return this.#run(id, submission.input, submission, mode, signal, keepAlive);
  }

  async #validated(
    id: string,
    submission: PushSubmission,
    mode: ReplyMode,
    signal: () => AbortSignal,
    keepAlive: KeepAlive | undefined,
  ): Promise<Response> {
    const checked = await validateInput(this.#o.config.inputSchema!, submission.input);
    if (!checked.ok) {
      this.#o.reject("invalid_input");
      return json(422, { error: checked.message, issues: checked.issues });
    }
    // A redelivery may have started the same id while this one was being validated.
    const known = id === submission.id ? this.#known(id, mode, signal) : undefined;
    if (known) return await known;
    return await this.#run(id, checked.value, submission, mode, signal, keepAlive);
  }

  #run(
    id: string,
    input: unknown,
    submission: PushSubmission,
    mode: ReplyMode,
    signal: () => AbortSignal,
    keepAlive: KeepAlive | undefined,
  ): Promise<Response> {
    const job: Job = { ...submission.extra, id, input };
    if (submission.webhook !== undefined) job.webhook = submission.webhook;
    const tracked: Tracked = { feed: undefined, collectors: 0, dropped: false, body: undefined };
    let started: HeldJob;
    try {
      started = this.#o.worker.submit(job, {
        admission: "queue",
        inputValidated: true,
        timeoutMs: submission.policy?.executionTimeout,
        sink: () => (tracked.feed ??= new ChunkFeed()).sink(),
        deliver: (outcome) => this.#finish(job, tracked, outcome),
      });
    } catch (error) {
      const refusal = capacityRefusal(error, this.#retryAfter());
      if (!refusal) return Promise.reject(error);
      this.#o.reject(refusal.status === 429 ? "busy" : "draining");
      return Promise.resolve(refusal);
    }
    this.#tracked.set(id, tracked);
    keepAlive?.(started.done.then(() => tracked.delivery));
    return this.#answer(started, mode, signal);
  }

  /**
   * The status of a job, running or stored.
   *
   * @param id The job id.
   * @returns 200 with the status body, or 404.
   */
  status(id: string): Response {
    const held = this.#o.worker.get(id);
    if (held && this.#tracked.has(id)) return json(200, progressBody(held));
    const stored = this.#store.get(id);
    if (stored !== undefined) return text(200, stored.body);
    this.#o.reject("not_found");
    return json(404, { error: `Job ${id} was not found` });
  }

  /**
   * Cancels a running job (its `ctx.signal` aborts) and answers its final status.
   *
   * @param id The job id.
   * @returns 200 with the status body, or 404.
   */
  async cancel(id: string): Promise<Response> {
    const held = this.#o.worker.get(id);
    if (held && this.#tracked.has(id)) {
      this.#o.worker.cancel(id, new JobStoppedError(id));
      const outcome = await held.done;
      return text(200, statusBody(outcome));
    }
    return this.status(id);
  }

  #answer(held: HeldJob, mode: ReplyMode, signal: () => AbortSignal): Promise<Response> {
    const id = held.job.id;
    const tracked = this.#tracked.get(id);
    if (!tracked) {
      return Promise.resolve(json(409, { error: `Job ${id} is held by another intake` }));
    }
    if (mode === "async") {
      tracked.collectors++; // it will poll, or read its webhook
      return Promise.resolve(json(202, { id, status: held.status }, {
        location: `/jobs/${encodeURIComponent(id)}`,
      }));
    }
    if (mode === "sse" || mode === "ndjson") {
      const body = (tracked.feed ??= new ChunkFeed()).watch(mode);
      tracked.collectors++;
      return Promise.resolve(
        new Response(watchEnd(body, () => this.#leave(held, tracked)), {
          headers: streamHeaders(mode),
        }),
      );
    }
    tracked.collectors++;
    // Only a job still waiting for a slot is dropped when its client leaves (see #leave).
    const gone = held.status === "IN_QUEUE" ? signal() : undefined;
    const onAbort = () => this.#leave(held, tracked);
    gone?.addEventListener("abort", onAbort, { once: true });
    // A `then`, not an async function: every sync submission waits here.
    return held.done.then((outcome) => {
      gone?.removeEventListener("abort", onAbort);
      const body = tracked.body ?? statusBody(outcome);
      // Cut short by this worker's shutdown, not failed: the sender must deliver it again (to
      // another worker), which a 200 would acknowledge.
      if (cutByShutdown(outcome)) return text(503, body, { "retry-after": "5" });
      const failed = outcome.status === "FAILED" || outcome.status === "TIMED_OUT";
      return text(failed ? this.#o.config.push.failureStatus : 200, body);
    });
  }

  /**
   * A collector went away. A job nobody can collect that has not started is dropped (no GPU
   * time spent, nothing stored, so a redelivery runs it once); a running one finishes and its
   * result is stored for the redelivery.
   */
  #leave(held: HeldJob, tracked: Tracked): void {
    tracked.collectors--;
    if (tracked.collectors > 0 || held.status !== "IN_QUEUE" || held.job.webhook) return;
    tracked.dropped = true;
    this.#o.logger.info("Client went away before the job started; dropped.", held.job.id);
    this.#o.worker.cancel(held.job.id, new JobStoppedError(held.job.id));
  }

  #finish(job: Job, tracked: Tracked, outcome: JobOutcome): void {
    const body = tracked.body = statusBody(outcome);
    this.#o.logger.info("Finished.", job.id); // as the pull worker logs a posted result
    this.#tracked.delete(job.id);
    if (!tracked.dropped) {
      // With failures answered 5xx the sender redelivers to run the job again; the stored
      // failure still answers GET /jobs/:id until then.
      const failed = outcome.status === "FAILED" || outcome.status === "TIMED_OUT";
      const rerun = cutByShutdown(outcome) || (failed && this.#o.config.push.failureStatus !== 200);
      if (this.#store.set(job.id, { body, rerun }) === "too-large") {
        this.#o.logger.warn(
          `The result (${body.length} characters) is over the result store's ` +
            `${this.#store.maxBytes} bytes (push.maxStoredBytes), so it is not kept: ` +
            `GET /jobs/:id answers 404 for it and a redelivery of its id runs the job again.`,
          job.id,
        );
      }
    }
    tracked.feed?.end(body);
    const webhook = job.webhook;
    if (typeof webhook === "string" && !tracked.dropped) {
      const { worker, http, lookupHost, logger, config } = this.#o;
      const delivery = postWebhook(webhook, body, {
        http,
        lookupHost,
        hosts: config.push.webhookHosts,
        log: logger.forJob(job),
        signal: worker.forcedSignal, // the drain's end stops it
      });
      tracked.delivery = delivery;
      worker.track(Symbol(`webhook:${job.id}`), delivery); // a symbol: never a job id's key
    }
  }

  /**
   * The answer for an id the intake already knows: attached to its running job, or its stored
   * result; `undefined` when it must run (new, or a failure the sender redelivers to rerun).
   * Decided synchronously, so no other submission of the id can start in between.
   */
  #known(id: string, mode: ReplyMode, signal: () => AbortSignal): Promise<Response> | undefined {
    const held = this.#o.worker.get(id);
    if (held) return this.#answer(held, mode, signal);
    const stored = this.#store.get(id);
    if (stored === undefined) return undefined;
    if (stored.rerun) {
      this.#store.delete(id);
      return undefined;
    }
    return Promise.resolve(this.#stored(stored.body, mode));
  }

  #stored(body: string, mode: ReplyMode): Response {
    if (mode === "sse" || mode === "ndjson") {
      const feed = new ChunkFeed();
      feed.end(body);
      return new Response(feed.watch(mode), { headers: streamHeaders(mode) });
    }
    return text(200, body);
  }

  /** Seconds until a slot is likely free: about one mean job duration, 1 to 60. */
  #retryAfter(): number {
    const { durationSum, durationCount } = this.#o.worker.stats;
    const mean = durationCount === 0 ? 1 : durationSum / durationCount;
    return Math.min(60, Math.max(1, Math.ceil(mean)));
  }
}

/** Whether the worker's shutdown aborted the job (at the drain deadline, or a second signal). */
function cutByShutdown(outcome: JobOutcome): boolean {
  return outcome.aborted instanceof WorkerShutdownError;
}

function progressBody(held: HeldJob) {
  return {
    id: held.job.id,
    status: held.status,
    delayTime: held.delayTime,
    executionTime: held.executionTime,
  };
}

/** Calls `onEnd` once when the body is cancelled by the client (it went away). */
function watchEnd(body: ReadableStream<Uint8Array>, onEnd: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = () => {
    if (!ended) (ended = true, onEnd());
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read();
      if (next.done) {
        ended = true;
        controller.close();
      } else controller.enqueue(next.value);
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function streamHeaders(mode: FeedFormat): Record<string, string> {
  return mode === "sse"
    ? {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    }
    : { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-cache" };
}
