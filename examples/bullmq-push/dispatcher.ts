/**
 * The dispatcher: a BullMQ Worker whose processor forwards each job to the pool of edgepod push
 * workers (see push_processor.ts for what each answer does to the BullMQ job).
 *
 * Run it: `REDIS_URL=redis://127.0.0.1:6379 POOL_URL=http://127.0.0.1:8080 QUEUE=jobs
 * DISPATCH_CONCURRENCY=64 node --import tsx examples/bullmq-push/dispatcher.ts`. `POOL_TOKEN`,
 * when set, is sent as `Authorization: Bearer <token>` (the workers' `EDGEPOD_PUSH_TOKENS`).
 * `POOL_REQUEST_TIMEOUT_MS` (default 610,000) is one request's deadline: keep it above nginx's
 * `proxy_read_timeout` (`render_nginx_conf.ts --read-timeout`), which is above the longest job.
 * SIGTERM or SIGINT closes it: the jobs it holds finish first.
 *
 * @module
 */

import process from "node:process";
import { Worker } from "bullmq";
import {
  createPushProcessor,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type PushJobData,
} from "./push_processor.ts";

const redis = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const concurrency = Number(process.env.DISPATCH_CONCURRENCY ?? 64);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  throw new RangeError(`DISPATCH_CONCURRENCY must be a positive integer: received ${concurrency}`);
}
const queueName = process.env.QUEUE ?? "jobs";
const requestTimeoutMs = Number(process.env.POOL_REQUEST_TIMEOUT_MS ?? DEFAULT_REQUEST_TIMEOUT_MS);
if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1) {
  throw new RangeError(
    `POOL_REQUEST_TIMEOUT_MS must be a positive integer: received ${requestTimeoutMs}`,
  );
}
let authWarnedAt = -Infinity;
const processor = createPushProcessor({
  poolUrl: process.env.POOL_URL ?? "http://127.0.0.1:8080",
  requestTimeoutMs,
  headers: process.env.POOL_TOKEN ? { authorization: `Bearer ${process.env.POOL_TOKEN}` } : {},
  onDeferral: (status) => {
    // Jobs wait while the pool refuses the token: say so, at most once a minute.
    if ((status === 401 || status === 403) && Date.now() - authWarnedAt >= 60_000) {
      authWarnedAt = Date.now();
      console.error(
        `dispatcher: the pool answered ${status} to POOL_TOKEN; jobs are held until it accepts it`,
      );
    }
  },
});
const worker = new Worker<PushJobData>(queueName, processor, {
  connection: {
    host: redis.hostname,
    port: Number(redis.port || 6379),
    password: redis.password || undefined,
    maxRetriesPerRequest: null,
  },
  concurrency,
});
worker.on("failed", (job, error) => {
  if (job?.finishedOn) console.error(`job ${job.id} failed: ${error.message}`);
});
worker.on("error", (error) => console.error(`dispatcher: ${error.message}`));
console.log(`dispatching queue ${queueName} at concurrency ${concurrency}`);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    await worker.close();
    processor.close();
    process.exit(0);
  });
}
