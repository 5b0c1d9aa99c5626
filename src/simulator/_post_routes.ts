/**
 * The reporting routes: job-done (final results and progress), job-stream and ping.
 *
 * @module
 */

import { applyFault, type RouteContext, textResponse } from "./_route_context.ts";
import type { ResultRecord } from "./job_record.ts";

const PARSE_FAILED: unique symbol = Symbol("parse failed");

/**
 * `POST /job-done/:workerId/:jobId?isStream=`: a final result, or a progress update when the
 * body has `"status": "IN_PROGRESS"`. The body is parsed as JSON whatever the content type.
 */
export async function postDone(ctx: RouteContext): Promise<Response> {
  const { core, workerId, jobId, request } = ctx;
  const body = await readJson(ctx);
  if (body === PARSE_FAILED) return (await applyFault(ctx)) ?? badBody();
  const progress = isProgressUpdate(body);
  // Every final-result post is an attempt, even when it is faulted or its client leaves.
  if (!progress) {
    core.ledger.recordAttempt(jobId);
    core.log.counters.attempts++;
    core.emit("attempt", { jobId, workerId });
  }
  const faulted = await applyFault(ctx);
  if (faulted !== undefined) return faulted;
  if (progress) {
    const output = (body as { output?: unknown }).output;
    core.ledger.recordProgress(jobId, output);
    core.log.counters.progress++;
    core.emit("progress", { jobId, output });
  } else {
    const result: ResultRecord = {
      body,
      isStream: ctx.c.req.query("isStream") === "true",
      at: performance.now(),
      workerId,
      requestId: request.headers.get("x-request-id") ?? undefined,
    };
    core.ledger.recordResult(jobId, result);
    core.log.counters.results++;
    core.emit("result", { jobId, result });
  }
  return ok();
}

/** `POST /job-stream/:workerId/:jobId`: one stream chunk, `{"output": item}`. */
export async function postStream(ctx: RouteContext): Promise<Response> {
  const { core, jobId } = ctx;
  const body = await readJson(ctx);
  if (body === PARSE_FAILED) return (await applyFault(ctx)) ?? badBody();
  const faulted = await applyFault(ctx);
  if (faulted !== undefined) return faulted;
  const item = typeof body === "object" && body !== null
    ? (body as { output?: unknown }).output
    : undefined;
  core.ledger.recordChunk(jobId, item);
  core.log.counters.chunks++;
  core.emit("chunk", { jobId, item });
  return ok();
}

/**
 * `GET /ping/:workerId?job_id=a,b&runpod_version=v`: a heartbeat, or an unhealthy report with
 * `status=unhealthy&check=..&reason=..`. Faulted pings are not recorded as heartbeats.
 */
export async function ping(ctx: RouteContext): Promise<Response> {
  const { core, workerId } = ctx;
  const faulted = await applyFault(ctx);
  if (faulted !== undefined) return faulted;
  const query = ctx.c.req.query();
  const jobIdList = query.job_id;
  const record = {
    at: performance.now(),
    workerId,
    jobIds: jobIdList ? jobIdList.split(",").filter((id) => id !== "") : [],
    runpodVersion: query.runpod_version,
  };
  if (query.status === "unhealthy") {
    const report = { ...record, check: query.check, reason: query.reason };
    core.log.recordUnhealthy(report);
    core.emit("unhealthy", report);
  } else {
    core.log.recordPing(record);
    core.emit("ping", record);
  }
  return ok();
}

async function readJson(ctx: RouteContext): Promise<unknown> {
  const text = await ctx.request.text();
  if (ctx.record !== undefined) ctx.record.body = text;
  try {
    return JSON.parse(text);
  } catch {
    const { core, route, workerId, jobId } = ctx;
    const post = {
      route: route as "job-done" | "job-stream",
      workerId,
      jobId,
      body: text,
      at: performance.now(),
    };
    core.ledger.recordBadPost(post);
    core.log.counters.badPosts++;
    core.emit("bad-post", post);
    return PARSE_FAILED;
  }
}

function isProgressUpdate(body: unknown): boolean {
  return typeof body === "object" && body !== null && !Array.isArray(body) &&
    (body as { status?: unknown }).status === "IN_PROGRESS";
}

function badBody(): Response {
  return textResponse(400, "Cannot parse request body as JSON");
}

function ok(): Response {
  return new Response(null, { status: 200 });
}
