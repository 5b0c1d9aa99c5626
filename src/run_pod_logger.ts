/**
 * The RunPod-style logger: the line formats RunPod's console understands, with writes batched so
 * logging does not cost throughput.
 *
 * @module
 */

import { LOG_LEVELS, type LogLevel, parseLogLevel } from "./log_level.ts";
import type { JobLogger, Logger } from "./types.ts";

const RESOLVED: Promise<void> = Promise.resolve();

const MAX_MESSAGE = 4096;
const HALF_MESSAGE = 2048;
/** Lines buffered before a synchronous flush, so a burst never builds an unbounded buffer. */
const FLUSH_AT = 256;
/** Under load, at most one write per this many ms; a quiet logger writes at once. */
const COALESCE_MS = 1;
const PREFIX: Record<string, string> = Object.fromEntries(
  LOG_LEVELS.map((level) => [level, `${level.padEnd(7)}| `]),
);

/** Options for {@linkcode RunPodLogger}. */
export interface RunPodLoggerOptions {
  /** The lowest level printed; `NOTSET` prints nothing. @default "INFO" */
  level?: LogLevel;
  /**
   * JSON lines (`{"requestId": ..., "message": ..., "level": ...}`) instead of text lines; RunPod
   * sets `RUNPOD_ENDPOINT_ID` when deployed, which selects this format. @default false
   */
  json?: boolean;
  /** Where formatted text goes (one or more `\n`-terminated lines). @default console.log */
  write?: (text: string) => void;
}

/**
 * The logger behind every edgepod line. Text lines look like `INFO   | job-1 | Started.`, JSON
 * lines like `{"requestId": "job-1", "message": "Started.", "level": "INFO"}`, as the Python SDK
 * prints them. Messages over 4096 characters keep their first and last 2048. Lines are buffered:
 * a quiet logger writes them at the end of the current microtask, a busy one at most once per
 * millisecond (or every 256 lines), so a worker running thousands of jobs a second makes a
 * write per millisecond instead of two per job. Call {@linkcode RunPodLogger.flush} before
 * exiting.
 *
 * @example Text and JSON lines
 * ```ts
 * import { RunPodLogger } from "./run_pod_logger.ts";
 * const lines: string[] = [];
 * const log = new RunPodLogger({ level: "DEBUG", write: (t) => lines.push(t) });
 * log.info("Started.", "j1");
 * log.flush();
 * console.assert(lines.join("") === "INFO   | j1 | Started.\n");
 * ```
 */
export class RunPodLogger implements Logger {
  #level: LogLevel;
  #threshold: number;
  #json: boolean;
  #write: (text: string) => void;
  #buffer: string[] = [];
  #scheduled = false;
  #lastWrite = -Infinity;

  /**
   * Creates a logger.
   *
   * @param options Level, format and output.
   * @throws {RangeError} When `level` is not a level.
   */
  constructor(options: RunPodLoggerOptions = {}) {
    this.#level = "INFO";
    this.#threshold = LOG_LEVELS.indexOf("INFO");
    if (options.level !== undefined) this.level = options.level;
    this.#json = options.json ?? false;
    this.#write = options.write ?? ((text) => console.log(text.slice(0, -1)));
  }

  /** The lowest level printed. */
  get level(): LogLevel {
    return this.#level;
  }

  /** Sets the lowest level printed; accepts the names and indices {@linkcode parseLogLevel} does. */
  set level(value: LogLevel | string) {
    const level = parseLogLevel(String(value));
    if (level === undefined) {
      throw new RangeError(
        `Cannot set log level as it must be one of ${LOG_LEVELS.join(", ")}: received ${value}`,
      );
    }
    this.#level = level;
    this.#threshold = LOG_LEVELS.indexOf(level);
  }

  /**
   * Tells whether a line at `level` would print; use it to skip building costly messages.
   *
   * @param level The level of the line.
   * @returns `true` when it would print.
   */
  enabled(level: LogLevel): boolean {
    return this.#threshold > 0 && LOG_LEVELS.indexOf(level) >= this.#threshold;
  }

  /** Logs at TRACE. */
  trace(message: unknown, jobId?: string): void {
    if (this.#threshold === 1) this.log("TRACE", message, jobId);
  }

  /** Logs at DEBUG. */
  debug(message: unknown, jobId?: string): void {
    if (this.#threshold > 0 && this.#threshold <= 2) this.log("DEBUG", message, jobId);
  }

  /** Logs at INFO. */
  info(message: unknown, jobId?: string): void {
    if (this.#threshold > 0 && this.#threshold <= 3) this.log("INFO", message, jobId);
  }

  /** Logs at WARN. */
  warn(message: unknown, jobId?: string): void {
    if (this.#threshold > 0 && this.#threshold <= 4) this.log("WARN", message, jobId);
  }

  /** Logs at ERROR. */
  error(message: unknown, jobId?: string): void {
    if (this.#threshold > 0) this.log("ERROR", message, jobId);
  }

  /**
   * Logs one line, whatever the level (the level check is the caller's).
   *
   * @param level The line's level.
   * @param message Any value; non-strings are rendered readably.
   * @param jobId The job the line belongs to.
   * @param batchId The job's batch id, prefixed as `[batchId=<v>] `.
   */
  log(level: LogLevel, message: unknown, jobId?: string, batchId?: string): void {
    let text = renderMessage(message);
    if (batchId !== undefined) text = `[batchId=${batchId}] ${text}`;
    if (text.length > MAX_MESSAGE) {
      text = `${text.slice(0, HALF_MESSAGE)}\n...TRUNCATED ${
        text.length - MAX_MESSAGE
      } CHARACTERS...\n${text.slice(-HALF_MESSAGE)}`;
    }
    this.#buffer.push(
      this.#json
        ? `{"requestId": ${JSON.stringify(jobId ?? null)}, "message": ${
          JSON.stringify(text)
        }, "level": "${level}"}\n`
        : jobId === undefined
        ? `${PREFIX[level]}${text}\n`
        : `${PREFIX[level]}${jobId} | ${text}\n`,
    );
    if (this.#buffer.length >= FLUSH_AT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      // Not queueMicrotask(): on Node that makes an AsyncResource per call.
      RESOLVED.then(() => this.#flushSoon());
    }
  }

  /** Writes now if the last write was long enough ago, else within a millisecond. */
  #flushSoon(): void {
    if (!this.#scheduled) return; // flushed meanwhile
    const wait = this.#lastWrite + COALESCE_MS - performance.now();
    if (wait <= 0) this.flush();
    else setTimeout(() => this.#scheduled && this.flush(), wait);
  }

  /**
   * A logger whose lines carry this job's id and batch id.
   *
   * @param job The job (its `id` and optional `batchId`).
   * @returns The job's logger.
   */
  forJob(job: { id: string; batchId?: unknown }): JobLogger {
    return new BoundJobLogger(
      this,
      job.id,
      typeof job.batchId === "string" ? job.batchId : undefined,
    );
  }

  /** Writes out buffered lines now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#buffer.length === 0) return;
    const text = this.#buffer.join("");
    this.#buffer = [];
    this.#lastWrite = performance.now();
    this.#write(text);
  }
}

/**
 * A job's logger: one object per job. Its methods are bound (arrow fields), so a handler may pass
 * one on its own: `.catch(ctx.log.error)`, `const { info } = ctx.log`.
 */
class BoundJobLogger implements JobLogger {
  readonly #logger: RunPodLogger;
  readonly #id: string;
  readonly #batch: string | undefined;

  constructor(logger: RunPodLogger, id: string, batch: string | undefined) {
    this.#logger = logger;
    this.#id = id;
    this.#batch = batch;
  }

  #at(level: LogLevel, message: unknown): void {
    if (this.#logger.enabled(level)) this.#logger.log(level, message, this.#id, this.#batch);
  }

  readonly trace = (message: unknown): void => this.#at("TRACE", message);
  readonly debug = (message: unknown): void => this.#at("DEBUG", message);
  readonly info = (message: unknown): void => this.#at("INFO", message);
  readonly warn = (message: unknown): void => this.#at("WARN", message);
  readonly error = (message: unknown): void => this.#at("ERROR", message);
}

/**
 * Renders any logged value as text: strings as they are, errors with their stack, other values as
 * JSON where possible.
 *
 * @param message The value.
 * @returns Its text.
 *
 * @example
 * ```ts
 * import { renderMessage } from "./run_pod_logger.ts";
 * console.assert(renderMessage({ a: 1 }) === '{"a":1}');
 * ```
 */
export function renderMessage(message: unknown): string {
  if (typeof message === "string") return message;
  if (message instanceof Error) return message.stack ?? `${message.name}: ${message.message}`;
  try {
    return JSON.stringify(message) ?? String(message);
  } catch {
    return String(message);
  }
}
