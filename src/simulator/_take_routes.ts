/**
 * The long-poll routes: job-take, job-take-batch and job-stop.
 *
 * @module
 */

import type { QueueEntry } from "./_queue_entry.ts";
import { applyFault, noContent, type RouteContext, textResponse } from "./_route_context.ts";

const BATCH_SIZE_REGEXP = /^[1-9][0-9]{0,8}$/;

/**
 * `GET /job-take/:workerId` (one job, answered as an object) or `GET /job-take-batch/:workerId`
 * (`batch_size` jobs at most, answered as an array). Holds the request while the queue is empty.
 */
export async function takeJobs(ctx: RouteContext): Promise<Response> {
  const { core, request, route, workerId } = ctx;
  if (request.headers.has("x-request-id")) core.log.counters.pollsWithRequestId++;
  // A faulted take answers without touching the queue: a dropped take consumes no job.
  const faulted = await applyFault(ctx);
  if (faulted !== undefined) return faulted;
  const batch = route === "job-take-batch";
  let n = 1;
  if (batch) {
    const size = ctx.c.req.query("batch_size");
    if (size === undefined || !BATCH_SIZE_REGEXP.test(size)) {
      return textResponse(400, `'batch_size' must be a positive integer: received ${size}`);
    }
    n = Number(size);
  }
  let entries = core.takeNow(n, workerId);
  if (entries === undefined && !core.closed) {
    const before = core.takes.size;
    const held = core.takes.hold({ n, workerId }, {
      timeoutMs: core.options.longPollMs,
      signal: request.signal,
    });
    if (core.takes.size > before) core.emit("hold", { route, workerId });
    entries = await held;
  }
  if (entries === undefined) {
    core.log.counters.emptyTakes++;
    return noContent();
  }
  return batch ? batchResponse(entries) : singleResponse(entries[0]!);
}

/** `GET /job-stop/:workerId`: `{"jobsToStop": [...]}`, held while no stop is pending. */
export async function takeStops(ctx: RouteContext): Promise<Response> {
  const { core, request, route, workerId } = ctx;
  if (request.headers.has("x-request-id")) core.log.counters.pollsWithRequestId++;
  const faulted = await applyFault(ctx);
  if (faulted !== undefined) return faulted;
  let jobIds = core.takeStops(workerId);
  if (jobIds === undefined && !core.closed) {
    const before = core.stops.size;
    const held = core.stops.hold(workerId, {
      timeoutMs: core.options.longPollMs,
      signal: request.signal,
    });
    if (core.stops.size > before) core.emit("hold", { route, workerId });
    jobIds = await held;
  }
  if (jobIds === undefined) return noContent();
  return new Response(JSON.stringify({ jobsToStop: jobIds }), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

function singleResponse(entry: QueueEntry): Response {
  return new Response(entry.text, { status: 200, headers: { "content-type": entry.contentType } });
}

function batchResponse(entries: readonly QueueEntry[]): Response {
  let text = "[";
  for (let i = 0; i < entries.length; i++) text += (i === 0 ? "" : ",") + entries[i]!.text;
  return new Response(text + "]", {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}
