/**
 * One job's deliveries to RunPod, in order: stream chunks through a bounded sink, progress
 * updates (newest wins), then exactly one final result. Every post is retried until it is
 * delivered, or until the delivery signal aborts (the worker's drain deadline plus its grace).
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";
import { JobStoppedError } from "../errors.ts";
import type { ChunkMerger } from "../config.ts";
import type { ExecutedJob } from "../execute_job.ts";
import { strictStringify } from "../job_result.ts";
import { refuseProgress } from "../progress_update.ts";
import type { JobLogger } from "../types.ts";
import { chunkSink } from "./chunk_sink.ts";
import { describeError, type PostOutcome, type RunPodClient } from "./runpod_client.ts";

/** Options for {@linkcode JobChannel}. */
export interface JobChannelOptions {
  /** The RunPod client. */
  client: RunPodClient;
  /** The job's id. */
  jobId: string;
  /** The job's logger. */
  log: JobLogger;
  /** Stream chunks buffered ahead of the endpoint. @default 64 */
  bufferSize?: number;
  /** Opt-in chunk coalescing. */
  batch?: { maxChunks: number; merge: ChunkMerger };
  /** The largest body, in UTF-8 bytes. @default 20 MB */
  maxBytes?: number;
  /**
   * The delivery signal: stops the retries of every post of this job (the worker aborts it at
   * the drain deadline plus its grace). What was not delivered then is logged, and
   * {@linkcode JobChannel.finish} resolves to `false`. @default never aborted
   */
  signal?: AbortSignal;
}

/**
 * A job's ordered deliveries. Progress updates are posted one at a time; an update that arrives
 * while another is being posted replaces any update still waiting (it is stale), and its promise
 * settles then. {@linkcode JobChannel.finish} waits for the progress queue, so a progress post
 * never overtakes the final result (the Python SDK's #250).
 *
 * @example
 * ```ts ignore
 * const channel = new JobChannel({ client, jobId: job.id, log });
 * const done = await executeJob(job, { ..., sink: () => channel.sink(), progress: (u) => channel.progress(u) });
 * await channel.finish(done);
 * ```
 */
export class JobChannel {
  readonly #options: JobChannelOptions;
  #pending?: { body: string; delivered: ReturnType<typeof deferred<void>> };
  #pumping?: Promise<void>;
  #finished = false;
  /** The chunk post in flight (chunks are posted one at a time); the final result waits for it. */
  #chunk?: Promise<unknown>;
  #chunksLost = 0;

  /** @param options Client, job and stream settings. */
  constructor(options: JobChannelOptions) {
    this.#options = options;
  }

  /**
   * A sink for the job's stream chunks.
   *
   * @returns A new `WritableStream` posting to job-stream.
   */
  sink(): WritableStream<unknown> {
    const { client, jobId, log, signal } = this.#options;
    const options = { signal };
    return chunkSink({
      bufferSize: this.#options.bufferSize,
      batch: this.#options.batch,
      maxBytes: this.#options.maxBytes,
      // One post at a time, retried until delivered: while it waits the sink fills and the
      // handler is paused (backpressure), so no chunk is dropped or overtaken.
      post: async (body) => {
        if (this.#finished) {
          // Only an aborted job's sink can still write once finish() began: its FAILED result
          // goes out now, and a chunk must never follow it.
          log.debug("A stream chunk of an aborted job was not posted.");
          return;
        }
        const posting = client.postStream(jobId, body, options);
        this.#chunk = posting;
        const outcome = await posting;
        if (this.#chunk === posting) this.#chunk = undefined;
        if (!outcome.ok && this.#chunksLost++ === 0) {
          if (outcome.error instanceof JobStoppedError) {
            log.info("Stream chunks were dropped: RunPod stopped the job.");
          } else log.error(`Failed to stream a chunk. | ${describeOutcome(outcome)}`);
        }
      },
    });
  }

  /**
   * Queues a progress update (`{"status": "IN_PROGRESS", "output": update}` to job-done).
   *
   * @param update Any JSON value.
   * @returns Settles once delivered (or given up on, which is logged), or superseded.
   * @throws {TypeError} (as a rejection, also logged, and never reported as unhandled if not
   * awaited) When `update` is not JSON-serialisable.
   */
  progress(update: unknown): Promise<void> {
    if (this.#finished) {
      this.#options.log.warn("Progress update after the final result was ignored.");
      return Promise.resolve();
    }
    let body: string;
    try {
      body = strictStringify({ status: "IN_PROGRESS", output: update });
    } catch (error) {
      return refuseProgress("send", error, this.#options.log);
    }
    this.#pending?.delivered.resolve();
    const delivered = deferred<void>();
    this.#pending = { body, delivered };
    this.#pumping ??= this.#pump();
    return delivered.promise;
  }

  async #pump(): Promise<void> {
    const { client, jobId, log, signal } = this.#options;
    // A stale update stops being retried once a newer one waits; the newest is retried until
    // delivered (or the delivery signal aborts).
    const options = {
      signal,
      kind: "progress" as const,
      superseded: () => this.#pending !== undefined,
    };
    while (this.#pending) {
      const { body, delivered } = this.#pending;
      this.#pending = undefined;
      try {
        const outcome = await client.postDone(jobId, body, false, options);
        if (outcome.aborted && !signal?.aborted) {
          log.debug("A stale progress update was replaced by a newer one during an outage.");
        } else if (!outcome.ok) {
          log.warn(`Failed to send a progress update. | ${describeOutcome(outcome)}`);
        }
      } catch (error) {
        log.warn(`Failed to send a progress update. | ${describeError(error)}`);
      } finally {
        delivered.resolve();
      }
    }
    this.#pumping = undefined;
  }

  /**
   * Posts the final result after the chunk in flight and any queued progress. A 4xx answer (the
   * result was refused, for example as too large) is followed by a small FAILED result saying
   * so, so the job never hangs; 5xx and network errors are retried by the client until the
   * result is delivered or the delivery signal aborts.
   *
   * @param done The executed job.
   * @returns Whether a final result was delivered (accepted by job-done).
   */
  async finish(done: ExecutedJob): Promise<boolean> {
    const { client, jobId, log, signal } = this.#options;
    this.#finished = true;
    while (this.#chunk !== undefined) await this.#chunk;
    await this.#pumping;
    let outcome = await client.postDone(jobId, done.body, done.isStream, { signal });
    if (
      !outcome.ok && outcome.status !== undefined && outcome.status < 500 && outcome.status !== 429
    ) {
      log.error(
        `The job-done endpoint refused the result with HTTP ${outcome.status}; sending a FAILED result instead.`,
      );
      const fallback: Record<string, unknown> = {
        error: `The job result was refused by the job-done endpoint: HTTP ${outcome.status}${
          outcome.body ? ` ${outcome.body.slice(0, 500)}` : ""
        }`,
      };
      if (done.result.stopPod) fallback.stopPod = true;
      outcome = await client.postDone(jobId, JSON.stringify(fallback), done.isStream, { signal });
    }
    if (!outcome.ok && outcome.error instanceof JobStoppedError) {
      // Not a delivery failure: RunPod stopped the job while its result waited out an outage.
      log.info("The result was dropped: RunPod stopped the job.");
    } else if (!outcome.ok) {
      log.error(
        `Failed to return job results. | ${describeOutcome(outcome)}${
          outcome.aborted ? "; retries stopped at the drain deadline and its grace" : ""
        }`,
      );
    }
    log.info("Finished.");
    return outcome.ok;
  }
}

function describeOutcome(outcome: PostOutcome): string {
  const what = outcome.status !== undefined
    ? `HTTP ${outcome.status}${outcome.body ? `: ${outcome.body.slice(0, 200)}` : ""}`
    : describeError(outcome.error);
  return `${what} (after ${outcome.attempts} ${outcome.attempts === 1 ? "attempt" : "attempts"})`;
}
