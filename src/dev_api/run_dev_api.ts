/**
 * `--rp_serve_api`: serves the local dev API through the runtime's own server until SIGTERM,
 * then drains.
 *
 * @module
 */

import { isLoopback } from "../push/run_push_server.ts";
import { passesFitnessChecks } from "../worker/fitness_checks.ts";
import { JobWorker, REPORT_GRACE_MS } from "../worker/job_worker.ts";
import type { WorkerSetup } from "../worker/worker_setup.ts";
import { DEFAULT_DEV_QUEUE, devAppFor, startingLimit } from "./create_dev_app.ts";

/**
 * Runs the dev API on `--rp_api_host:--rp_api_port` (default `localhost:8000`). The concurrency
 * limit starts at `--rp_api_concurrency` (default 1, within `maxConcurrency`); a
 * `concurrencyModifier`, when given, is called with it and adjusts it from then on. On SIGTERM
 * or SIGINT it answers 503 to new jobs, lets running ones finish within the drain deadline and
 * exits.
 *
 * @param setup The validated configuration, runtime, logger, identity and flags.
 * @returns The exit code: 0 after a clean drain, 1 when jobs had to be aborted or a flag was
 * refused.
 *
 * @example
 * ```ts ignore
 * const code = await runDevApi(setup);
 * ```
 */
export async function runDevApi(setup: WorkerSetup): Promise<number> {
  const { runtime, logger, config, cli, info } = setup;
  const { rpApiHost: hostname, rpApiPort: port } = cli;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    logger.error(`--rp_api_port must be an integer from 0 to 65535: received ${port}`);
    return 1;
  }
  let limit: number;
  try {
    limit = startingLimit(cli.rpApiConcurrency, config.maxConcurrency);
  } catch (error) {
    logger.error(`--rp_api_concurrency: ${(error as Error).message}`);
    return 1;
  }
  // Before anything is served, as in production.
  if (!(await passesFitnessChecks(logger))) return 1;
  const worker = new JobWorker({
    config,
    logger,
    info,
    queueLimit: config.queueSize ?? DEFAULT_DEV_QUEUE,
  });
  worker.gate.limit = limit;
  const dev = devAppFor({
    worker,
    logger,
    http: runtime.http,
    lookupHost: runtime.lookupHost,
    started: true,
    anyHost: !isLoopback(hostname), // reached by a LAN name; other pages are refused still
  });
  const unlisten = worker.listen((signal, listener) => runtime.onSignal(signal, listener));
  const server = await runtime.serve(dev.fetch, { hostname, port });
  if (!isLoopback(hostname)) {
    logger.warn(
      `The dev API has no auth: anyone who can reach ${hostname}:${server.port} can run jobs. Use it for development only.`,
    );
  }
  try {
    const started = await worker.start();
    const url = `http://${
      server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname
    }:${server.port}`;
    logger.info(
      `Dev API ready on ${url}: RunPod's API at ${url}/v2/<endpoint id>/ (and unprefixed), playground at ${url}/, concurrency ${started}.`,
    );
    await worker.stopped;
    const clean = await worker.drain();
    await server.close({ graceMs: REPORT_GRACE_MS });
    logger.info(
      clean ? "Dev API stopped cleanly." : "Dev API stopped; unfinished jobs were reported FAILED.",
    );
    return clean ? 0 : 1;
  } finally {
    unlisten();
    await server.close({ graceMs: 0 }).catch(() => {});
  }
}
