/**
 * The pool test (`npm run test:pool`): real Redis, real BullMQ, the example dispatcher, real
 * nginx and real edgepod push workers on Bun and Deno, all on loopback, started and stopped
 * here with temporary config and data. Each scenario enqueues 10,000 jobs at once with the
 * dispatcher's concurrency (64) far above the pool's joint capacity (2 workers × (4 running + 4
 * waiting)), so the workers answer 429 throughout. What ran is read from the handler's own ledger.
 *
 * Needs `redis-server` and `nginx` on the PATH (Debian packages; `.ci/run` installs them).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import {
  freePort,
  type NginxService,
  type PoolRuntime,
  type PushWorkerService,
  startNginx,
  startPushWorker,
} from "../../examples/bullmq-push/local_services.ts";
import {
  type BurstResult,
  readLedger,
  runBurst,
  upstreamStatuses,
} from "../../examples/bullmq-push/run_burst.ts";
import { fileServices, skipWithout } from "./_pool_services.ts";

const JOBS = 10_000;
const CONCURRENCY = 64;
// A scenario takes 30-40 s on a busy 2-core machine; past this something is stuck.
const TEST_TIMEOUT_MS = 300_000;
const WORKER_ENV = { POOL_CONCURRENCY: "4", EDGEPOD_PUSH_QUEUE: "4", POOL_WORK_MS: "5" };

const skip = skipWithout("redis-server", "nginx");

const services = fileServices("edgepod-pool-", skip);

/** A pool of its own for one scenario: Bun and Deno workers behind nginx, one ledger. */
interface Pool {
  workers: Record<"bun" | "deno", PushWorkerService>;
  nginx: NginxService;
  ledger: string;
  restart(runtime: "bun" | "deno"): Promise<PushWorkerService>;
  close(): Promise<void>;
}

async function startPool(name: string): Promise<Pool> {
  const base = join(services.dir, name);
  const ledger = join(services.dir, `${name}.ledger.jsonl`);
  const ports = { bun: await freePort(), deno: await freePort() };
  let starts = 0;
  const start = (runtime: PoolRuntime & ("bun" | "deno")) =>
    startPushWorker({
      runtime,
      port: ports[runtime],
      ledger,
      env: WORKER_ENV,
      logFile: `${base}-${runtime}-${starts++}.log`,
    });
  const workers = { bun: await start("bun"), deno: await start("deno") };
  const nginx = await startNginx(join(services.dir, `${name}-nginx`), [
    `127.0.0.1:${ports.bun}`,
    `127.0.0.1:${ports.deno}`,
  ]);
  return {
    workers,
    nginx,
    ledger,
    async restart(runtime) {
      workers[runtime] = await start(runtime);
      return workers[runtime];
    },
    async close() {
      await Promise.all([workers.bun.stop(), workers.deno.stop(), nginx.stop("SIGQUIT")]);
    },
  };
}

/** A worker's 429s, from its `/metrics`: `edgepod_rejected_total{reason="busy"}`. */
async function busyFromMetrics(worker: PushWorkerService): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`)).text();
  const match = /^edgepod_rejected_total\{reason="busy"\}\s+(\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

function report(name: string, result: BurstResult, extra: Record<string, unknown>): void {
  const line = {
    scenario: name,
    jobs: result.ids.length,
    seconds: +(result.elapsedMs / 1000).toFixed(2),
    jobsPerSecond: Math.round(result.ids.length / (result.elapsedMs / 1000)),
    dispatcherDeferrals: result.deferrals,
    ...extra,
  };
  console.log(`pool ${JSON.stringify(line)}`);
}

function assertAllCompletedOnce(result: BurstResult, runs: Map<string, number>, failing: number) {
  assert.equal(result.counts.completed, result.ids.length - failing, "BullMQ completed count");
  assert.equal(result.counts.failed, failing, "BullMQ failed count");
  const notRun = result.ids.filter((id) => !runs.has(id));
  const twice = result.ids.filter((id) => (runs.get(id) ?? 0) > 1);
  assert.deepEqual(notRun, [], "jobs the handler never ran");
  assert.deepEqual(twice, [], "jobs the handler ran more than once");
  assert.equal(runs.size, result.ids.length, "the ledger names only this burst's jobs");
}

test(
  "10,000 jobs through BullMQ, nginx and Bun + Deno push workers: each completes exactly once, 429s visible",
  {
    skip,
    timeout: TEST_TIMEOUT_MS,
  },
  async () => {
    const pool = await startPool("burst");
    try {
      const failing = 10;
      const result = await runBurst({
        redisPort: services.redis.port,
        queueName: "burst",
        poolUrl: pool.nginx.url,
        jobs: JOBS,
        failing,
        concurrency: CONCURRENCY,
      });
      const { runs, lines } = readLedger(pool.ledger);
      assertAllCompletedOnce(result, runs, failing);
      // A FAILED result is a failed BullMQ job at its first attempt: no retry loop.
      assert.equal(result.failed.size, failing);
      for (const [id, { reason, attemptsMade }] of result.failed) {
        assert.match(reason, /^FAILED: /, `failedReason of ${id}`);
        assert.equal(attemptsMade, 1, `attempts of the failed job ${id}`);
      }
      // The BullMQ job holds the worker's answer, with the push job id it was sent under.
      for (const { id, returnvalue } of result.sample) {
        const answer = returnvalue as { id: string; status: string; output: { jobId: string } };
        assert.equal(answer.id, id);
        assert.equal(answer.status, "COMPLETED");
        assert.equal(answer.output.jobId, id);
      }
      // Both runtimes took part.
      assert.deepEqual([...new Set(lines.map((l) => l.runtime))].sort(), ["bun", "deno"]);
      const statuses = upstreamStatuses(pool.nginx.accessLog);
      const metrics429 = (await busyFromMetrics(pool.workers.bun)) +
        (await busyFromMetrics(pool.workers.deno));
      report("burst", result, {
        upstream429: statuses.get("429") ?? 0,
        workerMetricsBusy: metrics429,
        perRuntime: Object.fromEntries(
          ["bun", "deno"].map((r) => [r, lines.filter((l) => l.runtime === r).length]),
        ),
      });
      assert.ok((statuses.get("429") ?? 0) > 0, "nginx logged 429s from the workers");
      assert.ok(metrics429 > 0, "the workers' /metrics count their 429s");
    } finally {
      await pool.close();
    }
  },
);

test(
  "a rolling restart during a 10,000-job burst (SIGTERM Bun, start it, then Deno): nothing lost, nothing run twice",
  {
    skip,
    timeout: TEST_TIMEOUT_MS,
  },
  async () => {
    const pool = await startPool("rolling");
    const exits: Record<string, number> = {};
    let settledAtEnd = 0;
    try {
      const result = await runBurst({
        redisPort: services.redis.port,
        queueName: "rolling",
        poolUrl: pool.nginx.url,
        jobs: JOBS,
        concurrency: CONCURRENCY,
        during: async (progress) => {
          for (const [runtime, at] of [["bun", 0.1], ["deno", 0.3]] as const) {
            await progress.settled(Math.floor(JOBS * at));
            exits[runtime] = await pool.workers[runtime].stop("SIGTERM");
            await pool.restart(runtime);
          }
          settledAtEnd = progress.count();
        },
      });
      const { runs } = readLedger(pool.ledger);
      const statuses = upstreamStatuses(pool.nginx.accessLog);
      report("rolling restart", result, {
        upstream503: statuses.get("503") ?? 0,
        upstream429: statuses.get("429") ?? 0,
        settledWhenBothRestarted: settledAtEnd,
      });
      assert.deepEqual(exits, { bun: 0, deno: 0 }, "a drained worker exits 0");
      assert.ok(settledAtEnd < JOBS, "both restarts happened during the burst");
      assertAllCompletedOnce(result, runs, 0);
    } finally {
      await pool.close();
    }
  },
);

test(
  "a worker SIGKILLed during a 10,000-job burst: every job completes at least once (duplicates reported)",
  {
    skip,
    timeout: TEST_TIMEOUT_MS,
  },
  async () => {
    const pool = await startPool("kill");
    let killedAt = 0;
    let runningAtKill = NaN;
    try {
      const result = await runBurst({
        redisPort: services.redis.port,
        queueName: "kill",
        poolUrl: pool.nginx.url,
        jobs: JOBS,
        concurrency: CONCURRENCY,
        during: async (progress) => {
          await progress.settled(Math.floor(JOBS * 0.2));
          killedAt = progress.count();
          const metrics = await (await fetch(`${pool.workers.bun.url}/metrics`)).text();
          runningAtKill = Number(/^edgepod_jobs_running (\d+)/m.exec(metrics)?.[1] ?? NaN);
          assert.equal(await pool.workers.bun.stop("SIGKILL"), 128 + 9);
          await pool.restart("bun");
        },
      });
      const { runs } = readLedger(pool.ledger);
      const twice = result.ids.filter((id) => (runs.get(id) ?? 0) > 1);
      const statuses = upstreamStatuses(pool.nginx.accessLog);
      report("SIGKILL", result, {
        killedAfterSettled: killedAt,
        runningJustBeforeKill: runningAtKill,
        ranTwice: twice.length,
        ranTwiceIds: twice.slice(0, 20),
        upstream502: statuses.get("502") ?? 0,
      });
      assert.ok(killedAt < JOBS, "the kill happened during the burst");
      assert.equal(result.counts.completed, JOBS, "BullMQ completed count");
      assert.deepEqual(result.ids.filter((id) => !runs.has(id)), [], "jobs the handler never ran");
      // At-least-once: a job the killed worker had started (its ledger line written) but not
      // answered is run again elsewhere: its running jobs, and any that had just finished with the
      // answer not yet out. Both are requests it held: at most its limit plus its wait queue.
      const held = Number(WORKER_ENV.POOL_CONCURRENCY) + Number(WORKER_ENV.EDGEPOD_PUSH_QUEUE);
      assert.ok(
        twice.length <= held,
        `at most the killed worker's held jobs ran twice: ${twice.length}`,
      );
      assert.ok(Math.max(...runs.values()) <= 2, "no job ran three times");
    } finally {
      await pool.close();
    }
  },
);
