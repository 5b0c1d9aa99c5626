/**
 * The records the ledger keeps: per job, per raw entry, per bad post.
 *
 * @module
 */

/** One final result as received on job-done. */
export interface ResultRecord {
  /** The parsed request body (for example `{ "output": ... }` or `{ "error": ... }`). */
  body: unknown;
  /** The `isStream` query parameter was `true`. */
  isStream: boolean;
  /** When it arrived (`performance.now()`). */
  at: number;
  /** The worker id of the URL. */
  workerId: string;
  /** The `X-Request-ID` header, if any. */
  requestId: string | undefined;
}

/** Everything the simulator knows about one job id. */
export interface JobRecord {
  /** The job id. */
  readonly id: string;
  /** When it was first enqueued (`performance.now()`); `undefined` for ids never enqueued. */
  enqueuedAt: number | undefined;
  /** Copies of it still waiting in the queue (more than one when enqueued again). */
  queued: number;
  /** How many times it was handed out. */
  taken: number;
  /** When it was handed out, one entry per hand-out. */
  takenAt: number[];
  /** The worker ids it was handed to, one entry per hand-out. */
  takenBy: string[];
  /** The `output` of every job-stream post, in arrival order. */
  chunks: unknown[];
  /** The `output` of every progress post (`"status": "IN_PROGRESS"`), in arrival order. */
  progress: unknown[];
  /** The final results delivered, in arrival order. More than one is a duplicate. */
  results: ResultRecord[];
  /** Final-result posts received, including faulted ones. */
  attempts: number;
  /** A stop signal for it was delivered on job-stop. */
  stopped: boolean;
  /** A progress post arrived after a final result. */
  progressAfterFinal: boolean;
  /** A stream chunk arrived after a final result. */
  chunksAfterFinal: boolean;
}

/** A malformed job queued with `enqueueRaw`. */
export interface RawRecord {
  /** Its label (`raw-1`, `raw-2`, ...); it appears nowhere on the wire. */
  readonly label: string;
  /** When it was enqueued (`performance.now()`). */
  enqueuedAt: number;
  /** When it was handed out; `undefined` while queued. */
  takenAt: number | undefined;
  /** The worker it was handed to; `undefined` while queued. */
  takenBy: string | undefined;
}

/** A job-done or job-stream post whose body was not JSON (answered 400). */
export interface BadPost {
  /** The route. */
  route: "job-done" | "job-stream";
  /** The worker id of the URL. */
  workerId: string;
  /** The job id of the URL. */
  jobId: string;
  /** The raw body text. */
  body: string;
  /** When it arrived (`performance.now()`). */
  at: number;
}
