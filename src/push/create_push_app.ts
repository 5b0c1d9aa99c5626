/**
 * The HTTP push intake as a Hono app and a plain `fetch` handler, on Web APIs only, so any
 * Web-standard runtime (an edge isolate included) can serve it.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { parseConfig, type StartOptions, type WorkerConfig } from "../config.ts";
import { fetchClient, type HttpClient } from "../http_client.ts";
import type { LookupHost } from "../runtime.ts";
import type { WorkerInfo } from "../job_result.ts";
import { RunPodLogger } from "../run_pod_logger.ts";
import { JobWorker } from "../worker/job_worker.ts";
import { startOnFirstRequest } from "../worker/start_on_first_request.ts";
import { webWorkerInfo } from "../worker/web_worker_info.ts";
import { type LimitedBody, readBodyLimited } from "./body_limit.ts";
import { prometheusMetrics, type RejectReason } from "./prometheus_metrics.ts";
import { type KeepAlive, PushJobs, type ReplyMode } from "./push_jobs.ts";
import { json } from "../worker/json_response.ts";
import { promisedFetch } from "../worker/promised_fetch.ts";
import { ResultStore } from "../worker/result_store.ts";
import { checkOidcOptions } from "./_oidc_token.ts";
import {
  authorizePush,
  hasPushAuth,
  hasPushCredentials,
  type PushAuthOptions,
} from "./push_auth.ts";
import { parseSubmission } from "./push_submission.ts";

/** What {@linkcode createPushApp} builds the app over. */
export interface PushAppOptions extends StartOptions {
  /** Who may submit. With no method configured, every request is admitted. @default none */
  auth?: PushAuthOptions;
  /** The logger. @default INFO lines to the console */
  logger?: RunPodLogger;
  /** The client that posts webhooks. @default fetch */
  http?: HttpClient;
  /**
   * Resolves webhook host names, so a name that resolves to a refused address is refused too:
   * pass the adapter's (`runtime.lookupHost` from `edgepod/node`, `/deno` or `/bun`).
   * @default none: names are judged as written
   */
  lookupHost?: LookupHost;
  /** The worker's identity. @default a random worker id */
  info?: WorkerInfo;
}

/** What {@linkcode pushAppFor} serves: a worker already made, and its parts. */
export interface PushAppParts {
  /** The worker; the app starts it at the first request unless `started`. */
  worker: JobWorker;
  /** The worker's configuration. */
  config: WorkerConfig;
  /** The logger. */
  logger: RunPodLogger;
  /** The client that posts webhooks. */
  http: HttpClient;
  /** Resolves webhook host names for the webhook rule ({@linkcode LookupHost}). @default none */
  lookupHost?: LookupHost;
  /** Who may submit. */
  auth: PushAuthOptions;
  /** The caller starts the worker itself (push mode does, to log the limit). @default false */
  started?: boolean;
}

/** A request that passed the body limit and auth: its raw body, and its replay key if signed. */
interface Admitted {
  body: Uint8Array;
  replayKey?: string;
}

/**
 * The part of an edge runtime's execution context the push app uses (`ctx` in a Workers module's
 * `fetch(request, env, ctx)`).
 */
export interface PushExecutionContext {
  /** Keeps `promise` running after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
}

/** The push app: a `fetch` handler, the Hono app behind it, and its worker. */
export interface PushApp {
  /**
   * Serves one request. On an edge runtime, pass the module's `env` and `ctx`: with
   * `ctx.waitUntil`, a job answered 202 (or posting a webhook) keeps running after its answer.
   */
  fetch(request: Request, env?: unknown, ctx?: PushExecutionContext): Promise<Response>;
  /** The Hono app (mount it under a prefix with `app.route()`). */
  app: Hono;
  /** The worker that runs the jobs. */
  worker: JobWorker;
  /** The validated configuration. */
  config: WorkerConfig;
}

/**
 * Builds the push intake: `POST /jobs`, `GET /jobs/:id`, `POST /jobs/:id/cancel`, `GET /ping`
 * and `GET /metrics`. The worker starts at the first request (edge isolates allow no timers
 * before that).
 *
 * @param options The handler and `start()` options, plus auth, logger and webhook client.
 * @returns The app.
 * @throws {TypeError} When the options are invalid (the message names the key).
 *
 * @example Serving a handler with a bearer token
 * ```ts
 * import { createPushApp } from "./create_push_app.ts";
 * const push = createPushApp({ handler: (job) => job.input, auth: { tokens: ["secret"] } });
 * const res = await push.fetch(new Request("http://w/jobs", {
 *   method: "POST",
 *   headers: { authorization: "Bearer secret", "content-type": "application/json" },
 *   body: JSON.stringify({ id: "j1", input: 42 }),
 * }));
 * console.assert((await res.json()).output === 42);
 * ```
 */
export function createPushApp(options: PushAppOptions): PushApp {
  const {
    auth = {},
    logger: givenLogger,
    http = fetchClient,
    info: givenInfo,
    lookupHost,
    ...start
  } = options;
  const config = parseConfig(start);
  const logger = givenLogger ?? new RunPodLogger({ level: "INFO" });
  const info = givenInfo ?? webWorkerInfo();
  const worker = new JobWorker({ config, logger, info, queueLimit: config.queueSize });
  return pushAppFor({ worker, config, logger, http, lookupHost, auth });
}

/**
 * The push app over a worker that already exists (push mode's runner makes its own, with the
 * runtime's HTTP client and signals).
 *
 * @param parts The worker, its configuration, logger, webhook client and auth.
 * @returns The app.
 *
 * @example
 * ```ts ignore
 * const push = pushAppFor({ worker, config, logger, http: runtime.http, auth, started: true });
 * ```
 */
export function pushAppFor(parts: PushAppParts): PushApp {
  const { worker, config, logger, http, lookupHost, auth } = parts;
  if (auth.oidc !== undefined) checkOidcOptions(auth.oidc);
  const rejected: Partial<Record<RejectReason, number>> = {};
  const reject = (reason: RejectReason) => void (rejected[reason] = (rejected[reason] ?? 0) + 1);
  const jobs = new PushJobs({ worker, config, logger, http, lookupHost, reject });
  const authOn = hasPushAuth(auth);
  // What each signature first admitted, for as long as a signature can be replayed (5 minutes
  // and the clock skew allowed, with room). A signature covers the time and the body only: its
  // id headers, method and path are not signed, so a replay could name another id, or take a
  // captured submission's (or an empty body's) signature to another route, such as a cancel.
  const replays = new ResultStore<FirstUse>({
    ttlMs: 15 * 60_000,
    maxEntries: config.push.maxStoredResults,
  });

  const app = new Hono();
  if (!parts.started) app.use("*", startOnFirstRequest(worker));
  app.get("/ping", (c) => {
    const state = worker.state;
    if (state === "draining") return c.body(null, 503, { "retry-after": "5" });
    return c.body(null, state === "ready" ? 200 : 204);
  });

  const unauthorized = () => {
    reject("unauthorized");
    return json(401, { error: "Unauthorized" }, { "www-authenticate": 'Bearer realm="edgepod"' });
  };
  let loggedUnavailable = { reason: "", at: -Infinity };
  /** Auth could not decide (the OIDC keys are unreachable): the sender should retry. */
  const authUnavailable = (reason: string) => {
    reject("auth_unavailable");
    const at = Date.now();
    if (reason !== loggedUnavailable.reason || at - loggedUnavailable.at >= 10_000) {
      loggedUnavailable = { reason, at };
      logger.error(`Push auth is unavailable, answering 503: ${reason}`);
    }
    return json(503, { error: "Authentication is unavailable; retry later" }, {
      "retry-after": "10",
    });
  };
  /** A body the limit refused: tell the client to stop sending, and not to keep the connection. */
  const refuseBody = (read: Extract<LimitedBody, { ok: false }>) => {
    reject(read.status === 413 ? "too_large" : "bad_request");
    return json(read.status, { error: read.message }, { connection: "close" });
  };
  /** Checks auth against the body read; else the refusal. */
  const authorize = async (
    request: Request,
    body: Uint8Array,
    route: string,
  ): Promise<Admitted | Response> => {
    const authorization = await authorizePush(request, body, auth);
    if (!authorization.admitted) {
      const why = authorization.unavailable;
      return why === undefined ? unauthorized() : authUnavailable(why);
    }
    const replayKey = authorization.replayKey;
    if (replayKey !== undefined && route !== SUBMIT_ROUTE) {
      // A signature admits one route only: the one it was first used on.
      const first = replays.get(replayKey);
      if (first === undefined) replays.set(replayKey, { route });
      else if (first.route !== route) return unauthorized();
    }
    return { body, replayKey };
  };
  /**
   * Reads the body within the limit, then checks auth against it; else the refusal. A promise
   * chain, not an async function: every submission passes here, and each async frame costs.
   */
  const admit = (request: Request, route: string): Promise<Admitted | Response> => {
    // No credential at all: refuse before reading an upload from a stranger.
    if (authOn && !hasPushCredentials(request, auth)) return Promise.resolve(unauthorized());
    // No signal: a client that goes away fails the read itself (a 400 nobody receives).
    return readBodyLimited(request, config.push.maxBodyBytes).then(
      (read) => {
        if (!read.ok) return refuseBody(read);
        return authOn ? authorize(request, read.body, route) : { body: read.body };
      },
      () => refuseBody({ ok: false, status: 400, message: "the body could not be read" }),
    );
  };
  const routeOf = (c: Context) => `${c.req.method} ${c.req.path}`;

  app.get("/metrics", async (c) => {
    const admitted = await admit(c.req.raw, routeOf(c));
    if (admitted instanceof Response) return admitted;
    return c.text(prometheusMetrics(worker, rejected), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  /** `POST /jobs` once admitted: parse, run or attach, answer. */
  const submit = (c: Context, admitted: Admitted): Response | Promise<Response> => {
    const request = c.req.raw;
    const parsed = parseSubmission(request.headers, admitted.body, {
      webhookHosts: config.push.webhookHosts,
    });
    if (!parsed.ok) {
      reject("bad_request");
      return json(parsed.status, { error: parsed.message });
    }
    const submission = parsed.submission;
    // A replayed signed request must not run again: it is the job its signature first ran.
    const replayKey = admitted.replayKey;
    if (replayKey !== undefined) {
      const first = replays.get(replayKey);
      if (first === undefined) {
        replays.set(replayKey, { route: SUBMIT_ROUTE, jobId: submission.id ??= replayKey });
      } else if (first.route !== SUBMIT_ROUTE) return unauthorized();
      else submission.id = first.jobId;
    }
    const mode = replyMode(request.headers);
    // Work that may outlive the answer (a 202, a webhook, a job whose streaming or waiting
    // client went away) needs the edge runtime's waitUntil, where there is one: workerd cancels
    // a request's timers and I/O once its client is gone, so the job would hold its slot for ever.
    const keepAlive = waitUntilOf(c);
    return jobs.submit(submission, mode, () => request.signal, keepAlive);
  };
  // A promise chain, not an async function: each async frame a submission passes costs.
  app.post(
    "/jobs",
    (c) =>
      admit(c.req.raw, SUBMIT_ROUTE).then((admitted) =>
        admitted instanceof Response ? admitted : submit(c, admitted)
      ),
  );
  app.get("/jobs/:id", async (c) => {
    const admitted = await admit(c.req.raw, routeOf(c));
    if (admitted instanceof Response) return admitted;
    return jobs.status(c.req.param("id"));
  });
  app.post("/jobs/:id/cancel", async (c) => {
    const admitted = await admit(c.req.raw, routeOf(c));
    if (admitted instanceof Response) return admitted;
    return await jobs.cancel(c.req.param("id"));
  });
  app.notFound(async (c) => {
    // Unknown routes need auth too: an open 404 would map the surface for a stranger.
    const admitted = await admit(c.req.raw, routeOf(c));
    if (admitted instanceof Response) return admitted;
    return json(404, { error: `No route ${c.req.method} ${new URL(c.req.url).pathname}` });
  });
  app.onError((error) => {
    logger.error(`Push request failed: ${error instanceof Error ? error.stack : String(error)}`);
    return json(500, { error: "Internal error" });
  });
  return {
    fetch: promisedFetch((request: Request, env?: unknown, ctx?: PushExecutionContext) =>
      app.fetch(request, env, (ctx ?? NO_EXECUTION_CONTEXT) as HonoExecutionContext)
    ),
    app,
    worker,
    config,
  };
}

type HonoExecutionContext = Parameters<Hono["fetch"]>[2];

/** What a signature first admitted: a route, and for a submission the job it ran. */
interface FirstUse {
  route: string;
  jobId?: string;
}

/** The route key of `POST /jobs`, whose replays are the job they first ran. */
const SUBMIT_ROUTE = "POST /jobs";

/**
 * What {@linkcode PushApp.fetch} hands Hono when the server gave no execution context (Node,
 * Deno and Bun give none): Hono's `executionCtx` throws without one, and an `Error` built on
 * every submission cost about a quarter of push mode's time per request on Bun.
 */
const NO_EXECUTION_CONTEXT = Object.freeze({});

/** The request's `waitUntil`, when the runtime gave the app an execution context. */
function waitUntilOf(c: Context): KeepAlive | undefined {
  let ctx: Partial<PushExecutionContext> | undefined;
  try {
    ctx = c.executionCtx; // Hono throws when none was passed (the app mounted in another)
  } catch {
    return undefined;
  }
  const waitUntil = ctx?.waitUntil;
  return typeof waitUntil === "function" ? (work) => waitUntil.call(ctx, work) : undefined;
}

/**
 * How a submitter wants its answer: `Accept: text/event-stream` (SSE), `application/x-ndjson`
 * (JSON lines), `Prefer: respond-async` (202 at once), else synchronously.
 */
function replyMode(headers: Headers): ReplyMode {
  const accept = headers.get("accept") ?? "";
  if (accept.includes("text/event-stream")) return "sse";
  if (accept.includes("application/x-ndjson")) return "ndjson";
  if (/(^|[,;\s])respond-async($|[,;\s])/i.test(headers.get("prefer") ?? "")) return "async";
  return "sync";
}
