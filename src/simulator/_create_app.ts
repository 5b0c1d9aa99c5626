/**
 * Assembles the Hono app: routes under `/v2/<endpointId>`, counting, recording, auth and faults.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { SimulatorCore } from "./_core.ts";
import { ping, postDone, postStream } from "./_post_routes.ts";
import type { RouteHandler } from "./_route_context.ts";
import { takeJobs, takeStops } from "./_take_routes.ts";
import type { SimulatorRoute } from "./faults.ts";

/** Builds the simulator's Hono app over a core. */
export function createApp(core: SimulatorCore): Hono {
  const app = new Hono();
  const base = `/v2/${core.options.endpointId}`;
  const route = (name: SimulatorRoute, handler: RouteHandler) => (c: Context) =>
    handle(core, name, c, handler);
  app.get(`${base}/job-take/:workerId`, route("job-take", takeJobs));
  app.get(`${base}/job-take-batch/:workerId`, route("job-take-batch", takeJobs));
  app.get(`${base}/job-stop/:workerId`, route("job-stop", takeStops));
  app.post(`${base}/job-done/:workerId/:jobId`, route("job-done", postDone));
  app.post(`${base}/job-stream/:workerId/:jobId`, route("job-stream", postStream));
  app.get(`${base}/ping/:workerId`, route("ping", ping));
  app.notFound((c) => {
    const record = core.log.start("other", c.req.raw);
    if (record !== undefined) record.status = 404;
    core.emit("request", { route: "other", status: 404 });
    return c.text("Not Found", 404);
  });
  return app;
}

async function handle(
  core: SimulatorCore,
  route: SimulatorRoute,
  c: Context,
  handler: RouteHandler,
): Promise<Response> {
  const request = c.req.raw;
  const workerId = c.req.param("workerId") ?? "";
  const jobId = c.req.param("jobId") ?? "";
  const record = core.log.start(route, request, workerId, jobId || undefined);
  let status = 500;
  try {
    const apiKey = core.options.apiKey;
    if (apiKey !== undefined && request.headers.get("authorization") !== apiKey) {
      core.log.counters.unauthorized++;
      status = 401;
      return c.text("Unauthorized", 401);
    }
    // The fault is taken on arrival, so concurrent requests get faults in arrival order.
    const fault = core.faults.next(route);
    if (fault !== undefined) {
      core.log.counters.faults++;
      if (record !== undefined) record.fault = fault.kind;
      core.emit("fault", { route, kind: fault.kind });
    }
    const response = await handler({ core, c, request, route, workerId, jobId, record, fault });
    status = response.status;
    return response;
  } finally {
    if (record !== undefined) record.status = status;
    core.emit("request", { route, status });
  }
}
