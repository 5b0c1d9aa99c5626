/**
 * The worker's counters: what `/metrics` and health routes read.
 *
 * @module
 */

import type { JobStatus } from "./job_status.ts";

/** Upper bounds, in seconds, of the job-duration histogram's buckets (`+Inf` is implied). */
export const DURATION_BUCKETS_S = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
] as const;

/**
 * Counts of jobs by terminal status and a cumulative histogram of their execution times.
 *
 * @example
 * ```ts
 * import { WorkerStats } from "./worker_stats.ts";
 * const stats = new WorkerStats();
 * stats.record({ status: "COMPLETED", executionTime: 20 });
 * console.assert(stats.ended.COMPLETED === 1 && stats.durationCount === 1);
 * ```
 */
export class WorkerStats {
  /** Jobs submitted to the worker. */
  accepted = 0;
  /** Jobs ended, by terminal status. */
  readonly ended: Record<Exclude<JobStatus, "IN_QUEUE" | "IN_PROGRESS">, number> = {
    COMPLETED: 0,
    FAILED: 0,
    CANCELLED: 0,
    TIMED_OUT: 0,
  };
  /** Per bucket of {@linkcode DURATION_BUCKETS_S}: jobs that ran at most that long. */
  readonly durationBuckets: number[] = DURATION_BUCKETS_S.map(() => 0);
  /** Jobs in the histogram: those that started (a job dropped or cancelled in the queue is not). */
  durationCount = 0;
  /** Sum of their execution times, in seconds. */
  durationSum = 0;
  /**
   * Handlers still running although their job was stopped (cancelled, timed out or aborted at
   * shutdown) and its slot given back: they ignore `ctx.signal`.
   */
  stoppedRunning = 0;

  /**
   * Counts one ended job.
   *
   * @param outcome Its terminal status and execution time in ms.
   * @param started Whether its handler ran; a job that never did has no duration to count.
   */
  record(
    outcome: { status: Exclude<JobStatus, "IN_QUEUE" | "IN_PROGRESS">; executionTime: number },
    started = true,
  ): void {
    this.ended[outcome.status]++;
    if (!started) return;
    const seconds = outcome.executionTime / 1000;
    this.durationCount++;
    this.durationSum += seconds;
    for (let i = DURATION_BUCKETS_S.length - 1; i >= 0 && seconds <= DURATION_BUCKETS_S[i]!; i--) {
      this.durationBuckets[i]!++;
    }
  }
}
