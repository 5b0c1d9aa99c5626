/**
 * Adds jobs to the queue the dispatcher serves, with retry options for network errors.
 *
 * Run it: `REDIS_URL=redis://127.0.0.1:6379 QUEUE=jobs node --import tsx
 * examples/bullmq-push/enqueue.ts 1000`. Each job's id (`<prefix>-<n>`, prefix from
 * `JOB_PREFIX`, default the current time) is also its push job id: ids must be unique across
 * every queue that feeds the same pool, since the workers deduplicate by id.
 *
 * @module
 */

import process from "node:process";
import { Queue } from "bullmq";
import type { PushJobData } from "./push_processor.ts";
import { jobIds } from "./run_burst.ts";

const count = Number(process.argv[2] ?? 10);
if (!Number.isInteger(count) || count < 1) {
  throw new RangeError(`Expected a positive job count: received ${process.argv[2]}`);
}
const redis = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const queue = new Queue<PushJobData>(process.env.QUEUE ?? "jobs", {
  connection: {
    host: redis.hostname,
    port: Number(redis.port || 6379),
    password: redis.password || undefined,
  },
});
const ids = jobIds(process.env.JOB_PREFIX ?? String(Date.now()), count);
for (let i = 0; i < ids.length; i += 1000) {
  await queue.addBulk(
    ids.slice(i, i + 1000).map((id, j) => ({
      name: "push",
      data: { input: { n: i + j } },
      // Network errors and 5xx are retried; 429/503 delays are not attempts (push_processor.ts).
      opts: { jobId: id, attempts: 8, backoff: { type: "exponential", delay: 100 } },
    })),
  );
}
console.log(`enqueued ${count} jobs (${ids[0]} ... ${ids.at(-1)})`);
await queue.close();
