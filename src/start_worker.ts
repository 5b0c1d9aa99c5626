/**
 * `start()`: validate the configuration, pick the mode the way RunPod users expect, run it.
 *
 * @module
 */

import { parseCliArgs } from "./cli_args.ts";
import { parseConfig, type StartOptions, type WorkerConfig } from "./config.ts";
import type { WorkerInfo } from "./job_result.ts";
import { runLocalTest } from "./local_test.ts";
import { parseLogLevel } from "./log_level.ts";
import { runPullWorker } from "./pull/pull_worker.ts";
import { RunPodLogger } from "./run_pod_logger.ts";
import type { WorkerSetup } from "./worker/worker_setup.ts";
import type { Runtime } from "./runtime.ts";
import { EDGEPOD_VERSION } from "./version.ts";

export type { WorkerSetup } from "./worker/worker_setup.ts";

/**
 * Starts a worker on `runtime` and exits the process when the mode ends. Modes, first match wins:
 * `--rp_serve_api` (the local dev API, RunPod's v2 endpoint API),
 * `--push` or `EDGEPOD_MODE=push` (the HTTP push intake), `RUNPOD_WEBHOOK_GET_JOB` set without `--test_input` (the production pull worker), otherwise
 * local test mode. An invalid configuration or flag is logged
 * with what was expected and exits 1.
 *
 * @param runtime The runtime adapter.
 * @param options What the user passed to `start()`.
 * @returns Never resolves normally: the process exits when the mode ends.
 *
 * @example
 * ```ts ignore
 * import { runtime } from "../adapters/node.ts";
 * await startWorker(runtime, { handler: (job) => job.input });
 * ```
 */
export async function startWorker(
  runtime: Runtime,
  options: StartOptions,
): Promise<never> {
  const { logger, problems } = createLogger(runtime);
  const { args: cli, errors } = parseCliArgs(runtime.args);
  if (cli.rpLogLevel !== undefined) {
    const level = parseLogLevel(cli.rpLogLevel);
    if (level) logger.level = level;
    else problems.push(`--rp_log_level ${cli.rpLogLevel} is not a level; using ${logger.level}`);
  }
  for (const problem of problems) logger.warn(problem);
  // Holds the process open until exit(): with nothing else pending (a handler or a modifier
  // whose promise never settles), a runtime would end by itself with code 0 and no result.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  const exit = (code: number): never => {
    clearInterval(keepAlive);
    logger.flush();
    return runtime.exit(code);
  };
  if (errors.length > 0) {
    for (const error of errors) logger.error(error);
    return exit(1);
  }
  let config: WorkerConfig;
  try {
    config = parseConfig(options);
  } catch (error) {
    logger.error(error instanceof Error ? error.message : String(error));
    return exit(1);
  }
  const info = workerInfo(runtime);
  logger.info(
    `--- Starting Serverless Worker | edgepod ${EDGEPOD_VERSION} | ${info.runtime} ---`,
  );
  const setup: WorkerSetup = { config, runtime, logger, info, cli };
  let code: number;
  try {
    if (cli.rpServeApi) {
      // Loaded only for the dev API, as push mode below.
      const { runDevApi } = await import("./dev_api/run_dev_api.ts");
      code = await runDevApi(setup);
    } else if (cli.push || runtime.env("EDGEPOD_MODE") === "push") {
      // Loaded only in push mode: the pull worker and local test mode never load Hono.
      const { runPushServer } = await import("./push/run_push_server.ts");
      code = await runPushServer(setup);
    } else if (runtime.env("RUNPOD_WEBHOOK_GET_JOB") && cli.testInput === undefined) {
      code = await runPullWorker(setup);
    } else {
      code = await runLocalTest(setup);
    }
  } catch (error) {
    logger.error(`Worker failed: ${error instanceof Error ? error.stack : String(error)}`);
    code = 1;
  }
  return exit(code);
}

/**
 * The logger configured from `RUNPOD_LOG_LEVEL` (then `RUNPOD_DEBUG_LEVEL`) and
 * `RUNPOD_ENDPOINT_ID` (JSON lines when set). An invalid level is reported, never thrown.
 *
 * @param runtime The runtime (environment and stdout).
 * @returns The logger and any problems to report once it can.
 *
 * @example
 * ```ts ignore
 * const { logger, problems } = createLogger(runtime);
 * ```
 */
export function createLogger(runtime: Runtime): { logger: RunPodLogger; problems: string[] } {
  const problems: string[] = [];
  const name = runtime.env("RUNPOD_LOG_LEVEL") !== undefined
    ? "RUNPOD_LOG_LEVEL"
    : "RUNPOD_DEBUG_LEVEL";
  const raw = runtime.env(name);
  let level = raw === undefined || raw === "" ? undefined : parseLogLevel(raw);
  if (raw !== undefined && raw !== "" && level === undefined) {
    problems.push(
      `${name}=${raw} is not a log level (NOTSET, TRACE, DEBUG, INFO, WARN/WARNING, ERROR); using INFO`,
    );
  }
  level ??= "INFO";
  const logger = new RunPodLogger({
    level,
    json: Boolean(runtime.env("RUNPOD_ENDPOINT_ID")),
    write: (text) => runtime.writeStdout(text),
  });
  return { logger, problems };
}

/**
 * Who this worker is, from the environment: `RUNPOD_POD_ID` (else a random id),
 * `RUNPOD_ENDPOINT_ID`, `RUNPOD_POD_HOSTNAME` (else `unknown`) and the runtime.
 *
 * @param runtime The runtime.
 * @returns The worker's identity.
 *
 * @example
 * ```ts ignore
 * const info = workerInfo(runtime);
 * ```
 */
export function workerInfo(runtime: Runtime): WorkerInfo {
  return {
    workerId: runtime.env("RUNPOD_POD_ID") || crypto.randomUUID(),
    endpointId: runtime.env("RUNPOD_ENDPOINT_ID") || undefined,
    hostname: runtime.env("RUNPOD_POD_HOSTNAME") || "unknown",
    runtime: `${runtime.name} ${runtime.version}`,
    version: EDGEPOD_VERSION,
  };
}
