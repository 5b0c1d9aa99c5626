/**
 * Deadlines along the pool for long jobs: the dispatcher's request deadline must outlast the job
 * (its `policy.executionTimeout`, and nginx's `proxy_read_timeout` by default), or the dispatcher
 * resends a job that is still running and another worker runs it again.
 *
 * The first test needs `redis-server` and `nginx` on the PATH, as the pool test does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { Queue, QueueEvents, Worker } from "bullmq";
import {
  freePort,
  REPO,
  type Service,
  startNginx,
  startPushWorker,
  startRedis,
} from "../../examples/bullmq-push/local_services.ts";
import {
  createPushProcessor,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type PushJobData,
} from "../../examples/bullmq-push/push_processor.ts";
import { renderNginxConf } from "../../examples/bullmq-push/render_nginx_conf.ts";
import { readLedger } from "../../examples/bullmq-push/run_burst.ts";
import { skipWithout } from "./_pool_services.ts";

const skip = skipWithout("redis-server", "nginx");

test(
  "a job whose policy.executionTimeout outlasts the dispatcher's request deadline is waited for, not resent",
  { skip, timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgepod-pool-timeouts-"));
    const services: Service[] = [];
    try {
      const redis = await startRedis(join(dir, "redis"));
      services.push(redis);
      const ledger = join(dir, "ledger.jsonl");
      const ports = [await freePort(), await freePort()];
      for (const [n, port] of ports.entries()) {
        const env = { POOL_WORK_MS: "2500" };
        services.push(
          await startPushWorker({
            runtime: "bun",
            port,
            ledger,
            env,
            logFile: join(dir, `${n}.log`),
          }),
        );
      }
      // Two workers, round robin: a resend would reach the one that is not running the job.
      const nginx = await startNginx(join(dir, "nginx"), ports.map((port) => `127.0.0.1:${port}`));
      services.push(nginx);
      const connection = { host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: null };
      const queue = new Queue<PushJobData>("long", { connection });
      const events = new QueueEvents("long", { connection });
      const processor = createPushProcessor({ poolUrl: nginx.url, requestTimeoutMs: 1000 });
      const dispatcher = new Worker<PushJobData>("long", processor, { connection });
      try {
        await events.waitUntilReady();
        const job = await queue.add("push", { input: {}, policy: { executionTimeout: 10_000 } }, {
          jobId: "long-1",
          attempts: 3,
          backoff: { type: "fixed", delay: 10 },
        });
        await job.waitUntilFinished(events, 30_000);
        const done = await queue.getJob("long-1");
        assert.equal(done?.attemptsStarted, 1, `attempts (${done?.stacktrace?.join("; ")})`);
        assert.equal(readLedger(ledger).runs.get("long-1"), 1, "runs of the job");
      } finally {
        await dispatcher.close();
        processor.close();
        await events.close();
        await queue.close();
      }
    } finally {
      await Promise.all(services.map((s) => s.stop(s.name === "nginx" ? "SIGQUIT" : "SIGTERM")));
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("the dispatcher's default request deadline is above the nginx template's proxy_read_timeout", () => {
  const conf = renderNginxConf({ prefix: "/tmp/x", listen: "127.0.0.1:1", servers: ["h:2"] });
  const seconds = Number(/proxy_read_timeout (\d+)s;/.exec(conf)?.[1]);
  assert.ok(seconds > 0, "the template's proxy_read_timeout is in seconds");
  assert.ok(
    DEFAULT_REQUEST_TIMEOUT_MS > seconds * 1000,
    `${DEFAULT_REQUEST_TIMEOUT_MS} ms is not above ${seconds} s`,
  );
});

test("render_nginx_conf.ts as a command sets proxy_read_timeout with --read-timeout", () => {
  const conf = execFileSync(process.execPath, [
    "--import",
    "tsx",
    join(REPO, "examples", "bullmq-push", "render_nginx_conf.ts"),
    "--prefix",
    "/tmp/pool-nginx",
    "--server",
    "127.0.0.1:8001",
    "--read-timeout",
    "3600s",
  ], { cwd: REPO, encoding: "utf8" });
  assert.match(conf, /proxy_read_timeout 3600s;/);
});
