/**
 * The production pull worker: takes jobs from the RunPod queue exactly as fast as the gate has
 * room, runs them, reports results, and shuts down without losing a job.
 *
 * @module
 */

import { backoffDelay } from "../async/backoff.ts";
import { delay } from "../async/delay.ts";
import type { Permit } from "../concurrency_gate.ts";
import { JobStoppedError, WorkerShutdownError } from "../errors.ts";
import type { ExecutedJob } from "../execute_job.ts";
import type { Job } from "../types.ts";
import { JobWorker } from "../worker/job_worker.ts";
import type { WorkerSetup } from "../worker/worker_setup.ts";
import { fitnessFailureLine, runFitnessChecks } from "../worker/fitness_checks.ts";
import { Heartbeat } from "./heartbeat.ts";
import { JobChannel } from "./job_channel.ts";
import { RunPodClient } from "./runpod_client.ts";
import { readRunPodEnv, type RunPodEnv } from "./runpod_env.ts";
import { TakeLoop } from "./take_loop.ts";

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
  return await new PullIntake(setup).run();
}

/** The RunPod pull protocol over the shared worker: take, post, ping, obey job-stop. */
class PullIntake {
  readonly #setup: WorkerSetup;
  readonly #env: RunPodEnv;
  readonly #client: RunPodClient;
  readonly #worker: JobWorker;
  // Posts are retried until delivered; this signal stops them once the worker's drain (deadline
  // plus REPORT_GRACE_MS) is over, and every result not delivered by then is logged by job id
  // and makes the exit code 1.
  readonly #delivery = new AbortController();
  readonly #delivering = new Set<string>();
  readonly #undelivered = new Set<string>();
  #onDelivered?: () => void;
  #heartbeat?: Heartbeat;

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
      logger, // the outage lines
      retry: { maxDelay: config.deliveryRetryMaxDelayMs },
      // A take answer arriving at SIGTERM is read to its end, within the drain's own bound.
      timeouts: { takeBody: Math.max(1_000, Math.min(30_000, config.drainTimeoutMs)) },
    });
    this.#worker = new JobWorker({ config, logger, info });
  }

  async run(): Promise<number> {
    const { runtime, logger, info } = this.#setup;
    const worker = this.#worker;
    const unlisten = worker.listen((signal, listener) => runtime.onSignal(signal, listener));
    try {
      // Checks before the heartbeat (as the Python SDK): a failing worker must never have sent a
      // healthy ping, before or after its unhealthy report.
      const failure = await runFitnessChecks();
      if (failure) {
        logger.error(fitnessFailureLine(failure));
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
      const limit = await worker.start();
      logger.info(`Worker ${info.workerId} ready: taking jobs, concurrency ${limit}.`);
      const take = new TakeLoop({
        client: this.#client,
        gate: worker.gate,
        logger,
        signal: worker.signal,
        inProgress: () => worker.size > 0,
        isRunning: (id) => worker.has(id),
        accept: (jobs) => this.#accept(jobs),
        reject: (id, reason) => this.#rejectJob(id, reason),
      }).run();
      // The ping thread boots after the first take is on the wire: on a busy CPU its start-up
      // would otherwise delay that take. Jobs taken meanwhile are already in the mirror.
      this.#heartbeat?.start();
      // Job-stop is polled through the drain: a job the server stops while the worker drains
      // must stop, not run on to the drain deadline. It ends once no job is left.
      const drained = new AbortController();
      const stops = this.#stopLoop(drained.signal);
      await worker.stopped;
      await take;
      let clean: boolean;
      try {
        clean = await worker.drain();
      } finally {
        drained.abort(new WorkerShutdownError("drained"));
      }
      await stops;
      const undelivered = await this.#stopDelivery();
      await this.#heartbeat?.stop();
      // "Stopped cleanly" and exit 0 mean that every result was delivered.
      logger.info(
        undelivered > 0
          ? `Worker stopped; ${undelivered} results were not delivered.`
          : clean
          ? "Worker stopped cleanly."
          : "Worker stopped; unfinished jobs were reported FAILED.",
      );
      return clean && undelivered === 0 ? 0 : 1;
    } finally {
      unlisten();
    }
  }

  /** Starts jobs a take returned: each holds one permit (or waits for one if the server sent more). */
  #accept(jobs: { job: Job; permit?: Permit }[]): void {
    for (const { job } of jobs) this.#heartbeat?.add(job.id);
    // Before any handler runs: a handler that blocks at once must still be listed in pings.
    this.#heartbeat?.flush();
    for (const { job, permit } of jobs) this.#start(job, permit);
    this.#setup.logger.debug(`Jobs in progress: ${this.#worker.size}`);
  }

  #start(job: Job, permit: Permit | undefined): void {
    const { config, logger } = this.#setup;
    const channel = new JobChannel({
      client: this.#client,
      jobId: job.id,
      log: logger.forJob(job),
      bufferSize: config.streamBufferSize,
      batch: config.streamBatch,
      maxBytes: config.maxResultBytes,
      signal: this.#delivery.signal,
    });
    this.#worker.submit(job, {
      permit,
      sink: () => channel.sink(),
      progress: (update) => channel.progress(update),
      // A stopped job gets no result, as in the Python SDK.
      deliver: async (outcome) => {
        try {
          if (!(outcome.aborted instanceof JobStoppedError)) {
            await this.#deliver(job.id, channel, outcome);
          }
        } finally {
          this.#heartbeat?.remove(job.id);
        }
      },
    });
  }

  /**
   * Answers a malformed job that has an id with a FAILED result, so it does not hang. It is
   * tracked like a running job until that post ends: listed in pings, awaited by the drain.
   */
  #rejectJob(id: string, reason: string): void {
    const log = this.#setup.logger.forJob({ id });
    log.error(`Malformed job skipped: ${reason}`);
    if (this.#worker.has(id)) return; // the copy of a job that runs: the job gets its result
    this.#heartbeat?.add(id);
    const channel = new JobChannel({
      client: this.#client,
      jobId: id,
      log,
      signal: this.#delivery.signal,
    });
    this.#worker.track(
      id,
      this.#deliver(id, channel, failed(new TypeError(`Malformed job: ${reason}`))).finally(() =>
        this.#heartbeat?.remove(id)
      ),
    );
  }

  /** Posts a final result; remembers the job when it was not delivered. */
  async #deliver(id: string, channel: JobChannel, done: ExecutedJob): Promise<void> {
    this.#delivering.add(id);
    try {
      const delivered = await channel.finish(done);
      // A job RunPod stopped meanwhile gets no result: nothing was lost.
      if (!delivered && !this.#client.postsStopped(id)) this.#undelivered.add(id);
    } finally {
      this.#delivering.delete(id);
      if (this.#delivering.size === 0) this.#onDelivered?.();
    }
  }

  /**
   * After the drain (its deadline and grace), stops the retries still running, logs
   * every result not delivered with its job id, and returns how many there were.
   */
  async #stopDelivery(): Promise<number> {
    if (this.#delivering.size > 0) {
      for (const id of this.#delivering) this.#undelivered.add(id);
      this.#delivery.abort(new WorkerShutdownError("the drain deadline and its grace passed"));
      // The channels log each result they give up on; that takes a moment, not a network wait.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 250);
        this.#onDelivered = resolve;
      });
      clearTimeout(timer);
    }
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

  /** Long-polls job-stop and stops the jobs it names, until `signal` (the end of the drain). */
  async #stopLoop(signal: AbortSignal): Promise<void> {
    const { logger } = this.#setup;
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
            if (!this.#worker.has(id)) logger.debug(`No in-progress job for ${id}`);
            else {
              logger.info("Stopping job.", id);
              this.#worker.cancel(id, new JobStoppedError(id));
              // A result (or chunk) retrying through an outage is dropped, never delivered late.
              this.#client.stopPosts(id);
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
}

function failed(reason: unknown) {
  const error = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
  const result = { error };
  return { result, body: JSON.stringify(result), isStream: false };
}
