/**
 * One burst through the whole pipeline, for the pool test and its benchmark: BullMQ (on a given
 * Redis) → the dispatcher (createPushProcessor) → nginx → push workers; then what the handler's
 * ledger, BullMQ and nginx's log say about it.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { type Job, Queue, Worker } from "bullmq";
import { createPushProcessor, type PushJobData } from "./push_processor.ts";

/** Options for {@linkcode runBurst}. */
export interface BurstOptions {
  /** Redis's port on 127.0.0.1. */
  redisPort: number;
  /** A queue name of its own. */
  queueName: string;
  /** The pool's URL (nginx). */
  poolUrl: string;
  /** Jobs enqueued at once. */
  jobs: number;
  /** How many of them ask the handler to fail (the first ones). @default 0 */
  failing?: number;
  /** The dispatcher's concurrency. */
  concurrency: number;
  /** Called as jobs settle, with the count so far; its promise is awaited before the result. */
  during?: (progress: Progress) => Promise<void>;
  /** BullMQ attempts for network errors and 5xx. @default 8 */
  attempts?: number;
}

/** Progress of a burst, for actions timed inside it. */
export interface Progress {
  /** Resolves once `n` jobs have settled (completed or failed). */
  settled(n: number): Promise<void>;
  /** Jobs settled so far. */
  count(): number;
}

/** What a burst produced. */
export interface BurstResult {
  /** The job ids, in order. */
  ids: string[];
  /** BullMQ's counts at the end. */
  counts: Record<string, number>;
  /** From enqueue to the last job settled, in ms. */
  elapsedMs: number;
  /** 429s and 503s the dispatcher saw (after nginx tried every worker). */
  deferrals: { 429: number; 503: number };
  /** Failed BullMQ jobs: id → failedReason, attemptsMade. */
  failed: Map<string, { reason: string; attemptsMade: number }>;
  /** A sample of completed jobs' return values. */
  sample: { id: string; returnvalue: unknown }[];
}

/**
 * Job ids `<prefix>-<n>`, zero-padded so they sort in order.
 *
 * @param prefix The prefix (unique per burst: the workers deduplicate by id).
 * @param count How many.
 * @returns The ids.
 *
 * @example
 * ```ts
 * import { jobIds } from "./run_burst.ts";
 * console.assert(jobIds("b", 11)[3] === "b-03");
 * ```
 */
export function jobIds(prefix: string, count: number): string[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(width, "0")}`);
}

/**
 * Enqueues `jobs` jobs at once and dispatches them until every one has settled.
 *
 * @param options The pipeline and the burst.
 * @returns What BullMQ holds at the end.
 *
 * @example
 * ```ts ignore
 * const result = await runBurst({
 *   redisPort: 6379, queueName: "burst", poolUrl: "http://127.0.0.1:8080", jobs: 1000, concurrency: 64,
 * });
 * console.assert(result.counts.completed === 1000);
 * ```
 */
export async function runBurst(options: BurstOptions): Promise<BurstResult> {
  const connection = { host: "127.0.0.1", port: options.redisPort, maxRetriesPerRequest: null };
  const queue = new Queue<PushJobData>(options.queueName, { connection });
  const ids = jobIds(options.queueName, options.jobs);
  const failing = options.failing ?? 0;
  const deferrals = { 429: 0, 503: 0 };
  let settled = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const progress: Progress = {
    count: () => settled,
    settled: (n) =>
      n <= settled ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
  };
  const onSettled = () => {
    settled++;
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.n <= settled) waiters.splice(i, 1)[0]!.resolve();
    }
  };
  const processor = createPushProcessor({
    poolUrl: options.poolUrl,
    onDeferral: (status) => {
      if (status === 429 || status === 503) deferrals[status]++;
    },
  });
  const worker = new Worker<PushJobData>(
    options.queueName,
    processor,
    { connection, concurrency: options.concurrency, autorun: false },
  );
  worker.on("completed", onSettled);
  worker.on("failed", (job: Job | undefined) => {
    // A failure that BullMQ will retry has no finishedOn yet: it is not settled.
    if (job?.finishedOn) onSettled();
  });
  worker.on("error", (error) => console.error(`dispatcher error: ${error.message}`));
  try {
    await queue.waitUntilReady();
    await worker.waitUntilReady();
    const opts = {
      attempts: options.attempts ?? 8,
      backoff: { type: "exponential", delay: 100 },
    };
    const started = Date.now();
    for (let i = 0; i < ids.length; i += 1000) {
      await queue.addBulk(
        ids.slice(i, i + 1000).map((id, j) => ({
          name: "push",
          data: { input: i + j < failing ? { n: i + j, fail: true } : { n: i + j } },
          opts: { ...opts, jobId: id },
        })),
      );
    }
    void worker.run();
    const all = progress.settled(ids.length);
    await Promise.all([all, options.during?.(progress)]);
    const elapsedMs = Date.now() - started;
    const counts = await queue.getJobCounts(
      "completed",
      "failed",
      "delayed",
      "waiting",
      "active",
      "prioritized",
    );
    const failed = new Map<string, { reason: string; attemptsMade: number }>();
    for (const job of await queue.getFailed(0, -1)) {
      failed.set(job.id!, { reason: job.failedReason, attemptsMade: job.attemptsMade });
    }
    const sample = (await queue.getCompleted(0, 49)).map((job) => ({
      id: job.id!,
      returnvalue: job.returnvalue,
    }));
    return { ids, counts, elapsedMs, deferrals, failed, sample };
  } finally {
    await worker.close();
    processor.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

/** One ledger line. */
export interface LedgerLine {
  /** The job id. */
  jobId: string;
  /** The worker process. */
  pid: number;
  /** Its runtime. */
  runtime: string;
}

/**
 * Runs per job id, from a ledger file.
 *
 * @param path The ledger.
 * @returns Runs by job id, and every line.
 *
 * @example
 * ```ts
 * import { writeFileSync } from "node:fs";
 * import { readLedger } from "./run_burst.ts";
 * const path = `/tmp/ledger-doc-${Date.now()}.jsonl`;
 * writeFileSync(path, '{"jobId":"a","pid":1,"runtime":"bun"}\n{"jobId":"a","pid":2,"runtime":"deno"}\n');
 * console.assert(readLedger(path).runs.get("a") === 2);
 * ```
 */
export function readLedger(path: string): { runs: Map<string, number>; lines: LedgerLine[] } {
  const lines = readFileSync(path, "utf8").split("\n").filter(Boolean).map((line) =>
    JSON.parse(line) as LedgerLine
  );
  const runs = new Map<string, number>();
  for (const line of lines) runs.set(line.jobId, (runs.get(line.jobId) ?? 0) + 1);
  return { runs, lines };
}

/**
 * Counts of each upstream status nginx logged (every worker tried: `429, 200` counts both).
 *
 * @param accessLog An access log in the example's `pool` format.
 * @returns Count by status.
 *
 * @example
 * ```ts
 * import { writeFileSync } from "node:fs";
 * import { upstreamStatuses } from "./run_burst.ts";
 * const path = `/tmp/access-doc-${Date.now()}.log`;
 * writeFileSync(path, '1.0 200 "a:1, a:2" "429, 200" 0.01\n');
 * console.assert(upstreamStatuses(path).get("429") === 1);
 * ```
 */
export function upstreamStatuses(accessLog: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(accessLog, "utf8").split("\n")) {
    const match = /"[^"]*" "([^"]*)"/.exec(line);
    if (!match) continue;
    for (const status of match[1]!.split(/[,:]\s*/)) {
      if (status && status !== "-") counts.set(status, (counts.get(status) ?? 0) + 1);
    }
  }
  return counts;
}
