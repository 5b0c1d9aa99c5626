/**
 * The job intake of the pull worker: takes exactly as many jobs as the gate has free slots, the
 * moment a slot frees, and backs off on errors.
 *
 * @module
 */

import { backoffDelay } from "../async/backoff.ts";
import { delay } from "../async/delay.ts";
import type { ConcurrencyGate, Permit } from "../concurrency_gate.ts";
import type { RunPodLogger } from "../run_pod_logger.ts";
import type { Job } from "../types.ts";
import type { RunPodClient } from "./runpod_client.ts";

/** The most jobs asked for in one batch take. */
const MAX_BATCH = 256;

/** Options for {@linkcode TakeLoop}. */
export interface TakeLoopOptions {
  /** Takes jobs. */
  client: RunPodClient;
  /** The gate whose free slots decide how many jobs to take. */
  gate: ConcurrencyGate;
  /** The logger. */
  logger: RunPodLogger;
  /**
   * Aborting it ends the loop, and the take in flight if no answer has come yet; the jobs of an
   * answer already arriving are still delivered to `accept` (the drain then waits for them).
   */
  signal: AbortSignal;
  /** Whether any job is queued or running (`job_in_progress`). */
  inProgress: () => boolean;
  /** Whether a job with this id is already running (a redelivery). */
  isRunning: (id: string) => boolean;
  /**
   * Receives the jobs of one take, each with a permit; a job without one (the server sent more
   * than asked) must wait for a slot.
   */
  accept: (jobs: { job: Job; permit?: Permit }[]) => void;
  /** Receives a malformed job that has an id. */
  reject: (id: string, reason: string) => void;
}

/**
 * The take loop. Each pass refreshes the concurrency limit, reserves every free slot, and takes
 * that many jobs (`job-take` for one, `job-take-batch` for more). With no free slot it waits on
 * the gate, so it is woken the moment a job finishes or the limit rises, never by a timer.
 * Failures back off: `Retry-After` (or 5 s) on 429, capped exponential back-off with jitter on
 * 5xx and network errors. Server input never throws out of the loop.
 *
 * @example
 * ```ts ignore
 * await new TakeLoop({ client, gate, logger, signal, inProgress, isRunning, accept, reject }).run();
 * ```
 */
export class TakeLoop {
  readonly #o: TakeLoopOptions;

  /** @param options What to take with and where jobs go. */
  constructor(options: TakeLoopOptions) {
    this.#o = options;
  }

  /** Runs until the signal aborts. */
  async run(): Promise<void> {
    const { gate, signal, logger } = this.#o;
    let failures = 0;
    let idle = 0;
    while (!signal.aborted) {
      // Not awaited: a sync modifier's limit applies at once, and a slow async one must not
      // delay takes; when it settles the gate applies the limit and wakes this loop.
      void gate.refresh();
      if (gate.free === 0) {
        await capacityOrAbort(gate, signal);
        continue;
      }
      const permits: Permit[] = [];
      const count = Math.min(gate.free, MAX_BATCH);
      for (let i = 0; i < count; i++) permits.push(gate.tryAcquire()!);
      const started = performance.now();
      let wait = 0;
      try {
        const outcome = await this.#o.client.take(count, this.#o.inProgress(), signal);
        switch (outcome.kind) {
          case "jobs":
            failures = 0;
            this.#deliver(outcome.jobs, permits);
            for (const bad of outcome.rejected) {
              if (bad.id !== undefined) this.#o.reject(bad.id, bad.reason);
              else logger.error(`Malformed job skipped: ${bad.reason}`);
            }
            break;
          case "none":
            failures = 0;
            if (outcome.note) logger.debug(`No job: ${outcome.note}`);
            break;
          case "throttled":
            wait = outcome.retryAfterMs ?? 5000;
            logger.warn(`job-take answered 429 Too Many Requests; waiting ${wait} ms`);
            break;
          case "error":
            wait = backoffDelay(failures++, { minDelay: 100, maxDelay: 30_000 });
            // Past a shutdown there is no retry (a take answered before it may still fail here).
            logger.error(
              `Failed to get job. | Error Type: ${outcome.type} | Error Message: ${outcome.message} (${
                signal.aborted
                  ? "not retrying: shutting down"
                  : `retrying in ${Math.round(wait)} ms`
              })`,
            );
            break;
        }
        // A server that answers "nothing" at once instead of long-polling (no job, or only
        // malformed ones) must not make us spin: back off from 10 ms up to 1 s.
        const usable = outcome.kind === "jobs" && outcome.jobs.length > 0;
        if (usable || outcome.kind === "error" || outcome.kind === "throttled") idle = 0;
        else if (performance.now() - started < 50) wait = Math.min(1000, 10 * 2 ** idle++);
        else idle = 0;
      } catch {
        // The take was aborted by shutdown before any answer came, so nothing was received: an
        // answer that had begun is read to the end (its jobs are delivered above, even now).
      } finally {
        for (const permit of permits) permit.release();
      }
      if (wait > 0 && !signal.aborted) await delay(wait, { signal }).catch(() => {});
    }
  }

  /** Hands each new job one of the reserved permits (leaving unused ones in `permits`). */
  #deliver(jobs: Job[], permits: Permit[]): void {
    const accepted: { job: Job; permit?: Permit }[] = [];
    const seen = new Set<string>();
    for (const job of jobs) {
      if (seen.has(job.id) || this.#o.isRunning(job.id)) {
        this.#o.logger.warn(`Job ${job.id} was delivered again while it runs; the copy is ignored`);
        continue;
      }
      seen.add(job.id);
      accepted.push({ job, permit: permits.pop() });
    }
    if (accepted.length === 0) return;
    if (accepted.some((a) => !a.permit)) {
      this.#o.logger.warn(
        `job-take returned more jobs than asked for; the extra ones wait for a free slot`,
      );
    }
    this.#o.logger.debug(`Jobs in queue: ${accepted.length}`);
    this.#o.accept(accepted);
  }
}

/**
 * Waits for a free slot or the abort. Not `Promise.race` with a promise of the abort: the
 * signal lives as long as the worker, and each race would leave a reaction on it (a leak of
 * about one closure per job at concurrency 1). The listener is removed after every wait.
 */
function capacityOrAbort(gate: ConcurrencyGate, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    gate.onCapacity().then(done);
  });
}
