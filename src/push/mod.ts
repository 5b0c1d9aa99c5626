/**
 * `edgepod/push`: the HTTP push intake as a Web-standard `fetch` handler, for any runtime or edge
 * isolate. Kept out of the package root so that the pull worker and local test mode never load
 * Hono.
 *
 * @example
 * ```ts
 * import { createPushApp } from "./mod.ts";
 * const push = createPushApp({ handler: (job) => job.input });
 * console.assert(typeof push.fetch === "function");
 * ```
 *
 * @module
 */

export * from "./create_push_app.ts";
export * from "./push_auth.ts";
export * from "./push_submission.ts";
export * from "./body_limit.ts";
export * from "./chunk_feed.ts";
export * from "./prometheus_metrics.ts";
export { isLoopback, UNAUTHENTICATED_OPT_OUT } from "./run_push_server.ts";
export * from "../worker/job_worker.ts";
