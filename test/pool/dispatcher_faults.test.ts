/**
 * The dispatcher under faults of the pool, with real Redis, BullMQ, nginx and push workers: a
 * worker whose drain deadline cuts a job short, every worker down, nginx itself down. In each, a
 * job the pool could not finish for reasons of its own must not end as a failed BullMQ job.
 *
 * Needs `redis-server` and `nginx` on the PATH, as the pool test does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Job, Queue, Worker } from "bullmq";
import {
  freePort,
  type Service,
  startNginx,
  startPushWorker,
  waitFor,
} from "../../examples/bullmq-push/local_services.ts";
import {
  createPushProcessor,
  type PushJobData,
  type PushProcessorOptions,
} from "../../examples/bullmq-push/push_processor.ts";
import { jobIds, readLedger } from "../../examples/bullmq-push/run_burst.ts";
import { fileServices, skipWithout } from "./_pool_services.ts";

const TEST_TIMEOUT_MS = 120_000;

const skip = skipWithout("redis-server", "nginx");

const shared = fileServices("edgepod-pool-faults-", skip);

/** A dispatcher on its own queue, with its jobs' ends and deferrals observable. */
interface Dispatch {
  ids: string[];
  /** Deferrals so far (429/503, 401/403 or the pool not reachable). */
  deferrals(): number;
  /** The statuses deferrals were for (0: the pool was not reachable). */
  deferredStatuses: Set<number>;
  /** Resolves when `done(settled, deferrals)` holds, checked at each settle and deferral. */
  until(done: (settled: number, deferrals: number) => boolean): Promise<void>;
  /** BullMQ's counts, the failed jobs' reasons. */
  results(): Promise<{ counts: Record<string, number>; failed: string[] }>;
  close(): Promise<void>;
}

/** Stops nginx gracefully and a push worker by its drain. */
function stopAll(services: Service[]): Promise<number[]> {
  return Promise.all(
    services.map((service) => service.stop(service.name === "nginx" ? "SIGQUIT" : "SIGTERM")),
  );
}

async function dispatch(
  name: string,
  poolUrl: string,
  jobs: number,
  opts: { attempts: number; backoffMs?: number; processor?: Partial<PushProcessorOptions> },
): Promise<Dispatch> {
  const connection = { host: "127.0.0.1", port: shared.redis.port, maxRetriesPerRequest: null };
  const queue = new Queue<PushJobData>(name, { connection });
  let settled = 0;
  let deferred = 0;
  const deferredStatuses = new Set<number>();
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((check) => check());
  const processor = createPushProcessor({
    poolUrl,
    defaultRetryAfterMs: 200,
    ...opts.processor,
    onDeferral: (status) => (deferred++, deferredStatuses.add(status), poke()),
  });
  const worker = new Worker<PushJobData>(name, processor, { connection, concurrency: 16 });
  worker.on("completed", () => (settled++, poke()));
  worker.on("failed", (job: Job | undefined) => {
    if (job?.finishedOn) settled++, poke();
  });
  const ids = jobIds(name, jobs);
  await queue.addBulk(ids.map((id) => ({
    name: "push",
    data: { input: {} },
    opts: {
      jobId: id,
      attempts: opts.attempts,
      backoff: { type: "fixed", delay: opts.backoffMs ?? 50 },
    },
  })));
  return {
    ids,
    deferrals: () => deferred,
    deferredStatuses,
    until: (done) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (done(settled, deferred)) waiters.delete(check), resolve();
        };
        waiters.add(check);
        check();
      }),
    async results() {
      const counts = await queue.getJobCounts(
        "completed",
        "failed",
        "delayed",
        "waiting",
        "active",
      );
      const failed = (await queue.getFailed(0, -1)).map((job) => `${job.id}: ${job.failedReason}`);
      return { counts, failed };
    },
    async close() {
      await worker.close();
      processor.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    },
  };
}

/** Waits for every job of `run` to end, then checks each completed and ran exactly once. */
async function allCompletedOnce(run: Dispatch, ledger: string): Promise<void> {
  await run.until((settled) => settled === run.ids.length);
  const { counts, failed } = await run.results();
  assert.deepEqual(failed, [], "failed BullMQ jobs");
  assert.equal(counts.completed, run.ids.length);
  const { runs } = readLedger(ledger);
  assert.deepEqual(run.ids.filter((id) => runs.get(id) !== 1), [], "jobs not run exactly once");
}

test(
  "a job cut short by a push worker's drain deadline (SIGTERM during a long job) is retried, not failed",
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    const port = await freePort();
    const ledger = join(shared.dir, "drain.ledger.jsonl");
    // The job outlasts the drain deadline: the worker aborts it and answers 200 FAILED.
    const env = { POOL_WORK_MS: "3000", POOL_DRAIN_MS: "300" };
    const start = (n: number) =>
      startPushWorker({
        runtime: "bun",
        port,
        ledger,
        env,
        logFile: join(shared.dir, `drain-${n}.log`),
      });
    const services: Service[] = [await start(0)];
    const nginx = await startNginx(join(shared.dir, "drain-nginx"), [`127.0.0.1:${port}`]);
    services.push(nginx);
    // The retry waits for the worker's restart (2 s is ample; a refusal would be an attempt).
    const run = await dispatch("drain", nginx.url, 1, { attempts: 3, backoffMs: 2000 });
    try {
      await waitFor("the job started", async () => readFileSync(ledger, "utf8").length > 0);
      assert.equal(await services[0]!.stop("SIGTERM"), 1, "the drain cut a job short");
      services.push(await start(1));
      await run.until((settled) => settled === 1);
      const { counts, failed } = await run.results();
      assert.deepEqual(failed, [], "failed BullMQ jobs");
      assert.equal(counts.completed, 1);
      assert.equal(readLedger(ledger).runs.get(run.ids[0]!), 2, "run again after the cut");
    } finally {
      await run.close();
      await stopAll(services);
    }
  },
);

test(
  "a pool that refuses the dispatcher's token (rotated on one side only) holds the jobs back until it takes it",
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    const port = await freePort();
    const ledger = join(shared.dir, "auth.ledger.jsonl");
    const start = (tokens: string, n: number) =>
      startPushWorker({
        runtime: "bun",
        port,
        ledger,
        env: { EDGEPOD_PUSH_TOKENS: tokens },
        logFile: join(shared.dir, `auth-${n}.log`),
      });
    // The pool moved to a new token; this dispatcher still sends the old one.
    const services: Service[] = [await start("new-token", 0)];
    const jobs = 10;
    const run = await dispatch("auth", `http://127.0.0.1:${port}`, jobs, {
      attempts: 1, // a refusal spent as an attempt would fail every job at once
      processor: { headers: { authorization: "Bearer old-token" }, authRetryAfterMs: 100 },
    });
    try {
      await run.until((settled, deferrals) => settled === jobs || deferrals >= 3 * jobs);
      assert.deepEqual([...run.deferredStatuses], [401]);
      assert.equal((await run.results()).counts.completed, 0);
      // The operator mends it: the pool takes both tokens while the rotation lasts.
      await services.pop()!.stop("SIGTERM");
      services.push(await start("new-token,old-token", 1));
      await allCompletedOnce(run, ledger);
    } finally {
      await run.close();
      await stopAll(services);
    }
  },
);

test(
  "with every push worker down, queued jobs wait for the pool (nginx answers 503) instead of failing",
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    const ports = [await freePort(), await freePort()];
    const ledger = join(shared.dir, "down.ledger.jsonl");
    const nginx = await startNginx(
      join(shared.dir, "down-nginx"),
      ports.map((p) => `127.0.0.1:${p}`),
    );
    const jobs = 20;
    const run = await dispatch("down", nginx.url, jobs, { attempts: 2 });
    const services: Service[] = [nginx];
    try {
      // Long enough for each job to have used up its 2 attempts, were a refusal an attempt.
      await run.until((settled, deferrals) => settled === jobs || deferrals >= 3 * jobs);
      services.push(
        await startPushWorker({
          runtime: "bun",
          port: ports[0]!,
          ledger,
          logFile: join(shared.dir, "down.log"),
        }),
      );
      await allCompletedOnce(run, ledger);
    } finally {
      await run.close();
      await stopAll(services);
    }
  },
);

test(
  "with nginx itself down (connection refused), queued jobs wait for it instead of failing",
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    const port = await freePort();
    const nginxPort = await freePort();
    const ledger = join(shared.dir, "nginx-down.ledger.jsonl");
    const jobs = 20;
    const run = await dispatch("nginxdown", `http://127.0.0.1:${nginxPort}`, jobs, { attempts: 2 });
    const services: Service[] = [];
    try {
      await run.until((settled, deferrals) => settled === jobs || deferrals >= 3 * jobs);
      services.push(
        await startPushWorker({
          runtime: "bun",
          port,
          ledger,
          logFile: join(shared.dir, "nginx-down.log"),
        }),
        await startNginx(join(shared.dir, "nginx-down-nginx"), [`127.0.0.1:${port}`], {
          port: nginxPort,
        }),
      );
      await run.until((settled) => settled === jobs);
      const { counts, failed } = await run.results();
      assert.deepEqual(failed, [], "failed BullMQ jobs");
      assert.equal(counts.completed, jobs);
      const ran = readFileSync(ledger, "utf8").trim().split("\n").length;
      assert.equal(ran, jobs, "each job ran once");
    } finally {
      await run.close();
      await stopAll(services);
    }
  },
);
