/**
 * Push job ids from BullMQ's own job ids, with real Redis, BullMQ, nginx and a push worker: two
 * queues and a queue that lost its data all number their jobs `"1"`, `"2"`, ... again, and none of
 * those jobs may be answered with another job's stored result.
 *
 * Needs `redis-server` and `nginx` on the PATH, as the pool test does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Queue, QueueEvents, Worker } from "bullmq";
import {
  freePort,
  type NginxService,
  type PushWorkerService,
  startNginx,
  startPushWorker,
} from "../../examples/bullmq-push/local_services.ts";
import {
  createPushProcessor,
  type PushAnswer,
  type PushJobData,
  pushJobId,
} from "../../examples/bullmq-push/push_processor.ts";
import { readLedger } from "../../examples/bullmq-push/run_burst.ts";
import { fileServices, skipWithout } from "./_pool_services.ts";

const skip = skipWithout("redis-server", "nginx");

let worker: PushWorkerService | undefined;
let nginx: NginxService | undefined;

// Registered first, so it runs before the file's Redis is stopped and its folder removed.
after(async () => {
  await Promise.all([worker?.stop(), nginx?.stop("SIGQUIT")]);
});

const services = fileServices("edgepod-pool-ids-", skip);

before(async () => {
  if (skip) return;
  const port = await freePort();
  const ledger = join(services.dir, "ledger.jsonl");
  const logFile = join(services.dir, "w.log");
  worker = await startPushWorker({ runtime: "bun", port, ledger, logFile });
  nginx = await startNginx(join(services.dir, "nginx"), [`127.0.0.1:${port}`]);
});

/** Adds one job with BullMQ's own id to `name` and dispatches it to the pool; its answer. */
async function runOne(
  name: string,
  obliterate: boolean,
): Promise<{ id: string; answer: PushAnswer }> {
  const connection = { host: "127.0.0.1", port: services.redis.port, maxRetriesPerRequest: null };
  const queue = new Queue<PushJobData>(name, { connection });
  const events = new QueueEvents(name, { connection });
  const processor = createPushProcessor({ poolUrl: nginx!.url });
  const dispatcher = new Worker<PushJobData>(name, processor, { connection });
  try {
    await events.waitUntilReady();
    const job = await queue.add("push", { input: {} });
    const answer = await job.waitUntilFinished(events, 30_000) as PushAnswer;
    return { id: job.id!, answer };
  } finally {
    await dispatcher.close();
    processor.close();
    await events.close();
    // Losing the queue's data (a Redis restart without persistence) restarts its id counter.
    if (obliterate) await queue.obliterate({ force: true });
    await queue.close();
  }
}

test(
  "jobs with BullMQ's own ids from two queues, and from a queue whose data was lost, each run once",
  { skip, timeout: 60_000 },
  async () => {
    const first = await runOne("ids-a", true);
    const other = await runOne("ids-b", false);
    const again = await runOne("ids-a", false); // "1" again, after the data loss
    assert.deepEqual([first.id, other.id, again.id], ["1", "1", "1"], "BullMQ's ids repeat");
    const { lines } = readLedger(join(services.dir, "ledger.jsonl"));
    assert.equal(lines.length, 3, "the handler ran each job (none got another's stored result)");
    const pushIds = [first, other, again].map(({ answer }) => answer.id);
    assert.equal(new Set(pushIds).size, 3, `distinct push ids: ${pushIds.join(", ")}`);
    assert.deepEqual(lines.map((line) => line.jobId), pushIds);
  },
);

test("a custom BullMQ job id is the push job id as it is; BullMQ's own ids get queue and time", () => {
  assert.equal(pushJobId({ id: "order-7", queueName: "jobs", timestamp: 5 }), "order-7");
  assert.equal(pushJobId({ id: "12", queueName: "jobs", timestamp: 5 }), "jobs:12:5");
});
