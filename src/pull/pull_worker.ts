/**
 * The production pull worker: takes jobs from the RunPod queue exactly as fast as the gate has
 * room, runs them, reports results, and shuts down without losing a job.
 *
 * @module
 */

import { backoffDelay } from "../async/backoff.ts";
import { deferred } from "../async/deferred.ts";
import { delay } from "../async/delay.ts";
import { ConcurrencyGate, type Permit } from "../concurrency_gate.ts";
import { JobStoppedError, WorkerShutdownError } from "../errors.ts";
import { abortedJob, type ExecutedJob, executeJob } from "../execute_job.ts";
import type { WorkerSetup } from "../start_worker.ts";
import type { Job } from "../types.ts";
import { runFitnessChecks } from "./fitness_checks.ts";
import { Heartbeat } from "./heartbeat.ts";
import { JobChannel } from "./job_channel.ts";
import { RunPodClient } from "./runpod_client.ts";
import { readRunPodEnv, type RunPodEnv } from "./runpod_env.ts";
import { TakeLoop } from "./take_loop.ts";

/** After the drain deadline, how long aborted jobs' results may take to post. */
const REPORT_GRACE_MS = 5000;

interface RunningJob {
  /** Aborts the job: its signal aborts and it is settled at once, handler or not. */
  abort(reason: unknown): void;
  done: Promise<void>;
  /** Issue 11: the handler is done and its result is being delivered (nothing to abort). */
  delivering?: boolean;
}

/**
 * Runs the production pull worker until it is told to stop (SIGTERM/SIGINT, or after a job with
 * `refreshWorker`).
 *
 * @param setup The validated configuration, runtime, logger and identity.
 * @returns The exit code: 0 after a clean drain with every result delivered, 1 when jobs had
 * to be aborted, a result could not be delivered, or a fitness check failed.
 *
 * @example
 * ```ts ignore
 * const code = await runPullWorker(setup);
 * ```
 */
export async function runPullWorker(setup: WorkerSetup): Promise<number> {
  return await new PullWorker(setup).run();
}

class PullWorker {
  readonly #setup: WorkerSetup;
  readonly #env: RunPodEnv;
  readonly #client: RunPodClient;
  readonly #gate: ConcurrencyGate;
  readonly #running = new Map<string, RunningJob>();
  readonly #shutdown = new AbortController();
  readonly #stopped = deferred<void>();
  // --- Issue 11 (outage-proof delivery), to port onto the shared worker: posts are retried
  // until delivered; this signal stops them at the drain deadline plus REPORT_GRACE_MS, and
  // every result not delivered by then is logged by job id and makes the exit code 1.
  readonly #delivery = new AbortController();
  readonly #undelivered = new Set<string>();
  // ---
  #heartbeat?: Heartbeat;
  #reason = "";

  constructor(setup: WorkerSetup) {
    this.#setup = setup;
    const { runtime, info, logger, config } = setup;
    this.#env = readRunPodEnv((name) => runtime.env(name), info);
    for (const warning of this.#env.warnings) logger.warn(warning);
    this.#client = new RunPodClient({
      http: runtime.http,
      env: this.#env,
      info,
      integration: runtime.env("RUNPOD_UA_INTEGRATION"),
      logger, // issue 11: outage lines
      retry: { maxDelay: config.deliveryRetryMaxDelayMs }, // issue 11
    });
    this.#gate = new ConcurrencyGate({
      limit: 1,
      maxLimit: config.maxConcurrency,
      modifier: config.concurrencyModifier,
      logger,
    });
  }

  async run(): Promise<number> {
    const { runtime, logger, config, info } = this.#setup;
    const removers = (["SIGTERM", "SIGINT"] as const).map((signal) =>
      runtime.onSignal(signal, () => this.#stop(`${signal} received`))
    );
    try {
      // Checks before the heartbeat (as the Python SDK): a failing worker must never have sent a
      // healthy ping, before or after its unhealthy report.
      const failure = await runFitnessChecks();
      if (failure) {
        logger.error(`Fitness check failed: ${failure.name} | ${failure.type}: ${failure.message}`);
        await this.#client.ping({
          status: "unhealthy",
          check: failure.name,
          reason: `${failure.type}: ${failure.message}`.slice(0, 256),
          runpod_version: info.version,
        }, 2000);
        logger.error("Worker is unhealthy, exiting.");
        return 1;
      }
      this.#heartbeat = Heartbeat.create(runtime, logger, {
        url: this.#env.pingUrl,
        apiKey: this.#env.apiKey,
        hasPodId: Boolean(runtime.env("RUNPOD_POD_ID")),
        intervalMs: this.#env.pingIntervalMs,
        version: info.version,
      });
      await this.#gate.refresh();
      const poll = config.concurrencyModifier
        ? setInterval(() => void this.#gate.refresh(), config.concurrencyPollMs)
        : undefined;
      logger.info(`Worker ${info.workerId} ready: taking jobs, concurrency ${this.#gate.limit}.`);
      const take = new TakeLoop({
        client: this.#client,
        gate: this.#gate,
        logger,
        signal: this.#shutdown.signal,
        inProgress: () => this.#running.size > 0,
        isRunning: (id) => this.#running.has(id),
        accept: (jobs) => this.#accept(jobs),
        reject: (id, reason) => this.#rejectJob(id, reason),
      }).run();
      // The ping thread boots after the first take is on the wire: on a busy CPU its start-up
      // would otherwise delay that take. Jobs taken meanwhile are already in the mirror.
      this.#heartbeat?.start();
      const stops = this.#stopLoop();
      await this.#stopped.promise;
      clearInterval(poll);
      await Promise.all([take, stops]);
      const clean = await this.#drain();
      await this.#heartbeat?.stop();
      // Issue 11: "stopped cleanly" and exit 0 mean that every result was delivered.
      const undelivered = this.#reportUndelivered();
      logger.info(
        undelivered > 0
          ? `Worker stopped; ${undelivered} results were not delivered.`
          : clean
          ? "Worker stopped cleanly."
          : "Worker stopped; unfinished jobs were reported FAILED.",
      );
      return clean && undelivered === 0 ? 0 : 1;
    } finally {
      for (const remove of removers) remove();
    }
  }

  /** Starts jobs a take returned: each holds one permit (or waits for one if the server sent more). */
  #accept(jobs: { job: Job; permit?: Permit }[]): void {
    for (const { job } of jobs) this.#heartbeat?.add(job.id);
    // Before any handler runs: a handler that blocks at once must still be listed in pings.
    this.#heartbeat?.flush();
    for (const { job, permit } of jobs) this.#start(job, permit);
    this.#setup.logger.debug(`Jobs in progress: ${this.#running.size}`);
  }

  #start(job: Job, permit: Permit | undefined): void {
    const { config, logger, info } = this.#setup;
    const controller = new AbortController();
    // This worker is the only one aborting its jobs, so it settles them itself through a
    // per-job promise instead of executeJob racing each handler against an abort listener.
    const aborted = deferred<ExecutedJob>();
    const abort = (reason: unknown) => {
      controller.abort(reason);
      aborted.resolve(abortedJob(reason, { info, logger, refreshWorker: config.refreshWorker }));
    };
    const log = logger.forJob(job);
    const channel = new JobChannel({
      client: this.#client,
      jobId: job.id,
      log,
      bufferSize: config.streamBufferSize,
      batch: config.streamBatch,
      maxBytes: config.maxResultBytes,
      signal: this.#delivery.signal, // issue 11
    });
    const run = async () => {
      let held = permit;
      try {
        held ??= await this.#gate.acquire({ signal: controller.signal });
        const done = await Promise.race([
          aborted.promise,
          executeJob(job, {
            settleOnAbort: false,
            handler: config.handler,
            info,
            logger,
            signal: controller.signal,
            timeoutMs: config.executionTimeoutMs,
            inputSchema: config.inputSchema,
            aggregate: config.returnAggregateStream,
            refreshWorker: config.refreshWorker,
            sink: () => channel.sink(),
            progress: (update) => channel.progress(update),
            maxResultBytes: config.maxResultBytes,
          }),
        ]);
        if (done.aborted instanceof JobStoppedError) log.info("Job stopped.");
        else await this.#deliver(job.id, channel, done); // issue 11
      } catch (reason) {
        // Aborted while waiting for a slot: stopped jobs get nothing, others the same FAILED
        // result as a job aborted while running.
        if (reason instanceof JobStoppedError) log.info("Job stopped.");
        else {
          const done = abortedJob(reason, { info, logger, refreshWorker: config.refreshWorker });
          await this.#deliver(job.id, channel, done); // issue 11
        }
      } finally {
        if (config.refreshWorker) this.#stop("refresh_worker: the job is done");
        this.#running.delete(job.id);
        this.#heartbeat?.remove(job.id);
        held?.release();
      }
    };
    // run() handles every outcome; the catch only keeps a bug there from becoming an unhandled
    // rejection that would end the process.
    const done = run().catch((error) => log.error(`Job handling failed: ${String(error)}`));
    this.#running.set(job.id, { abort, done });
  }

  /**
   * Answers a malformed job that has an id with a FAILED result, so it does not hang. It is
   * tracked like a running job until that post ends: listed in pings, awaited by the drain.
   */
  #rejectJob(id: string, reason: string): void {
    const log = this.#setup.logger.forJob({ id });
    log.error(`Malformed job skipped: ${reason}`);
    if (this.#running.has(id)) return; // the copy of a job that runs: the job gets its result
    this.#heartbeat?.add(id);
    const channel = new JobChannel({
      client: this.#client,
      jobId: id,
      log,
      signal: this.#delivery.signal, // issue 11
    });
    const result = failed(new TypeError(`Malformed job: ${reason}`));
    const done = this.#deliver(id, channel, result).then(() => {
      this.#running.delete(id);
      this.#heartbeat?.remove(id);
    });
    this.#running.set(id, { abort: () => {}, done, delivering: true });
  }

  async #stopLoop(): Promise<void> {
    const { logger } = this.#setup;
    const signal = this.#shutdown.signal;
    if (!this.#env.stopUrl) return;
    let failures = 0;
    while (!signal.aborted) {
      const started = performance.now();
      let wait = 0;
      try {
        const outcome = await this.#client.stops(signal);
        if (outcome.kind === "stop") {
          failures = 0;
          if (outcome.ignored > 0) {
            logger.warn(`Ignored ${outcome.ignored} job-stop ids that were not strings`);
          }
          for (const id of outcome.ids) {
            const job = this.#running.get(id);
            if (!job) logger.debug(`No in-progress job for ${id}`);
            else {
              logger.info("Stopping job.", id);
              job.abort(new JobStoppedError(id));
            }
          }
        } else if (outcome.kind === "none") {
          failures = 0;
          // Never poll more than once a second against a server that answers at once.
          wait = 1000 - (performance.now() - started);
        } else if (outcome.kind === "throttled") {
          wait = outcome.retryAfterMs ?? 5000;
        } else {
          logger.warn(`Failed to poll job-stop. | ${outcome.message}`);
          wait = backoffDelay(failures++, { minDelay: 500, maxDelay: 30_000 });
        }
        if (wait > 0) await delay(wait, { signal });
      } catch {
        return; // aborted by shutdown
      }
    }
  }

  /** Begins shutdown once: stop taking (aborting long-polls); a second signal skips the drain. */
  #stop(reason: string): void {
    if (this.#shutdown.signal.aborted) {
      if (reason.endsWith("received")) this.#abortAll(`${reason} again`);
      return;
    }
    this.#reason = reason;
    this.#setup.logger.info(
      `Shutting down (${reason}): taking no new jobs, ${this.#running.size} running.`,
    );
    this.#shutdown.abort(new WorkerShutdownError(reason));
    this.#stopped.resolve();
  }

  /** Issue 11: posts a job's final result and remembers it when it was not delivered. */
  async #deliver(id: string, channel: JobChannel, done: ExecutedJob): Promise<void> {
    const entry = this.#running.get(id);
    if (entry) entry.delivering = true;
    if (!(await channel.finish(done))) this.#undelivered.add(id);
  }

  /** Issue 11: logs every result not delivered (with its job id); returns how many. */
  #reportUndelivered(): number {
    for (const id of this.#running.keys()) this.#undelivered.add(id);
    const ids = [...this.#undelivered];
    if (ids.length > 0) {
      this.#setup.logger.error(
        `${ids.length} results were not delivered to RunPod (the jobs will time out there): ${
          ids.join(", ")
        }`,
      );
    }
    return ids.length;
  }

  async #drain(): Promise<boolean> {
    const { config, logger } = this.#setup;
    const all = () => Promise.all([...this.#running.values()].map((job) => job.done));
    if (this.#running.size === 0) return true;
    logger.info(
      `Waiting up to ${config.drainTimeoutMs} ms for ${this.#running.size} jobs to finish.`,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const clean = await Promise.race([
      all().then(() => true),
      new Promise<false>((
        resolve,
      ) => (timer = setTimeout(() => resolve(false), config.drainTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (clean) return true;
    const aborted = this.#abortAll(`the ${config.drainTimeoutMs} ms drain deadline passed`);
    // Aborted jobs post their FAILED results now; posts already in flight may be retrying.
    // Give them a fixed grace, so the process always exits within drainTimeoutMs + 5 s.
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, REPORT_GRACE_MS)));
    await Promise.race([all(), grace]);
    clearTimeout(timer);
    if (this.#running.size > 0) {
      // Issue 11: stop every retry now; the channels log what they could not deliver.
      this.#delivery.abort(
        new WorkerShutdownError(`the ${REPORT_GRACE_MS} ms grace after the drain deadline passed`),
      );
      const settled = new Promise<void>((resolve) => (timer = setTimeout(resolve, 250)));
      await Promise.race([all(), settled]);
      clearTimeout(timer);
    }
    return aborted === 0;
  }

  /** Aborts the jobs still running (not those delivering a result); returns how many. */
  #abortAll(why: string): number {
    const running = [...this.#running.values()].filter((job) => !job.delivering);
    const waiting = this.#running.size - running.length;
    if (this.#running.size === 0) return 0;
    this.#setup.logger.warn(
      `Aborting ${running.length} running jobs: ${why}.${
        waiting > 0 ? ` ${waiting} results are still waiting to be delivered.` : ""
      }`,
    );
    const error = new WorkerShutdownError(
      `The worker shut down (${this.#reason}) before the job finished: ${why}`,
    );
    for (const job of running) job.abort(error);
    return running.length;
  }
}

function failed(reason: unknown) {
  const error = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
  const result = { error };
  return { result, body: JSON.stringify(result), isStream: false };
}
