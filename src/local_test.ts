/**
 * Local test mode: run one job from `--test_input` or `./test_input.json`, print its result,
 * exit 0 or 1 (protocol §1.4, with the Python SDK's bugs fixed: generators are drained, and
 * `--test_output` is honoured).
 *
 * @module
 */

import type { CliArgs } from "./cli_args.ts";
import type { WorkerConfig } from "./config.ts";
import { executeJob } from "./execute_job.ts";
import { isPlainObject, type WorkerInfo } from "./job_result.ts";
import type { RunPodLogger } from "./run_pod_logger.ts";
import type { Runtime } from "./runtime.ts";
import type { Job } from "./types.ts";

/** Options for {@linkcode runLocalTest}. */
export interface LocalTestOptions {
  /** The worker configuration. */
  config: WorkerConfig;
  /** The runtime (reads `test_input.json`, writes the result line). */
  runtime: Runtime;
  /** The logger. */
  logger: RunPodLogger;
  /** Who runs the job. */
  info: WorkerInfo;
  /** The parsed command-line flags. */
  cli: CliArgs;
}

/**
 * Runs the local test job and prints `Job result: <compact JSON>` on its own line. A streaming
 * handler is drained and its chunks aggregated into `output` (as the dev API's `/runsync` does),
 * whatever `returnAggregateStream` says, since there is no stream to watch locally.
 *
 * @param options Configuration, runtime and flags.
 * @returns The exit code: 0 when the job succeeded (and matched `--test_output`), else 1.
 *
 * @example
 * ```ts ignore
 * const code = await runLocalTest({ config, runtime, logger, info, cli });
 * runtime.exit(code);
 * ```
 */
export async function runLocalTest(options: LocalTestOptions): Promise<number> {
  const { config, runtime, logger, info, cli } = options;
  const job = await loadJob(runtime, cli, logger);
  if (!job) return 1;
  const done = await executeJob(job, {
    handler: config.handler,
    info,
    logger,
    timeoutMs: config.executionTimeoutMs,
    inputSchema: config.inputSchema,
    aggregate: true,
    refreshWorker: config.refreshWorker,
    maxResultBytes: config.maxResultBytes,
  });
  const { result } = done;
  if (result.error !== undefined) {
    logger.error(`Job ${job.id} failed with error: ${result.error}`);
  } else {
    logger.info(`Job ${job.id} completed successfully.`);
  }
  logger.flush();
  runtime.writeStdout(`Job result: ${done.body}\n`);
  if (result.error !== undefined) return 1;
  if (cli.testOutput !== undefined && !matchesExpected(cli.testOutput, result.output, logger)) {
    return 1;
  }
  logger.info("Local testing complete, exiting.");
  return 0;
}

async function loadJob(runtime: Runtime, cli: CliArgs, logger: RunPodLogger) {
  let text: string;
  let source: string;
  if (cli.testInput !== undefined) {
    logger.info("test_input set, using test_input as job input.");
    text = cli.testInput;
    source = "--test_input";
  } else {
    const file = await runtime.readTextFile("test_input.json").catch((error: unknown) => {
      logger.error(`Cannot read test_input.json: ${String(error)}`);
      return null;
    });
    if (file === null) return undefined;
    if (file === undefined) {
      logger.error(
        "test_input.json not found in the working directory, exiting. Create it or pass --test_input '<json>', e.g. --test_input '{\"input\": {}}'",
      );
      return undefined;
    }
    logger.info("Using test_input.json as job input.");
    text = file;
    source = "test_input.json";
  }
  let job: unknown;
  try {
    job = JSON.parse(text);
  } catch (error) {
    logger.error(`${source} is not valid JSON: ${(error as Error).message}`);
    return undefined;
  }
  if (!isPlainObject(job)) {
    logger.error(`${source} must be a JSON object like {"input": {...}}: received ${text.trim()}`);
    return undefined;
  }
  if (job.input === undefined || job.input === null) {
    logger.error(`Job has no input parameter. Unable to run. ${source} must have an "input" key.`);
    return undefined;
  }
  if (job.id === undefined) job.id = "local_test";
  else if (typeof job.id !== "string") job.id = String(job.id);
  return job as Job;
}

function matchesExpected(expectedText: string, output: unknown, logger: RunPodLogger): boolean {
  let expected: unknown;
  try {
    expected = JSON.parse(expectedText);
  } catch (error) {
    logger.error(`--test_output is not valid JSON: ${(error as Error).message}`);
    return false;
  }
  if (canonical(expected) === canonical(output)) {
    logger.info("Output matches --test_output.");
    return true;
  }
  logger.error(
    `Output does not match --test_output: expected ${JSON.stringify(expected)}, got ${
      JSON.stringify(output)
    }`,
  );
  return false;
}

/** JSON with sorted keys, so key order does not matter when comparing. */
function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, val) =>
      isPlainObject(val)
        ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : val,
  );
}
