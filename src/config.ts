/**
 * `start()`'s configuration: the idiomatic keys, the Python SDK's snake_case aliases, and their
 * validation with valibot.
 *
 * @module
 */

import * as v from "valibot";
import type { ConcurrencyModifier } from "./concurrency_gate.ts";
import { isStandardSchema, type StandardSchema } from "./standard_schema.ts";
import type { Handler } from "./types.ts";
import { webhookHostEntry } from "./worker/webhook_target.ts";

/** Merges stream chunks coalesced into one `job-stream` post. */
export type ChunkMerger = (chunks: unknown[]) => unknown;

/** Opt-in coalescing of stream chunks while a `job-stream` post is in flight. */
export interface StreamBatchOptions {
  /** The most chunks merged into one post. @default 64 */
  maxChunks?: number;
  /**
   * Merges the chunks of one post. @default strings are concatenated, anything else becomes an
   * array of the chunks
   */
  merge?: ChunkMerger;
}

/**
 * What `start()` accepts. Every key also has the Python SDK's spelling where it had one
 * (`concurrency_modifier`, `return_aggregate_stream`, `refresh_worker`), so RunPod's documented
 * examples run as written.
 */
export interface StartOptions {
  /** The job handler. */
  handler: Handler;
  /**
   * Returns the concurrency limit, given the current one (sync or async). Called before each
   * take and every `concurrencyPollMs` while jobs run. A bad value or a throw keeps the last good
   * limit and logs a warning. @default the limit stays 1
   */
  concurrencyModifier?: ConcurrencyModifier;
  /** Alias of `concurrencyModifier`. */
  concurrency_modifier?: ConcurrencyModifier;
  /** For streaming handlers: the final result's `output` is the list of every chunk. @default false */
  returnAggregateStream?: boolean;
  /** Alias of `returnAggregateStream`. */
  return_aggregate_stream?: boolean;
  /** After each job, mark the result `stopPod: true` and stop the worker. @default false */
  refreshWorker?: boolean;
  /** Alias of `refreshWorker`. */
  refresh_worker?: boolean;
  /** Validates `job.input` before the handler runs (valibot or any Standard Schema). */
  inputSchema?: StandardSchema;
  /** A hard ceiling on concurrency, whatever the modifier returns. @default no ceiling */
  maxConcurrency?: number;
  /**
   * How often the concurrency modifier is re-read while jobs run, in ms (at most 2147483647).
   * @default 100
   */
  concurrencyPollMs?: number;
  /**
   * Per-job execution timeout in ms (at most 2147483647, about 24.8 days, the longest timer
   * delay): the job is aborted and FAILED as timed out. @default none
   */
  executionTimeoutMs?: number;
  /**
   * On SIGTERM/SIGINT, how long running jobs may finish before they are aborted, in ms (at most
   * 2147483647). @default 25000
   */
  drainTimeoutMs?: number;
  /** Stream chunks buffered ahead of a slow `job-stream` endpoint before the handler waits. @default 64 */
  streamBufferSize?: number;
  /** Opt-in coalescing of stream chunks while a post is in flight. @default off */
  streamBatch?: boolean | StreamBatchOptions;
  /** The largest result body posted, in bytes; larger ones become a FAILED result. @default 20 MB */
  maxResultBytes?: number;
  /**
   * The longest wait between two attempts to deliver a result, stream chunk or progress update
   * while RunPod's job-done or job-stream fails, in ms, at most 2147483647 (a `Retry-After` may
   * ask for longer). Posts are retried until delivered, with jittered back-off up to this.
   * @default 10000
   */
  deliveryRetryMaxDelayMs?: number;
  /**
   * Push and dev intakes: how many jobs may wait for a slot when every slot is taken; past it a
   * submission is answered `429` with `Retry-After`. `EDGEPOD_PUSH_QUEUE` overrides it.
   * @default the concurrency limit in force
   */
  queueSize?: number;
  /** Push mode's settings. */
  push?: PushOptions;
}

/** Push mode's settings (`start({ push: { ... } })`). */
export interface PushOptions {
  /** The largest request body, in bytes; a larger one is answered `413`. @default 10 MB */
  maxBodyBytes?: number;
  /**
   * How long a finished job's result is kept, so a redelivery of its id gets the stored result
   * instead of a second run, in ms. @default 600000 (10 minutes)
   */
  resultTtlMs?: number;
  /** How many finished results are kept at most (oldest forgotten first). @default 10000 */
  maxStoredResults?: number;
  /**
   * How many bytes of finished results are kept at most (oldest forgotten first; a result
   * larger on its own is not kept, with a WARN line). @default 67108864 (64 MiB)
   */
  maxStoredBytes?: number;
  /**
   * The HTTP status of a synchronous answer whose job FAILED or TIMED_OUT. `200` (the default)
   * makes a failure a delivered result, so a poison job is not redelivered forever; a 5xx makes
   * senders redeliver, and each redelivery then runs the job again. @default 200
   */
  failureStatus?: number;
  /**
   * Serve without auth on a non-loopback address. Off, such a start is refused; read README's
   * push security section before turning it on. @default false
   */
  dangerouslyAllowUnauthenticated?: boolean;
  /**
   * The only hosts a job's `webhook` may name: host names, `.suffix` entries admitting every
   * subdomain, or IP addresses (`EDGEPOD_WEBHOOK_HOSTS` replaces it in push mode). Empty, any
   * host is called but link-local, unspecified, multicast and reserved addresses and the cloud
   * metadata names. @default []
   */
  webhookHosts?: readonly string[];
}

/** The validated, normalised configuration. */
export interface WorkerConfig {
  /** The job handler. */
  handler: Handler;
  /** The concurrency modifier, if any. */
  concurrencyModifier?: ConcurrencyModifier;
  /** See {@linkcode StartOptions.returnAggregateStream}. */
  returnAggregateStream: boolean;
  /** See {@linkcode StartOptions.refreshWorker}. */
  refreshWorker: boolean;
  /** See {@linkcode StartOptions.inputSchema}. */
  inputSchema?: StandardSchema;
  /** See {@linkcode StartOptions.maxConcurrency}. */
  maxConcurrency: number;
  /** See {@linkcode StartOptions.concurrencyPollMs}. */
  concurrencyPollMs: number;
  /** See {@linkcode StartOptions.executionTimeoutMs}. */
  executionTimeoutMs?: number;
  /** See {@linkcode StartOptions.drainTimeoutMs}. */
  drainTimeoutMs: number;
  /** See {@linkcode StartOptions.streamBufferSize}. */
  streamBufferSize: number;
  /** Coalescing settings, or `undefined` when off. */
  streamBatch?: Required<StreamBatchOptions>;
  /** See {@linkcode StartOptions.maxResultBytes}. */
  maxResultBytes: number;
  /** See {@linkcode StartOptions.deliveryRetryMaxDelayMs}. */
  deliveryRetryMaxDelayMs: number;
  /** See {@linkcode StartOptions.queueSize}; `undefined` follows the limit. */
  queueSize?: number;
  /** Push settings with their defaults. */
  push: Required<PushOptions>;
}

const ALIASES = {
  concurrency_modifier: "concurrencyModifier",
  return_aggregate_stream: "returnAggregateStream",
  refresh_worker: "refreshWorker",
} as const;

const fn = v.function("a function");
const bool = v.boolean("a boolean");
const int = (min: number) =>
  v.pipe(
    v.number("a number"),
    v.integer(`an integer of at least ${min}`),
    v.minValue(min, `an integer of at least ${min}`),
  );

/**
 * The longest delay `setTimeout` and `setInterval` take (2^31 - 1 ms, about 24.8 days): on Node,
 * Deno and Bun a longer one fires at once (after about 1 ms), so a "very long" timeout would
 * expire immediately.
 */
const MAX_TIMER_MS = 2_147_483_647;
/** A millisecond option that feeds a timer: an integer from `min` to {@linkcode MAX_TIMER_MS}. */
const timerMs = (min: number) =>
  v.pipe(
    int(min),
    v.maxValue(
      MAX_TIMER_MS,
      `at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest delay a timer can wait`,
    ),
  );

const SCHEMA = v.strictObject({
  handler: fn,
  concurrencyModifier: v.optional(fn),
  concurrency_modifier: v.optional(fn),
  returnAggregateStream: v.optional(bool),
  return_aggregate_stream: v.optional(bool),
  refreshWorker: v.optional(bool),
  refresh_worker: v.optional(bool),
  inputSchema: v.optional(v.custom<StandardSchema>(isStandardSchema, "a Standard Schema")),
  maxConcurrency: v.optional(int(1)),
  concurrencyPollMs: v.optional(timerMs(1)),
  executionTimeoutMs: v.optional(timerMs(1)),
  drainTimeoutMs: v.optional(timerMs(0)),
  streamBufferSize: v.optional(int(1)),
  streamBatch: v.optional(v.union([
    bool,
    v.strictObject({ maxChunks: v.optional(int(1)), merge: v.optional(fn) }),
  ], "a boolean or { maxChunks?, merge? }")),
  maxResultBytes: v.optional(int(1)),
  deliveryRetryMaxDelayMs: v.optional(timerMs(1)),
  queueSize: v.optional(int(0)),
  push: v.optional(v.strictObject({
    maxBodyBytes: v.optional(int(1)),
    // Not a timer: a stored result's expiry is compared with the clock when it is read.
    resultTtlMs: v.optional(int(0)),
    maxStoredResults: v.optional(int(0)),
    maxStoredBytes: v.optional(int(0)),
    failureStatus: v.optional(v.union([
      v.literal(200),
      v.pipe(int(500), v.maxValue(599, "an HTTP status 500 to 599")),
    ], "200 or an HTTP status 500 to 599")),
    dangerouslyAllowUnauthenticated: v.optional(bool),
    webhookHosts: v.optional(v.array(v.string(), "an array of host names")),
  }, "an object")),
}, "an object");

/**
 * Validates and normalises `start()`'s configuration.
 *
 * @param input What the user passed to `start()`.
 * @returns The normalised configuration.
 * @throws {TypeError} When a key is unknown, has the wrong type, or is given under both of its
 * spellings; the message names the key and what was expected.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const config = parseConfig({ handler: () => 1, return_aggregate_stream: true });
 * console.assert(config.returnAggregateStream === true);
 * try {
 *   parseConfig({ handler: () => 1, concurency_modifier: () => 2 });
 * } catch (error) {
 *   console.assert(String(error).includes("concurency_modifier"));
 * }
 * ```
 */
export function parseConfig(input: unknown): WorkerConfig {
  const result = v.safeParse(SCHEMA, input);
  if (!result.success) {
    throw new TypeError(`Invalid start() config: ${result.issues.map(describeIssue).join("; ")}`);
  }
  const raw = result.output as Record<string, unknown>;
  for (const [alias, key] of Object.entries(ALIASES)) {
    if (raw[alias] !== undefined && raw[key] !== undefined && raw[alias] !== raw[key]) {
      throw new TypeError(
        `Invalid start() config: '${key}' and its alias '${alias}' are both set to different values; set one`,
      );
    }
    raw[key] ??= raw[alias];
  }
  const batch = raw.streamBatch as boolean | StreamBatchOptions | undefined;
  return {
    handler: raw.handler as Handler,
    concurrencyModifier: raw.concurrencyModifier as ConcurrencyModifier | undefined,
    returnAggregateStream: (raw.returnAggregateStream as boolean | undefined) ?? false,
    refreshWorker: (raw.refreshWorker as boolean | undefined) ?? false,
    inputSchema: raw.inputSchema as StandardSchema | undefined,
    maxConcurrency: (raw.maxConcurrency as number | undefined) ?? Infinity,
    concurrencyPollMs: (raw.concurrencyPollMs as number | undefined) ?? 100,
    executionTimeoutMs: raw.executionTimeoutMs as number | undefined,
    drainTimeoutMs: (raw.drainTimeoutMs as number | undefined) ?? 25_000,
    streamBufferSize: (raw.streamBufferSize as number | undefined) ?? 64,
    streamBatch: batch
      ? {
        maxChunks: (batch === true ? undefined : batch.maxChunks) ?? 64,
        merge: (batch === true ? undefined : batch.merge) ?? mergeChunks,
      }
      : undefined,
    maxResultBytes: (raw.maxResultBytes as number | undefined) ?? 20 * 1024 * 1024,
    deliveryRetryMaxDelayMs: (raw.deliveryRetryMaxDelayMs as number | undefined) ?? 10_000,
    queueSize: raw.queueSize as number | undefined,
    push: pushDefaults((raw.push ?? {}) as PushOptions),
  };
}

function pushDefaults(push: PushOptions): Required<PushOptions> {
  return {
    maxBodyBytes: push.maxBodyBytes ?? 10 * 1024 * 1024,
    resultTtlMs: push.resultTtlMs ?? 600_000,
    maxStoredResults: push.maxStoredResults ?? 10_000,
    maxStoredBytes: push.maxStoredBytes ?? 64 * 1024 * 1024,
    failureStatus: push.failureStatus ?? 200,
    dangerouslyAllowUnauthenticated: push.dangerouslyAllowUnauthenticated ?? false,
    webhookHosts: (push.webhookHosts ?? []).map((host, i) => {
      try {
        return webhookHostEntry(host);
      } catch (error) {
        throw new TypeError(`'push.webhookHosts[${i}]': ${(error as Error).message}`);
      }
    }),
  };
}

/**
 * The default {@linkcode ChunkMerger}: strings are concatenated (token streams), anything else
 * becomes an array of the chunks.
 *
 * @param chunks The chunks of one post.
 * @returns The merged output.
 *
 * @example
 * ```ts
 * import { mergeChunks } from "./config.ts";
 * console.assert(mergeChunks(["a", "b"]) === "ab");
 * ```
 */
export function mergeChunks(chunks: unknown[]): unknown {
  return chunks.every((c) => typeof c === "string") ? chunks.join("") : chunks;
}

function describeIssue(issue: v.BaseIssue<unknown>): string {
  const key = issue.path?.map((p) => String(p.key)).join(".");
  if (issue.type === "strict_object" && issue.expected === "never") {
    return `unknown key '${key}'; expected one of ${Object.keys(SCHEMA.entries).join(", ")}`;
  }
  if (key === undefined) return `expected ${issue.message}, received ${issue.received}`;
  if (issue.type === "strict_object" && issue.received === "undefined") {
    return `'${key}' is required`;
  }
  return `'${key}' must be ${issue.message}: received ${issue.received}`;
}
