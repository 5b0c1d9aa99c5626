/**
 * Queue entries: jobs serialised once, when they are enqueued, so a take only concatenates text.
 *
 * @module
 */

import type { RawRecord } from "./job_record.ts";
import type { SimulatorJob } from "./simulator_options.ts";

/** One queued answer: a serialised job, or a raw entry. */
export interface QueueEntry {
  /** The job id, or the raw entry's label. */
  readonly id: string;
  /** The body text served for it (an element of the array in a batch). */
  readonly text: string;
  /** The content type served when it is the whole answer of a single take. */
  readonly contentType: string;
  /** Set for raw entries. */
  readonly raw: RawRecord | undefined;
}

/**
 * Validates and serialises a job as `{ id, input, ...extra }`.
 *
 * @param job The job.
 * @param nextId Generates an id when the job has none.
 * @returns The entry.
 * @throws {TypeError} When the job is not an object, its `id` is not a non-empty string,
 * `input` is `undefined`, or it cannot be serialised.
 */
export function jobEntry(job: SimulatorJob, nextId: () => string): QueueEntry {
  if (typeof job !== "object" || job === null || Array.isArray(job)) {
    throw new TypeError(`'job' must be an object: received ${String(job)}`);
  }
  let id = job.id;
  if (id === undefined) id = nextId();
  else if (typeof id !== "string" || id === "") {
    throw new TypeError(`'id' must be a non-empty string: received ${String(id)}`);
  }
  if (job.input === undefined) {
    throw new TypeError("'input' must be a JSON value: received undefined");
  }
  const text = JSON.stringify({ id, ...job });
  return { id, text, contentType: "application/json", raw: undefined };
}

/**
 * The text served for a raw entry: a string as it is, any other value as its JSON.
 *
 * @param body The string or value.
 * @returns The text.
 * @throws {TypeError} When `body` has no JSON form (`undefined`, a function).
 */
export function rawText(body: unknown): string {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  if (typeof text !== "string") {
    throw new TypeError(`'body' must be a string or a JSON value: received ${typeof body}`);
  }
  return text;
}
