/**
 * The local dev API as a Hono app: RunPod's v2 endpoint API (`/v2/:endpointId/...`, and the
 * same routes unprefixed) over the shared worker, plus the playground page at `/`. Web APIs only.
 *
 * @module
 */

import { Hono } from "hono";
import { parseConfig, type StartOptions } from "../config.ts";
import { fetchClient, type HttpClient } from "../http_client.ts";
import type { WorkerInfo } from "../job_result.ts";
import { type LimitedBody, readBodyLimited } from "../push/body_limit.ts";
import { json } from "../worker/json_response.ts";
import { promisedFetch } from "../worker/promised_fetch.ts";
import { parseSubmission } from "../push/push_submission.ts";
import { RunPodLogger } from "../run_pod_logger.ts";
import { JobWorker } from "../worker/job_worker.ts";
import { startOnFirstRequest } from "../worker/start_on_first_request.ts";
import { webWorkerInfo } from "../worker/web_worker_info.ts";
import { DevJobs, type DevJobsOptions, type DevSubmission } from "./dev_jobs.ts";
import { localRequestGuard } from "./local_request_guard.ts";
import { PLAYGROUND_HTML } from "./playground_page.ts";

/** The longest `?wait=` accepted, in ms (RunPod's own maximum for `/runsync`). */
export const MAX_WAIT_MS = 300_000;
/** The `?wait=` used when none is given, in ms. */
export const DEFAULT_WAIT_MS = 90_000;
/** How many jobs may wait for a slot before `/run` answers 429, unless `queueSize` says. */
export const DEFAULT_DEV_QUEUE = 10_000;

/** What {@linkcode devAppFor} serves: a worker already made, and its parts. */
export interface DevAppParts extends Omit<DevJobsOptions, "worker" | "logger" | "http"> {
  /** The worker; the app starts it at the first request unless `started`. */
  worker: JobWorker;
  /** The logger. */
  logger: RunPodLogger;
  /** The client that posts webhooks. @default fetch */
  http?: HttpClient;
  /** The largest request body, in bytes. @default 10 MiB */
  maxBodyBytes?: number;
  /** The caller started the worker itself. @default false */
  started?: boolean;
  /**
   * Accept any `Host` header (a server bound to a non-loopback address); requests from other
   * web pages are refused either way ({@linkcode localRequestGuard}). @default false
   */
  anyHost?: boolean;
}

/** The dev API's own settings, beside the worker's. */
export type DevApiSettings = Omit<DevAppParts, "worker" | "logger">;

/** What {@linkcode createDevApp} builds the app from. */
export interface DevAppOptions extends StartOptions {
  /** The logger. @default INFO lines to the console */
  logger?: RunPodLogger;
  /** The worker's identity. @default a random worker id */
  info?: WorkerInfo;
  /** The concurrency limit to start with (a `concurrencyModifier` then adjusts it). @default 1 */
  concurrency?: number;
  /** Body limit, retention bounds, stream hold, webhook client. */
  devApi?: DevApiSettings;
}

/** The dev API: a `fetch` handler, the Hono app behind it, and its worker. */
export interface DevApp {
  /** Serves one request. */
  fetch(request: Request): Promise<Response>;
  /** The Hono app. */
  app: Hono;
  /** The worker that runs the jobs. */
  worker: JobWorker;
}

/**
 * Builds the dev API over a new worker.
 *
 * @param options The handler and `start()` options, plus the starting concurrency, retention
 * bounds, logger and webhook client.
 * @returns The app.
 * @throws {TypeError} When the options are invalid (the message names the key).
 * @throws {RangeError} When `concurrency` is not a positive integer.
 *
 * @example Run a job, then read its status
 * ```ts
 * import { createDevApp } from "./create_dev_app.ts";
 * const dev = createDevApp({ handler: (job) => job.input });
 * const post = (path: string, body: unknown) =>
 *   dev.fetch(new Request(`http://w/v2/local${path}`, { method: "POST", body: JSON.stringify(body) }));
 * const done = await (await post("/runsync", { input: 7 })).json();
 * console.assert(done.status === "COMPLETED" && done.output === 7);
 * dev.worker.stop("example over");
 * ```
 */
export function createDevApp(options: DevAppOptions): DevApp {
  const { logger: givenLogger, info: givenInfo, concurrency = 1, devApi = {}, ...start } = options;
  const config = parseConfig(start);
  const logger = givenLogger ?? new RunPodLogger({ level: "INFO" });
  const info = givenInfo ?? webWorkerInfo();
  const queueLimit = config.queueSize ?? DEFAULT_DEV_QUEUE;
  const worker = new JobWorker({ config, logger, info, queueLimit });
  worker.gate.limit = startingLimit(concurrency, config.maxConcurrency);
  return devAppFor({ ...devApi, worker, logger });
}

/**
 * The concurrency to start with: `requested`, within `maxConcurrency`.
 *
 * @param requested The limit asked for (`--rp_api_concurrency`).
 * @param maxConcurrency The configured hard ceiling.
 * @returns The limit.
 * @throws {RangeError} When `requested` is not a positive integer.
 *
 * @example
 * ```ts
 * import { startingLimit } from "./create_dev_app.ts";
 * console.assert(startingLimit(8, 4) === 4 && startingLimit(2, Infinity) === 2);
 * ```
 */
export function startingLimit(requested: number, maxConcurrency: number): number {
  if (!(Number.isSafeInteger(requested) && requested > 0)) {
    throw new RangeError(
      `the dev API's concurrency must be a positive integer: received ${requested}`,
    );
  }
  return Math.min(requested, maxConcurrency);
}

/**
 * The dev API over a worker that already exists (the `--rp_serve_api` runner makes its own).
 *
 * @param parts The worker, logger, webhook client and bounds.
 * @returns The app.
 *
 * @example
 * ```ts ignore
 * const dev = devAppFor({ worker, logger, http: runtime.http, started: true });
 * ```
 */
export function devAppFor(parts: DevAppParts): DevApp {
  const { worker, logger, maxBodyBytes = 10 * 1024 * 1024 } = parts;
  const jobs = new DevJobs({ ...parts, http: parts.http ?? fetchClient });

  const app = new Hono();
  // No auth, so no other web page may drive it (CSRF, DNS rebinding).
  app.use("*", localRequestGuard({ anyHost: parts.anyHost }));
  if (!parts.started) app.use("*", startOnFirstRequest(worker));
  app.get("/", (c) =>
    c.html(PLAYGROUND_HTML, 200, {
      "x-frame-options": "DENY",
      "content-security-policy": "frame-ancestors 'none'",
    }));

  /** The body read within the limit, as a submission; else the 400/413/415 saying what was wrong. */
  const parse = (request: Request, read: LimitedBody): DevSubmission | Response => {
    if (!read.ok) return json(read.status, { error: read.message }, { connection: "close" });
    // Only the content type counts: the dev API takes RunPod's own body, not a push sender's.
    const parsed = parseSubmission(request.headers, read.body, { nativeOnly: true });
    if (!parsed.ok) return json(parsed.status, { error: parsed.message });
    const { input, webhook, policy, extra } = parsed.submission;
    return { input, webhook, policy, extra, bytes: read.body.byteLength };
  };
  /**
   * The body as a submission, or the answer saying what was wrong. A promise chain, not an
   * async function: every submission passes here, and each async frame costs.
   */
  const submission = (request: Request): Promise<DevSubmission | Response> =>
    readBodyLimited(request, maxBodyBytes).then(
      (read) => parse(request, read),
      () => parse(request, { ok: false, status: 400, message: "the body could not be read" }),
    );

  for (const prefix of ["/v2/:endpointId", ""]) {
    app.post(
      `${prefix}/run`,
      (c) => submission(c.req.raw).then((body) => body instanceof Response ? body : jobs.run(body)),
    );
    app.post(`${prefix}/runsync`, (c): Response | Promise<Response> => {
      const wait = waitParam(c.req.query("wait"));
      if (wait instanceof Response) return wait;
      return submission(c.req.raw).then((body) =>
        body instanceof Response ? body : jobs.runSync(body, wait)
      );
    });
    app.on(["GET", "POST"], `${prefix}/status/:id`, (c) => jobs.status(c.req.param("id")));
    app.on(["GET", "POST"], `${prefix}/status-sync/:id`, async (c) => {
      const wait = waitParam(c.req.query("wait"));
      if (wait instanceof Response) return wait;
      return await jobs.status(c.req.param("id"), wait, c.req.raw.signal);
    });
    app.on(
      ["GET", "POST"],
      `${prefix}/stream/:id`,
      (c) => jobs.stream(c.req.param("id"), c.req.raw.signal),
    );
    app.post(`${prefix}/cancel/:id`, (c) => jobs.cancel(c.req.param("id")));
    app.post(`${prefix}/retry/:id`, (c) => jobs.retry(c.req.param("id")));
    app.post(`${prefix}/purge-queue`, () => jobs.purgeQueue());
    app.get(`${prefix}/health`, () => jobs.health());
  }
  app.notFound((c) =>
    json(404, { error: `No route ${c.req.method} ${new URL(c.req.url).pathname}` })
  );
  app.onError((error) => {
    logger.error(`Dev API request failed: ${error instanceof Error ? error.stack : String(error)}`);
    return json(500, { error: "Internal error" });
  });
  return { fetch: promisedFetch((request: Request) => app.fetch(request)), app, worker };
}

/** `?wait=` as ms within 0..{@linkcode MAX_WAIT_MS}, or the 400 answer. */
function waitParam(raw: string | undefined): number | Response {
  if (raw === undefined || raw === "") return DEFAULT_WAIT_MS;
  // Any run of digits: a huge wait is clamped like any other over the maximum (at most 400
  // characters reach the regexp, so it stays cheap).
  const wait = raw.length <= 400 && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isNaN(wait)) {
    return json(400, {
      error: `'wait' must be a whole number of milliseconds: received ${
        JSON.stringify(raw.slice(0, 40))
      }`,
    });
  }
  return Math.min(wait, MAX_WAIT_MS);
}
