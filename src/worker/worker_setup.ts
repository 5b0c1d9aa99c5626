/**
 * What a mode is handed to run: the validated configuration, the runtime, the logger, the
 * worker's identity and the command-line flags.
 *
 * @module
 */

import type { CliArgs } from "../cli_args.ts";
import type { WorkerConfig } from "../config.ts";
import type { WorkerInfo } from "../job_result.ts";
import type { RunPodLogger } from "../run_pod_logger.ts";
import type { Runtime } from "../runtime.ts";

/** Everything a mode needs to run. */
export interface WorkerSetup {
  /** The validated configuration. */
  config: WorkerConfig;
  /** The runtime. */
  runtime: Runtime;
  /** The logger, configured from flags and environment. */
  logger: RunPodLogger;
  /** Who runs jobs. */
  info: WorkerInfo;
  /** The command-line flags. */
  cli: CliArgs;
}
