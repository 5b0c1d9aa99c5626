/**
 * The worker side of RunPod's job API over an {@linkcode HttpClient}: take, stop, results,
 * stream chunks and progress, with the headers RunPod expects.
 *
 * @module
 */

import { backoffDelay } from "../async/backoff.ts";
import { JobStoppedError } from "../errors.ts";
import {
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
  ResponseBodyError,
} from "../http_client.ts";
import type { WorkerInfo } from "../job_result.ts";
import type { Logger } from "../types.ts";
import {
  type DeliveryKind,
  type DeliveryRoute,
  type DeliveryTicket,
  OutageMonitor,
} from "./outage_monitor.ts";
import { resultUrlBuilder, type RunPodEnv, takeUrl } from "./runpod_env.ts";
import { readTakeResponse, retryAfter, type TakeOutcome } from "./take_response.ts";

/** Per-operation request timeouts, in ms. */
export interface ClientTimeouts {
  /** A job-take or job-stop long-poll; a poll that times out means "nothing yet". @default 90000 */
  poll?: number;
  /** One attempt of a result, chunk or progress post (then it is retried). @default 60000 */
  post?: number;
  /**
   * Reading the body of a 2xx job-take answer, from its status on. The server has handed the
   * jobs in it to this worker by then, so a shutdown no longer aborts the take; this bound does
   * (the jobs are then lost, and the take says so in an error outcome). @default 30000
   */
  takeBody?: number;
}

/** How often the post watchdog looks for overdue posts, in ms. */
const WATCHDOG_MS = 1000;
/** How many stopped jobs {@linkcode RunPodClient.stopPosts} remembers (the oldest go first). */
const MAX_STOPPED = 1024;

/**
 * How result, chunk and progress posts are retried: until they are delivered, by default. The
 * waits grow from `minDelay` to `maxDelay` with full jitter; a `Retry-After` on a 429 or 5xx
 * answer replaces the computed wait (up to 5 minutes) unless it is shorter than `minDelay`.
 */
export interface PostRetryOptions {
  /** Attempts in all, the first included: a positive integer or `Infinity`. @default Infinity */
  maxAttempts?: number;
  /** The first back-off, in ms. @default 250 (or `maxDelay` when that is smaller) */
  minDelay?: number;
  /** The longest back-off, in ms. @default 10000 */
  maxDelay?: number;
}

/** Per-post options of {@linkcode RunPodClient.postDone} and {@linkcode RunPodClient.postStream}. */
export interface PostOptions {
  /**
   * Stops the retries, at once even during an attempt (which is aborted): the outcome has
   * `aborted: true`. The worker aborts it at the drain deadline plus its grace.
   * @default undefined
   */
  signal?: AbortSignal;
  /**
   * Asked before each retry: `true` stops retrying (a stale progress update that a newer one
   * replaces). An attempt in flight is never abandoned for it, so posts stay in order.
   * @default undefined
   */
  superseded?: () => boolean;
  /** What `postDone` carries, for the outage lines. @default "result" */
  kind?: "result" | "progress";
}

/** The outcome of a post. */
export interface PostOutcome {
  /** The endpoint accepted it (2xx). */
  ok: boolean;
  /** The last HTTP status, when there was an answer. */
  status?: number;
  /** The last answer's body, when there was one. */
  body?: string;
  /** The last network error, when there was no answer. */
  error?: unknown;
  /** Attempts made. */
  attempts: number;
  /** Retries were stopped by `signal` or `superseded` before the post got an answer. */
  aborted?: boolean;
}

/** What a stop poll found. */
export type StopOutcome =
  | { kind: "stop"; ids: string[]; ignored: number }
  | { kind: "none" }
  | { kind: "throttled"; retryAfterMs?: number }
  | { kind: "error"; message: string };

/** The longest `Retry-After` honoured, in ms. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** A failed attempt: a retryable answer (5xx, 429) or a network error. */
type Failure = { response: HttpResponse } | { error: unknown };

/** Options for {@linkcode RunPodClient}. */
export interface RunPodClientOptions {
  /** The HTTP client. */
  http: HttpClient;
  /** The endpoints. */
  env: RunPodEnv;
  /** Who is calling (User-Agent). */
  info: WorkerInfo;
  /** `RUNPOD_UA_INTEGRATION`, appended to the User-Agent. */
  integration?: string;
  /** Result post retries. */
  retry?: PostRetryOptions;
  /** Request timeouts. */
  timeouts?: ClientTimeouts;
  /** Receives the outage lines (WARN, INFO) and one DEBUG line per retry. @default none */
  logger?: Logger;
}

/**
 * RunPod's worker-facing job API.
 *
 * @example
 * ```ts ignore
 * const client = new RunPodClient({ http: fetchClient, env, info });
 * const outcome = await client.take(2, false, signal);
 * ```
 */
export class RunPodClient {
  readonly #http: HttpClient;
  readonly #env: RunPodEnv;
  readonly #getHeaders: Record<string, string>;
  readonly #retry: Required<PostRetryOptions>;
  readonly #logger?: Logger;
  readonly #monitor: OutageMonitor;
  readonly #timeouts: Required<ClientTimeouts>;
  readonly #takeUrls = new Map<number, string>();
  readonly #watched = new Set<
    {
      deadline: number;
      reject: (reason: unknown) => void;
      controller: AbortController;
      outer?: AbortSignal;
    }
  >();
  #watchdog?: ReturnType<typeof setInterval>;
  readonly #urls: Partial<Record<"done" | "doneStream" | "stream", (id: string) => string>> = {};
  #lostTakes = 0;
  /** Jobs RunPod stopped: none of their posts is sent or retried any more. */
  readonly #stopped = new Set<string>();
  /** The posts waiting to retry, so that stopping their job can end them at once. */
  readonly #retrying = new Set<
    { jobId: string; outer?: AbortSignal; controller: AbortController }
  >();
  /** The delivery signals that abort the posts given them, retrying or first (one listener each). */
  readonly #forwarding = new WeakSet<AbortSignal>();

  /** @param options HTTP client, endpoints, identity and retry settings. */
  constructor(options: RunPodClientOptions) {
    this.#http = options.http;
    this.#env = options.env;
    const ua = `edgepod/${options.info.version} (${options.info.runtime}) Language/TypeScript${
      options.integration ? ` Integration/${options.integration}` : ""
    }`;
    this.#getHeaders = {
      authorization: options.env.apiKey,
      "user-agent": ua,
      accept: "application/json",
    };
    const maxDelay = options.retry?.maxDelay ?? 10_000;
    this.#retry = {
      maxAttempts: options.retry?.maxAttempts ?? Infinity,
      minDelay: options.retry?.minDelay ?? Math.min(250, maxDelay),
      maxDelay,
    };
    this.#logger = options.logger;
    this.#monitor = new OutageMonitor({ logger: options.logger });
    this.#timeouts = {
      poll: options.timeouts?.poll ?? 90_000,
      post: options.timeouts?.post ?? 60_000,
      takeBody: options.timeouts?.takeBody ?? 30_000,
    };
  }

  /**
   * How many takes were answered 2xx but their body could not be read to the end: the server
   * handed their jobs to this worker, and they are lost (each is logged by the take loop).
   */
  get lostTakes(): number {
    return this.#lostTakes;
  }

  /**
   * RunPod stopped this job (job-stop): none of its posts is sent any more. A retry waiting for
   * its next attempt ends at once and an attempt in flight is abandoned (its answer is ignored);
   * a later post of the job is not sent at all. Each ends with `ok: false` and a
   * {@linkcode JobStoppedError} as its `error`, so a result spooled through an outage is never
   * delivered for a job RunPod has cancelled meanwhile. The last 1024 stopped jobs are
   * remembered.
   *
   * @param jobId The stopped job.
   */
  stopPosts(jobId: string): void {
    this.#stopped.delete(jobId);
    this.#stopped.add(jobId);
    if (this.#stopped.size > MAX_STOPPED) {
      this.#stopped.delete(this.#stopped.values().next().value!);
    }
    for (const post of this.#retrying) {
      if (post.jobId === jobId) post.controller.abort(new JobStoppedError(jobId));
    }
  }

  /**
   * Whether {@linkcode RunPodClient.stopPosts} was called for a job (among the last 1024).
   *
   * @param jobId The job.
   * @returns `true` when its posts are no longer sent.
   */
  postsStopped(jobId: string): boolean {
    return this.#stopped.size > 0 && this.#stopped.has(jobId);
  }

  /** The take URL for `count` jobs, built once per distinct request. */
  #takeUrl(count: number, inProgress: boolean): string {
    const key = inProgress ? -count : count;
    let url = this.#takeUrls.get(key);
    if (url === undefined) {
      url = takeUrl(this.#env, count, inProgress);
      if (this.#takeUrls.size < 1024) this.#takeUrls.set(key, url);
    }
    return url;
  }

  /**
   * The result URL builder for a template, made on first use, one per template and `isStream`
   * (a missing or broken template throws there, failing only the posts that need it).
   */
  #resultUrl(kind: "done" | "doneStream" | "stream", jobId: string): string {
    let build = this.#urls[kind];
    if (!build) {
      const template = kind === "stream" ? this.#env.streamTemplate : this.#env.doneTemplate;
      build = this.#urls[kind] = resultUrlBuilder(template, kind === "doneStream");
    }
    return build(jobId);
  }

  /**
   * Sends a post that is given up on after `timeoutMs` (rejecting with a `TimeoutError`), by a
   * shared watchdog rather than a timer per request: a timer (and an `AbortSignal.timeout()`)
   * per request were a tenth of the worker's CPU per job on Bun. The request given up on is
   * aborted for real, as is one whose `outer` signal aborts: left open, a slow endpoint would
   * still process it after its retry, posting a result twice or a stream chunk twice and out of
   * order, and an outage of such answers would pile up open requests.
   */
  #sendWatched(
    request: HttpRequest,
    timeoutMs: number,
    outer?: AbortSignal,
  ): Promise<HttpResponse> {
    const controller = new AbortController();
    // No listener of its own on `outer`, which every post shares: #forward's one listener ends it.
    if (outer) this.#forward(outer);
    return new Promise((resolve, reject) => {
      const entry = { deadline: performance.now() + timeoutMs, reject, controller, outer };
      this.#watched.add(entry);
      this.#watchdog ??= setInterval(() => this.#sweep(timeoutMs), WATCHDOG_MS);
      const settled = () => this.#watched.delete(entry);
      this.#http({ ...request, signal: controller.signal }).then(
        (response) => (settled(), resolve(response)),
        (error) => (settled(), reject(error)),
      );
    });
  }

  /**
   * One listener on a delivery signal, shared by every post given it: when it aborts, the posts
   * retrying under it stop, and their first attempts still in flight are aborted (a black-holed
   * API at shutdown then ends each post, and its job is reported by id).
   */
  #forward(outer: AbortSignal): void {
    if (this.#forwarding.has(outer)) return;
    this.#forwarding.add(outer);
    outer.addEventListener("abort", () => {
      for (const each of this.#retrying) {
        if (each.outer === outer) each.controller.abort(outer.reason);
      }
      for (const entry of this.#watched) {
        if (entry.outer !== outer) continue;
        this.#watched.delete(entry);
        entry.reject(outer.reason);
        entry.controller.abort(outer.reason);
      }
    }, { once: true });
  }

  /** Aborts and rejects the watched posts past their deadline; stops when nothing is watched. */
  #sweep(timeoutMs: number): void {
    const now = performance.now();
    for (const entry of this.#watched) {
      if (entry.deadline > now) continue;
      this.#watched.delete(entry);
      const error = new DOMException(`No answer within ${timeoutMs} ms`, "TimeoutError");
      entry.reject(error);
      entry.controller.abort(error);
    }
    if (this.#watched.size === 0) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
    }
  }

  /**
   * Sends a long-poll that gives up after `timeoutMs` (rejecting with a `TimeoutError`). It is
   * aborted for real, on timeout as on shutdown, so a held poll can never take a job that
   * nobody reads. With `bodyMs` (the job-take), a 2xx answer is read to the end once its status
   * has arrived: the server has handed its jobs to this worker by then, so the shutdown no
   * longer aborts it and `bodyMs` replaces the long-poll timeout; if the body still fails, this
   * rejects with a {@linkcode LostAnswerError}.
   */
  async #send(request: HttpRequest, timeoutMs: number, bodyMs?: number): Promise<HttpResponse> {
    const outer = request.signal;
    if (outer?.aborted) throw outer.reason;
    const controller = new AbortController();
    const abortAfter = (ms: number, message: string) =>
      setTimeout(() => controller.abort(new DOMException(message, "TimeoutError")), ms);
    // The status of a 2xx answer whose body is read to the end, whatever the shutdown does.
    let kept: number | undefined;
    const onAbort = () => {
      if (kept === undefined) controller.abort(outer!.reason);
    };
    outer?.addEventListener("abort", onAbort, { once: true });
    let timer = abortAfter(timeoutMs, `No answer within ${timeoutMs} ms`);
    const onResponse = (status: number) => {
      if (bodyMs === undefined || status < 200 || status >= 300 || controller.signal.aborted) {
        return;
      }
      kept = status;
      clearTimeout(timer);
      timer = abortAfter(bodyMs, `The body did not arrive within ${bodyMs} ms of the status`);
    };
    try {
      return await this.#http({ ...request, signal: controller.signal, onResponse });
    } catch (error) {
      if (kept !== undefined) throw new LostAnswerError(kept, error);
      throw error;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Takes up to `count` jobs (long-poll). Network errors become `{ kind: "error" }`; an abort
   * rejects with the signal's reason, but only while no answer has come: once a 2xx status has
   * arrived, the body is read to the end (up to {@linkcode ClientTimeouts.takeBody}) and its jobs
   * are returned even if `signal` aborted meanwhile, as the server has handed them out. A body
   * that cannot be read is an error outcome saying that the jobs in it are lost.
   *
   * @param count Jobs wanted.
   * @param inProgress Whether any job is queued or running here.
   * @param signal Aborts the long-poll while it waits for an answer.
   * @returns What the answer means.
   */
  async take(count: number, inProgress: boolean, signal?: AbortSignal): Promise<TakeOutcome> {
    let response: HttpResponse;
    try {
      response = await this.#send(
        {
          method: "GET",
          url: this.#takeUrl(count, inProgress),
          headers: this.#getHeaders,
          signal,
        },
        this.#timeouts.poll,
        this.#timeouts.takeBody,
      );
    } catch (error) {
      if (error instanceof LostAnswerError) {
        this.#lostTakes++;
        return lostTake(error, count);
      }
      if (signal?.aborted) throw signal.reason;
      if (isTimeout(error)) {
        return { kind: "none", note: `the long-poll timed out (${this.#timeouts.poll} ms)` };
      }
      return {
        kind: "error",
        type: error instanceof Error ? error.name : typeof error,
        message: describeError(error).replace(/^\w+: /, ""),
      };
    }
    return readTakeResponse(response);
  }

  /**
   * Long-polls the job-stop channel.
   *
   * @param signal Aborts the long-poll.
   * @returns The ids to stop, or why there are none.
   */
  async stops(signal?: AbortSignal): Promise<StopOutcome> {
    const url = this.#env.stopUrl;
    if (!url) return { kind: "none" };
    let response: HttpResponse;
    try {
      response = await this.#send(
        { method: "GET", url, headers: this.#getHeaders, signal },
        this.#timeouts.poll,
      );
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (isTimeout(error)) return { kind: "none" };
      return { kind: "error", message: describeError(error) };
    }
    if (response.status === 204) return { kind: "none" };
    if (response.status === 429) {
      return { kind: "throttled", retryAfterMs: retryAfter(response.header("retry-after")) };
    }
    if (response.status >= 400) return { kind: "error", message: `HTTP ${response.status}` };
    let payload: unknown;
    try {
      payload = JSON.parse(response.body);
    } catch {
      return { kind: "error", message: "the answer is not JSON" };
    }
    const list = (payload as { jobsToStop?: unknown } | null)?.jobsToStop;
    if (!Array.isArray(list)) return { kind: "error", message: "jobsToStop is not a list" };
    const ids = list.filter((id): id is string => typeof id === "string");
    return { kind: "stop", ids, ignored: list.length - ids.length };
  }

  /**
   * Posts a final result (`isStream` as given) or a progress update (`isStream=false`) to
   * job-done, retried on 5xx, 429 and network errors until it is delivered (see
   * {@linkcode PostRetryOptions}) or `options.signal` aborts.
   *
   * @param jobId The job.
   * @param body The JSON body.
   * @param isStream Whether the handler streamed.
   * @param options The delivery signal, and what the post carries.
   * @returns The outcome: delivered (`ok`), refused (a 4xx `status`), or given up on.
   */
  postDone(
    jobId: string,
    body: string,
    isStream: boolean,
    options?: PostOptions,
  ): Promise<PostOutcome> {
    return this.#post(
      "job-done",
      options?.kind ?? "result",
      () => this.#resultUrl(isStream ? "doneStream" : "done", jobId),
      jobId,
      body,
      options,
    );
  }

  /**
   * Posts a stream chunk (`{"output": ...}`) to job-stream, `isStream=false` as the platform
   * receives it today (#325), retried as {@linkcode RunPodClient.postDone} is.
   *
   * @param jobId The job.
   * @param body The JSON body.
   * @param options The delivery signal.
   * @returns The outcome after retries.
   */
  postStream(jobId: string, body: string, options?: PostOptions): Promise<PostOutcome> {
    return this.#post(
      "job-stream",
      "chunk",
      () => this.#resultUrl("stream", jobId),
      jobId,
      body,
      options,
    );
  }

  /**
   * Sends a GET to the ping URL with extra parameters (the unhealthy report), best effort.
   *
   * @param params Query parameters.
   * @param timeoutMs Gives up after this long.
   * @returns Whether it was answered with 2xx.
   */
  async ping(params: Record<string, string>, timeoutMs: number): Promise<boolean> {
    if (!this.#env.pingUrl || !this.#env.apiKey) return false;
    const url = new URL(this.#env.pingUrl);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error("ping timed out")), timeoutMs);
    try {
      const response = await this.#http({
        method: "GET",
        url: url.href,
        headers: this.#getHeaders,
        signal: controller.signal,
      });
      return response.status < 300;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async #post(
    route: DeliveryRoute,
    kind: DeliveryKind,
    makeUrl: () => string,
    jobId: string,
    body: string,
    options: PostOptions | undefined,
  ): Promise<PostOutcome> {
    let url: string;
    try {
      url = makeUrl();
    } catch (error) {
      // A missing or broken RUNPOD_WEBHOOK_POST_* template: a failed post, never a throw.
      return { ok: false, error, attempts: 0 };
    }
    if (options?.signal?.aborted) {
      return { ok: false, error: options.signal.reason, attempts: 0, aborted: true };
    }
    if (this.postsStopped(jobId)) {
      return { ok: false, error: new JobStoppedError(jobId), attempts: 0 };
    }
    // As the Python SDK: a JSON body labelled form-urlencoded, which the platform accepts, and
    // X-Request-ID on this request only (the SDK leaked it into every later request).
    const headers = {
      ...this.#getHeaders,
      "content-type": "application/x-www-form-urlencoded",
      charset: "utf-8",
      "x-request-id": jobId,
    };
    const request: HttpRequest = { method: "POST", url, headers, body };
    const ticket = this.#monitor.begin(route, kind, jobId);
    let failure: Failure;
    try {
      // The common case needs no retry machinery.
      const response = await this.#sendWatched(request, this.#timeouts.post, options?.signal);
      if (!isRetryable(response.status)) return this.#answered(ticket, response, 1);
      failure = { response };
    } catch (error) {
      failure = { error };
    }
    return await this.#retryPost(ticket, request, failure, options);
  }

  /**
   * The retries of a post whose first attempt failed: until delivered, refused or stopped (by
   * the delivery signal, `superseded`, or {@linkcode RunPodClient.stopPosts} for its job).
   */
  async #retryPost(
    ticket: DeliveryTicket,
    request: HttpRequest,
    first: Failure,
    options: PostOptions | undefined,
  ): Promise<PostOutcome> {
    // Retries are the rare path: one controller per retrying post ends it when its job is
    // stopped or the delivery signal aborts. The sleeps and attempts listen to it, not to the
    // delivery signal, which is shared by every post (more than 10 listeners on one signal make
    // Node print a "possible memory leak" warning): that gets one listener per client.
    const outer = options?.signal;
    const post = { jobId: ticket.jobId, outer, controller: new AbortController() };
    const signal = post.controller.signal;
    if (outer?.aborted) post.controller.abort(outer.reason);
    else if (outer !== undefined) this.#forward(outer);
    if (this.postsStopped(ticket.jobId)) post.controller.abort(new JobStoppedError(ticket.jobId));
    this.#retrying.add(post);
    try {
      return await this.#retryLoop(ticket, request, first, options, signal);
    } finally {
      this.#retrying.delete(post);
    }
  }

  /** The loop of `#retryPost`, under its own `signal`. */
  async #retryLoop(
    ticket: DeliveryTicket,
    request: HttpRequest,
    first: Failure,
    options: PostOptions | undefined,
    signal: AbortSignal,
  ): Promise<PostOutcome> {
    const { maxAttempts, minDelay, maxDelay } = this.#retry;
    // A stopped job's post ends with its JobStoppedError, not as `aborted` by the drain.
    const stoppedOutcome = (attempts: number): PostOutcome | undefined =>
      signal.reason instanceof JobStoppedError
        ? { ok: false, error: signal.reason, attempts }
        : undefined;
    let failure = first;
    for (let attempts = 1;; attempts++) {
      const what = describeFailure(failure);
      const stopped = signal.aborted || options?.superseded?.() === true;
      // An attempt cut short by the stop itself says nothing of the endpoint: no outage line.
      const cutByStop = signal.aborted && "error" in failure && failure.error === signal.reason;
      if (!cutByStop) this.#monitor.failed(ticket, what);
      if (stopped || attempts >= maxAttempts) {
        this.#monitor.end(ticket, "abandoned");
        return stoppedOutcome(attempts) ??
          { ...failedOutcome(failure, attempts), ...(stopped ? { aborted: true } : {}) };
      }
      // The server's wait is kept to the letter, unless it is shorter than the first back-off:
      // "Retry-After: 0", or a date already past (a skewed clock), must not make a tight loop.
      let hinted = "response" in failure
        ? retryAfter(failure.response.header("retry-after"))
        : undefined;
      if (hinted !== undefined && hinted < minDelay) hinted = undefined;
      const wait = hinted !== undefined
        ? Math.min(hinted, MAX_RETRY_AFTER_MS)
        : backoffDelay(attempts - 1, { minDelay, maxDelay });
      this.#logger?.debug(
        `Posting to ${ticket.route} failed (${what}, attempt ${attempts}); retrying in ${
          Math.round(wait)
        } ms.`,
        ticket.jobId,
      );
      // A wait the server asked for is kept even if another post gets through meanwhile.
      await this.#monitor.sleep(ticket, wait, signal, hinted === undefined);
      if (signal.aborted || options?.superseded?.() === true) {
        this.#monitor.end(ticket, "abandoned");
        return stoppedOutcome(attempts) ?? { ...failedOutcome(failure, attempts), aborted: true };
      }
      try {
        const response = await raced(
          this.#sendWatched(request, this.#timeouts.post, signal),
          signal,
        );
        if (!isRetryable(response.status)) return this.#answered(ticket, response, attempts + 1);
        failure = { response };
      } catch (error) {
        if (signal.aborted) {
          this.#monitor.end(ticket, "abandoned");
          return stoppedOutcome(attempts + 1) ??
            { ...failedOutcome(failure, attempts + 1), aborted: true };
        }
        failure = { error };
      }
    }
  }

  #answered(ticket: DeliveryTicket, response: HttpResponse, attempts: number): PostOutcome {
    const ok = response.status < 300;
    this.#monitor.end(ticket, ok ? "delivered" : "refused");
    return { ok, status: response.status, body: response.body, attempts };
  }
}

/** A 2xx answer whose body could not be read: the jobs in it were handed out, then lost. */
class LostAnswerError extends Error {
  /** The answer's status. */
  readonly status: number;

  constructor(status: number, cause: unknown) {
    super(`The body of an HTTP ${status} answer could not be read`, { cause });
    this.name = "LostAnswerError";
    this.status = status;
  }
}

/** The longest part of a lost take's body quoted in its log line (as malformed jobs are). */
const MAX_QUOTED = 200;
/** The most job ids a lost take's log line names. */
const MAX_IDS = 50;
/** A job's `"id": "..."` in JSON text (a key of that name inside an input matches too). */
const JOB_ID_REGEXP = /"id"\s*:\s*("(?:[^"\\]|\\.){1,512}"|-?\d+)/g;

/**
 * The error outcome of a take whose 2xx answer was lost, with all that is known of its jobs: how
 * many were asked for, and the ids and the start of the part of the body that arrived.
 */
function lostTake(error: LostAnswerError, count: number): TakeOutcome {
  const failure = error.cause;
  const partial = failure instanceof ResponseBodyError ? failure : undefined;
  const reason = partial ? partial.cause : failure;
  let known = "";
  if (partial !== undefined) {
    const text = partial.received;
    const ids = [...text.matchAll(JOB_ID_REGEXP)].slice(0, MAX_IDS).map((m) => m[1]);
    known = text === ""
      ? "; nothing of its body arrived"
      : `; ${text.length} characters of its body arrived${
        ids.length > 0 ? `, naming the ids ${ids.join(", ")}` : ", naming no job id"
      }: ${text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}...` : text}`;
  }
  return {
    kind: "error",
    type: reason instanceof Error ? reason.name : typeof reason,
    message: `job-take answered HTTP ${error.status}, but its body could not be read (${
      describeError(reason)
    }): the jobs in it (up to ${count}) were handed to this worker and are lost${known}`,
  };
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 429;
}

function describeFailure(failure: Failure): string {
  return "response" in failure ? `HTTP ${failure.response.status}` : describeError(failure.error);
}

function failedOutcome(failure: Failure, attempts: number): PostOutcome {
  return "response" in failure
    ? { ok: false, status: failure.response.status, body: failure.response.body, attempts }
    : { ok: false, error: failure.error, attempts };
}

/** `promise`, or a rejection with `signal.reason` as soon as it aborts. */
function raced<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    // The abandoned attempt's late outcome is ignored (it is always handled here).
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    if (signal.aborted) onAbort();
  });
}

/**
 * Describes an error for a log line: `Name: message` plus its cause.
 *
 * @param error Anything thrown.
 * @returns One line of text.
 *
 * @example
 * ```ts
 * import { describeError } from "./runpod_client.ts";
 * console.assert(describeError(new TypeError("x")) === "TypeError: x");
 * ```
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error
    ? ` (${error.cause.name}: ${error.cause.message})`
    : "";
  return `${error.name}: ${error.message}${cause}`;
}

function isTimeout(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === "TimeoutError";
}
