/**
 * edgepod's runtime-agnostic core: everything but the runtime adapters. Import the package root
 * (`edgepod`) or a runtime entry (`edgepod/node`, `edgepod/deno`, `edgepod/bun`) for `start()`.
 *
 * @example Running one job without a runtime
 * ```ts
 * import { executeJob, RunPodLogger } from "./mod.ts";
 * const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: "any", version: "0" };
 * const done = await executeJob({ id: "j", input: "hi" }, {
 *   handler: (job) => job.input,
 *   info,
 *   logger: new RunPodLogger({ level: "NOTSET" }),
 * });
 * console.assert(done.body === '{"output":"hi"}');
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export * from "./config.ts";
export * from "./concurrency_gate.ts";
export * from "./run_handler.ts";
export * from "./job_result.ts";
export * from "./execute_job.ts";
export * from "./validate_input.ts";
export * from "./standard_schema.ts";
export * from "./log_level.ts";
export * from "./run_pod_logger.ts";
export * from "./progress_update.ts";
export * from "./cli_args.ts";
export * from "./runtime.ts";
export * from "./http_client.ts";
export * from "./start_worker.ts";
export * from "./version.ts";
export * from "./async/mod.ts";
export { type FitnessCheck, registerFitnessCheck } from "./worker/fitness_checks.ts";
export * from "./push/push_auth.ts";
export * from "./push/push_submission.ts";
export * from "./push/body_limit.ts";
export * from "./push/timing_safe_equal.ts";
export * from "./worker/job_worker.ts";
export * from "./worker/job_status.ts";
export * from "./worker/worker_stats.ts";
export * from "./worker/result_store.ts";
export * from "./worker/status_body.ts";
export * from "./worker/concurrency_observation.ts";
export * from "./concurrency/adaptive_concurrency.ts";
export * from "./concurrency/engine_metrics_concurrency.ts";
export * from "./concurrency/prometheus_text.ts";
