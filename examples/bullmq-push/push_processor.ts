/**
 * The dispatcher's BullMQ processor: forwards one BullMQ job to a pool of edgepod push workers
 * (`POST <poolUrl>/jobs`) and turns the answer into what BullMQ should do with the job.
 *
 * | answer from the pool                     | BullMQ job                                           |
 * | ---------------------------------------- | ---------------------------------------------------- |
 * | 200 `COMPLETED`                          | completed; the answer is its return value            |
 * | 200 `FAILED` / `CANCELLED` / `TIMED_OUT` | failed at once (`UnrecoverableError`): no retry loop |
 * | 200 `FAILED` by `WorkerShutdownError`    | thrown: retried (the worker's drain cut it short)    |
 * | 429 or 503 + `Retry-After`               | delayed by `Retry-After` (not counted as an attempt) |
 * | the pool's address refuses (not sent)    | delayed like a 503 without `Retry-After`             |
 * | no connection within `connectTimeoutMs`  | the same: nothing was sent                           |
 * | 401 or 403 (a token the pool refuses)    | delayed by `authRetryAfterMs` (not an attempt)       |
 * | other 4xx (400, 413, 422, ...)           | failed at once: a resend would get the same answer   |
 * | 5xx, network error, timeout              | thrown: BullMQ's `attempts`/`backoff` retry it       |
 *
 * The push job id comes from the BullMQ job ({@linkcode pushJobId}), the same for every delivery
 * of it, so a redelivery (a retry after a lost answer, a stalled job taken again) reaches a worker
 * that deduplicates it: it attaches to the running job or returns the stored result, and the
 * handler does not run again (within that worker's window).
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { NotSentError, postJson } from "./post_json.ts";

/**
 * The default request deadline: above the nginx template's default `proxy_read_timeout` (600 s),
 * so a job is cut by one setting, nginx's, and never resent by the dispatcher while it runs.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 610_000;

/** Options for {@linkcode createPushProcessor}. */
export interface PushProcessorOptions {
  /** The pool's base URL (nginx), e.g. `http://127.0.0.1:8080`. */
  poolUrl: string;
  /** Extra request headers, e.g. `{ authorization: "Bearer ..." }`. @default {} */
  headers?: Record<string, string>;
  /**
   * One request's deadline. It covers the job's whole run (answers are synchronous), so keep it
   * above nginx's `proxy_read_timeout`, itself above the longest job; a job whose
   * `policy.executionTimeout` is longer gets that plus 10 s. @default {@linkcode DEFAULT_REQUEST_TIMEOUT_MS}
   */
  requestTimeoutMs?: number;
  /** Delay when a 429/503 carries no usable `Retry-After`. @default 1000 */
  defaultRetryAfterMs?: number;
  /** Random extra delay added to each deferral, up to this fraction of it (spreads the herd). @default 0.25 */
  jitter?: number;
  /**
   * Delay when the pool refuses the dispatcher's credentials (401 or 403): a token rotated on one
   * side before the other is a configuration problem, not the job's, so the job waits for it to
   * be mended instead of failing. @default 30_000
   */
  authRetryAfterMs?: number;
  /** A job deferred (429/503, 401/403) more times than this fails instead. @default 10_000 */
  maxDeferrals?: number;
  /** The largest answer body read; a larger one is a failed request (retried). @default 1_048_576 */
  maxAnswerBytes?: number;
  /** How long opening a connection to the pool may take; past it the job is deferred. @default 10_000 */
  connectTimeoutMs?: number;
  /** Connections the keep-alive agent opens at most. @default 256 */
  maxSockets?: number;
  /**
   * Called on each deferral with its status (0: the pool was not reachable; 401 or 403: the pool
   * refused the credentials, which needs an operator), for metrics and alerts. @default undefined
   */
  onDeferral?: (status: number, delayMs: number) => void;
}

/** What a push worker answers, in RunPod's status shape. */
export interface PushAnswer {
  /** The push job id ({@linkcode pushJobId}). */
  id: string;
  /** The final status. */
  status: string;
  /** The handler's output, when COMPLETED. */
  output?: unknown;
  /** The error, when FAILED. */
  error?: unknown;
  /** Milliseconds queued in the worker before the run. */
  delayTime?: number;
  /** Milliseconds the run took. */
  executionTime?: number;
}

/** What a BullMQ job's data holds: the push body without its id. */
export interface PushJobData {
  /** The handler's input. */
  input: unknown;
  /** Passed through to the worker. */
  policy?: { executionTimeout?: number };
}

/** The processor, plus `close()`, which ends its keep-alive connections (after the Worker closed). */
export interface PushProcessor {
  /** Forwards one job; resolves with the answer of a COMPLETED job. */
  (job: Job<PushJobData>, token?: string): Promise<PushAnswer>;
  /** Closes the keep-alive connections. */
  close(): void;
}

/**
 * Parses `Retry-After` (delta seconds or an HTTP date) into milliseconds.
 *
 * @param value The header value.
 * @param now The current time, for dates.
 * @returns The delay, or `undefined` when the value is absent or malformed.
 *
 * @example
 * ```ts
 * import { retryAfterMs } from "./push_processor.ts";
 * console.assert(retryAfterMs("2", 0) === 2000);
 * console.assert(retryAfterMs("soon", 0) === undefined);
 * ```
 */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The push job id of a BullMQ job. A custom id (`jobId` given to `add`; BullMQ refuses integers
 * there) is the producer's own key and is sent as it is. BullMQ's own ids are a per-queue counter
 * (`"1"`, `"2"`, ...) that every queue repeats and that starts again when Redis loses its data, so
 * they are sent as `<queue>:<id>:<job.timestamp>`: the same for every delivery of the job (its
 * creation time does not change), never the id of another job a worker still holds a result for.
 *
 * @param job The BullMQ job (its `id`, `queueName` and `timestamp`).
 * @returns The id to send as the push job's `id`.
 *
 * @example
 * ```ts
 * import { pushJobId } from "./push_processor.ts";
 * console.assert(pushJobId({ id: "order-7", queueName: "jobs", timestamp: 1 }) === "order-7");
 * console.assert(pushJobId({ id: "7", queueName: "jobs", timestamp: 1 }) === "jobs:7:1");
 * ```
 */
export function pushJobId(job: Pick<Job, "id" | "queueName" | "timestamp">): string {
  const id = job.id ?? "";
  return /^\d+$/.test(id) ? `${job.queueName}:${id}:${job.timestamp}` : id;
}

/**
 * Whether a FAILED answer's error is the worker's own shutdown (its drain deadline passed, or a
 * second signal), not the handler's: edgepod reports it as a `WorkerShutdownError`.
 */
function cutShortByShutdown(error: unknown): boolean {
  if (typeof error !== "string" || !error.includes("WorkerShutdownError")) return false;
  try {
    return (JSON.parse(error) as { error_type?: unknown }).error_type === "WorkerShutdownError";
  } catch {
    return false;
  }
}

function summary(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text === undefined ? "" : text.length > 1000 ? `${text.slice(0, 1000)}...` : text;
}

/**
 * Builds the processor for `new Worker(queueName, processor, ...)`.
 *
 * @param options The pool and the retry policy.
 * @returns The processor: it resolves with the push answer of a COMPLETED job.
 * @throws {TypeError} When `poolUrl` is not an http(s) URL.
 *
 * @example
 * ```ts ignore
 * import { Worker } from "bullmq";
 * import { createPushProcessor } from "./push_processor.ts";
 * const processor = createPushProcessor({ poolUrl: "http://127.0.0.1:8080" });
 * const worker = new Worker("jobs", processor, {
 *   connection: { host: "127.0.0.1", port: 6379 },
 *   concurrency: 64,
 * });
 * ```
 */
export function createPushProcessor(
  options: PushProcessorOptions,
): PushProcessor {
  const base = new URL(options.poolUrl);
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError(`'poolUrl' must be an http(s) URL: received ${options.poolUrl}`);
  }
  const url = new URL("/jobs", base);
  const headers = options.headers ?? {};
  const agent = new (base.protocol === "https:" ? https : http).Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 256,
  });
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const defaultRetryAfterMs = options.defaultRetryAfterMs ?? 1000;
  const jitter = options.jitter ?? 0.25;
  const maxDeferrals = options.maxDeferrals ?? 10_000;
  const maxAnswerBytes = options.maxAnswerBytes ?? 1_048_576;
  const authRetryAfterMs = options.authRetryAfterMs ?? 30_000;

  /** Moves the job to delayed (not an attempt), or fails it past `maxDeferrals`. */
  const defer = async (
    job: Job<PushJobData>,
    token: string | undefined,
    status: number,
    header: unknown,
    fallbackMs = defaultRetryAfterMs,
  ): Promise<never> => {
    // attemptsStarted counts every move to active, deferrals included; attemptsMade, failures.
    const deferrals = job.attemptsStarted - job.attemptsMade;
    if (deferrals > maxDeferrals) {
      throw new UnrecoverableError(
        `The pool refused the job ${deferrals} times (last answer ${status || "not reachable"})`,
      );
    }
    const wait = retryAfterMs(typeof header === "string" ? header : null, Date.now()) ??
      fallbackMs;
    const delay = Math.round(wait * (1 + Math.random() * jitter));
    options.onDeferral?.(status, delay);
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  };

  const processor = async (job: Job<PushJobData>, token?: string): Promise<PushAnswer> => {
    if (job.id === undefined) throw new UnrecoverableError("The BullMQ job has no id");
    const body = JSON.stringify({
      id: pushJobId(job),
      input: job.data.input,
      policy: job.data.policy,
    });
    let response;
    try {
      // Throws on a network error or timeout: BullMQ retries it with the job's attempts/backoff.
      response = await postJson(url, body, {
        agent,
        headers,
        // Past the worker's own TIMED_OUT answer: a resend of a job still running would run it twice.
        timeoutMs: Math.max(requestTimeoutMs, (job.data.policy?.executionTimeout ?? 0) + 10_000),
        maxBytes: maxAnswerBytes,
        connectTimeoutMs: options.connectTimeoutMs,
      });
    } catch (error) {
      // Nothing was sent (the pool's address refused): an outage, not a failed attempt.
      if (error instanceof NotSentError) return await defer(job, token, 0, undefined);
      throw error;
    }
    if (response.status === 429 || response.status === 503) {
      return await defer(job, token, response.status, response.headers["retry-after"]);
    }
    if (response.status === 401 || response.status === 403) {
      // The pool does not take this dispatcher's token (rotated on one side only): every job
      // would fail alike, so all of them wait for the configuration instead.
      return await defer(job, token, response.status, undefined, authRetryAfterMs);
    }
    const text = response.text;
    if (response.status >= 500) {
      throw new Error(`The pool answered ${response.status}: ${summary(text)}`);
    }
    if (response.status !== 200) {
      throw new UnrecoverableError(`The pool answered ${response.status}: ${summary(text)}`);
    }
    let answer: PushAnswer;
    try {
      answer = JSON.parse(text) as PushAnswer;
    } catch {
      throw new Error(`The pool answered 200 with a body that is not JSON: ${summary(text)}`);
    }
    if (answer.status === "COMPLETED") return answer;
    if (answer.status === "IN_QUEUE" || answer.status === "IN_PROGRESS") {
      // Not final yet (a worker that caps its synchronous wait): a retry attaches to the run.
      throw new Error(`The pool answered ${answer.status} for job ${job.id}`);
    }
    if (answer.status === "FAILED" && cutShortByShutdown(answer.error)) {
      // The worker stopped before the job ended (SIGTERM past its drain deadline): not the
      // handler's failure. Retried like a lost answer, with the job's attempts and backoff.
      throw new Error(`The push worker shut down before job ${job.id} finished`);
    }
    throw new UnrecoverableError(
      `${answer.status}: ${summary(answer.error ?? "(no error given)")}`,
    );
  };
  return Object.assign(processor, { close: () => agent.destroy() });
}
