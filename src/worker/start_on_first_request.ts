/**
 * Starting a worker from an app's first request rather than at construction.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { JobWorker } from "./job_worker.ts";

/**
 * A Hono middleware that starts `worker` at the first request (and waits for it, once): edge
 * isolates allow no timers outside a request, so an app built for them cannot start its worker
 * earlier. Apps whose caller started the worker leave it out.
 *
 * @param worker The worker to start.
 * @returns The middleware.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { JobWorker } from "./job_worker.ts";
 * import { startOnFirstRequest } from "./start_on_first_request.ts";
 * import { parseConfig } from "../config.ts";
 * import { RunPodLogger } from "../run_pod_logger.ts";
 * import { webWorkerInfo } from "./web_worker_info.ts";
 * const worker = new JobWorker({
 *   config: parseConfig({ handler: () => 1 }),
 *   logger: new RunPodLogger({ level: "NOTSET" }),
 *   info: webWorkerInfo(),
 * });
 * const app = new Hono().use("*", startOnFirstRequest(worker)).get("/", (c) => c.text(worker.state));
 * console.assert((await (await app.request("/")).text()) === "ready");
 * worker.stop("example over");
 * ```
 */
export function startOnFirstRequest(worker: JobWorker): MiddlewareHandler {
  let starting: Promise<unknown> | undefined;
  return async (_c, next) => {
    await (starting ??= worker.start());
    await next();
  };
}
