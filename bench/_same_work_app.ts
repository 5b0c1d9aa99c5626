/**
 * The push benchmark's third side: a Hono route that does the work push mode must do for a sync
 * submission, without the shared worker. It reads the body within the limit, parses the
 * submission as push mode does, looks the id up in a bounded result store and runs the
 * handler. It encodes the result strictly, builds the status body, stores it and logs RunPod's
 * two INFO lines. What it leaves out is what the worker adds: the gate, the held-job record, the
 * job's context, abort and timeout, counters, and attaching to a running job. Push mode's figure
 * over this one is the cost of the lifecycle; this one over the bare route is the cost of the
 * work itself.
 *
 * @module
 */

import { Hono } from "hono";
import { encodeResult, resultFromValue } from "../src/job_result.ts";
import { readBodyLimited } from "../src/push/body_limit.ts";
import { parseSubmission } from "../src/push/push_submission.ts";
import type { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Job } from "../src/types.ts";
import { jsonText } from "../src/worker/json_response.ts";
import { ResultStore } from "../src/worker/result_store.ts";
import { statusBody } from "../src/worker/status_body.ts";

/**
 * The same-work route on `POST /jobs`, with push mode's default limits (10 MB bodies, 10,000
 * stored results for 10 minutes).
 *
 * @param handler A plain (not async, not streaming) handler.
 * @param logger The logger, as push mode makes it.
 * @returns The Hono app.
 *
 * @example
 * ```ts
 * import { sameWorkApp } from "./_same_work_app.ts";
 * import { RunPodLogger } from "../src/run_pod_logger.ts";
 * const app = sameWorkApp((job) => job.input, new RunPodLogger({ level: "NOTSET" }));
 * const res = await app.fetch(new Request("http://w/jobs", { method: "POST", body: '{"input":7}' }));
 * console.assert((await res.json()).output === 7);
 * ```
 */
export function sameWorkApp(handler: (job: Job) => unknown, logger: RunPodLogger): Hono {
  const store = new ResultStore<string>({
    ttlMs: 10 * 60_000,
    maxEntries: 10_000,
    size: (body: string) => body.length * 2 + 64,
  });
  const app = new Hono();
  app.post("/jobs", async (c) => {
    const request = c.req.raw;
    const read = await readBodyLimited(request, 10 * 1024 * 1024);
    if (!read.ok) return jsonText(read.status, JSON.stringify({ error: read.message }));
    const parsed = parseSubmission(request.headers, read.body);
    if (!parsed.ok) return jsonText(parsed.status, JSON.stringify({ error: parsed.message }));
    const given = parsed.submission.id;
    const stored = given === undefined ? undefined : store.get(given);
    if (stored !== undefined) return jsonText(200, stored);
    const id = given ?? crypto.randomUUID();
    const queuedAt = performance.now();
    logger.info("Started.", id);
    const value = handler({ id, input: parsed.submission.input });
    const endedAt = performance.now();
    const { result, body: resultBody } = encodeResult(resultFromValue(value));
    const body = statusBody({
      result,
      body: resultBody,
      isStream: false,
      id,
      status: result.error === undefined ? "COMPLETED" : "FAILED",
      delayTime: 0,
      executionTime: Math.round(endedAt - queuedAt),
    });
    store.set(id, body);
    logger.info("Finished.", id);
    return jsonText(200, body);
  });
  return app;
}
