/**
 * One job's deliveries to RunPod, in order: stream chunks through a bounded sink, progress
 * updates (newest wins), then exactly one final result.
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";
import type { ChunkMerger } from "../config.ts";
import type { ExecutedJob } from "../execute_job.ts";
import { strictStringify } from "../job_result.ts";
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
    const { client, jobId, log } = this.#options;
    return chunkSink({
      bufferSize: this.#options.bufferSize,
      batch: this.#options.batch,
      maxBytes: this.#options.maxBytes,
      post: async (body) => {
        const outcome = await client.postStream(jobId, body);
        if (!outcome.ok) log.error(`Failed to stream a chunk. | ${describeOutcome(outcome)}`);
      },
    });
  }

  /**
   * Queues a progress update (`{"status": "IN_PROGRESS", "output": update}` to job-done).
   *
   * @param update Any JSON value.
   * @returns Settles once delivered (or given up on, which is logged), or superseded.
   * @throws {TypeError} (as a rejection) When `update` is not JSON-serialisable.
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
      return Promise.reject(
        new TypeError(
          `Cannot send progress as it is not JSON-serialisable: ${(error as Error).message}`,
        ),
      );
    }
    this.#pending?.delivered.resolve();
    const delivered = deferred<void>();
    this.#pending = { body, delivered };
    this.#pumping ??= this.#pump();
    return delivered.promise;
  }

  async #pump(): Promise<void> {
    const { client, jobId, log } = this.#options;
    while (this.#pending) {
      const { body, delivered } = this.#pending;
      this.#pending = undefined;
      try {
        const outcome = await client.postDone(jobId, body, false);
        if (!outcome.ok) {
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
   * Posts the final result after any queued progress. A 4xx answer (the result was refused, for
   * example as too large) is followed by a small FAILED result saying so, so the job never
   * hangs; 5xx and network errors were already retried by the client.
   *
   * @param done The executed job.
   * @returns Whether a final result was accepted.
   */
  async finish(done: ExecutedJob): Promise<boolean> {
    const { client, jobId, log } = this.#options;
    this.#finished = true;
    await this.#pumping;
    let outcome = await client.postDone(jobId, done.body, done.isStream);
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
      outcome = await client.postDone(jobId, JSON.stringify(fallback), done.isStream);
    }
    if (!outcome.ok) log.error(`Failed to return job results. | ${describeOutcome(outcome)}`);
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
