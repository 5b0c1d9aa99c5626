/**
 * The ledger: what happened to every job, and the report that says whether any was lost or
 * reported twice.
 *
 * @module
 */

import type { BadPost, JobRecord, RawRecord, ResultRecord } from "./job_record.ts";

/** The verdict over all jobs; see {@linkcode Ledger.report}. */
export interface SimulatorReport {
  /** Every job record: enqueued ids and ids that were only posted to. */
  jobs: JobRecord[];
  /** Every malformed job queued with `enqueueRaw`. */
  raw: RawRecord[];
  /** Handed out, not stopped, not queued again, and without a final result. */
  lost: string[];
  /** More than one final result. */
  duplicated: string[];
  /** A final result, progress or chunk arrived for an id never handed out. */
  unknown: string[];
  /** Still queued: job ids, then labels of raw entries. */
  pending: string[];
  /** A progress post arrived after the job's final result. */
  progressAfterFinal: string[];
  /** A stream chunk arrived after the job's final result. */
  chunksAfterFinal: string[];
  /** Posts whose body was not JSON. */
  badPosts: BadPost[];
}

/**
 * Per-job bookkeeping. Every `record*` method is O(1); only {@linkcode Ledger.report} walks all
 * jobs. The simulator's routes write it; tests read it.
 *
 * @example A job handed out and never answered is lost
 * ```ts
 * import { Ledger } from "./ledger.ts";
 * const ledger = new Ledger();
 * ledger.recordEnqueued("j1", 0);
 * ledger.recordTaken("j1", 1, "w1");
 * console.assert(ledger.report().lost[0] === "j1");
 * ```
 */
export class Ledger {
  #jobs = new Map<string, JobRecord>();
  #raw: RawRecord[] = [];
  #badPosts: BadPost[] = [];
  #withResult = 0;

  /** The number of job records. */
  get size(): number {
    return this.#jobs.size;
  }

  /** The number of jobs with at least one final result. */
  get jobsWithResult(): number {
    return this.#withResult;
  }

  /** The posts whose body was not JSON. */
  get badPosts(): readonly BadPost[] {
    return this.#badPosts;
  }

  /**
   * Looks up a job.
   *
   * @param id The job id.
   * @returns Its record, or `undefined` when nothing is known about it.
   */
  get(id: string): JobRecord | undefined {
    return this.#jobs.get(id);
  }

  /**
   * Iterates the job records in creation order.
   *
   * @returns An iterator over the records.
   */
  jobs(): IterableIterator<JobRecord> {
    return this.#jobs.values();
  }

  /**
   * Records that a job was put in the queue.
   *
   * @param id The job id.
   * @param at The time (`performance.now()`).
   */
  recordEnqueued(id: string, at: number): void {
    const job = this.#job(id);
    job.enqueuedAt ??= at;
    job.queued++;
  }

  /**
   * Records that a malformed job was put in the queue.
   *
   * @param label Its label.
   * @param at The time (`performance.now()`).
   * @returns Its record, to pass to {@linkcode Ledger.recordRawTaken}.
   */
  recordRawEnqueued(label: string, at: number): RawRecord {
    const raw: RawRecord = { label, enqueuedAt: at, takenAt: undefined, takenBy: undefined };
    this.#raw.push(raw);
    return raw;
  }

  /**
   * Records that a job was handed to a worker.
   *
   * @param id The job id.
   * @param at The time (`performance.now()`).
   * @param workerId The worker.
   */
  recordTaken(id: string, at: number, workerId: string): void {
    const job = this.#job(id);
    if (job.queued > 0) job.queued--;
    job.taken++;
    job.takenAt.push(at);
    job.takenBy.push(workerId);
  }

  /**
   * Records that a malformed job was handed to a worker.
   *
   * @param raw Its record.
   * @param at The time (`performance.now()`).
   * @param workerId The worker.
   */
  recordRawTaken(raw: RawRecord, at: number, workerId: string): void {
    raw.takenAt = at;
    raw.takenBy = workerId;
  }

  /**
   * Counts a final-result post, delivered or not.
   *
   * @param id The job id.
   */
  recordAttempt(id: string): void {
    this.#job(id).attempts++;
  }

  /**
   * Records a delivered final result.
   *
   * @param id The job id.
   * @param result The result.
   */
  recordResult(id: string, result: ResultRecord): void {
    const job = this.#job(id);
    if (job.results.length === 0) this.#withResult++;
    job.results.push(result);
  }

  /**
   * Records a delivered progress update.
   *
   * @param id The job id.
   * @param output Its `output`.
   */
  recordProgress(id: string, output: unknown): void {
    const job = this.#job(id);
    if (job.results.length > 0) job.progressAfterFinal = true;
    job.progress.push(output);
  }

  /**
   * Records a delivered stream chunk.
   *
   * @param id The job id.
   * @param item Its `output`.
   */
  recordChunk(id: string, item: unknown): void {
    const job = this.#job(id);
    if (job.results.length > 0) job.chunksAfterFinal = true;
    job.chunks.push(item);
  }

  /**
   * Records that a stop signal for a job was delivered.
   *
   * @param id The job id.
   */
  recordStopped(id: string): void {
    this.#job(id).stopped = true;
  }

  /**
   * Records a post whose body was not JSON.
   *
   * @param post The post.
   */
  recordBadPost(post: BadPost): void {
    this.#badPosts.push(post);
  }

  /**
   * Walks all jobs and sorts out the ones that went wrong. O(jobs): call it from assertions,
   * not per request (the counters are cheap).
   *
   * @returns The report; its job records are the live ones.
   */
  report(): SimulatorReport {
    const report: SimulatorReport = {
      jobs: [],
      raw: [...this.#raw],
      lost: [],
      duplicated: [],
      unknown: [],
      pending: [],
      progressAfterFinal: [],
      chunksAfterFinal: [],
      badPosts: [...this.#badPosts],
    };
    for (const job of this.#jobs.values()) {
      report.jobs.push(job);
      const final = job.results.length;
      if (job.taken > 0 && !job.stopped && job.queued === 0 && final === 0) {
        report.lost.push(job.id);
      }
      if (final > 1) report.duplicated.push(job.id);
      if (job.taken === 0 && (final > 0 || job.progress.length > 0 || job.chunks.length > 0)) {
        report.unknown.push(job.id);
      }
      if (job.queued > 0) report.pending.push(job.id);
      if (job.progressAfterFinal) report.progressAfterFinal.push(job.id);
      if (job.chunksAfterFinal) report.chunksAfterFinal.push(job.id);
    }
    for (const raw of this.#raw) if (raw.takenAt === undefined) report.pending.push(raw.label);
    return report;
  }

  #job(id: string): JobRecord {
    let job = this.#jobs.get(id);
    if (job === undefined) {
      job = {
        id,
        enqueuedAt: undefined,
        queued: 0,
        taken: 0,
        takenAt: [],
        takenBy: [],
        chunks: [],
        progress: [],
        results: [],
        attempts: 0,
        stopped: false,
        progressAfterFinal: false,
        chunksAfterFinal: false,
      };
      this.#jobs.set(id, job);
    }
    return job;
  }
}
