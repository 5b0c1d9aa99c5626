/**
 * CPU per request of push mode's `POST /jobs` against a bare Hono route and the same-work route
 * (`_same_work_app.ts`), in-process (the apps' `fetch` called in a loop, 32 requests in flight,
 * no HTTP), as BENCHMARKS.md's "Where the sync gap comes from" quotes it. Not part of
 * `npm run bench`.
 *
 * Run: `bun bench/push_in_process.ts`, `deno run -A bench/push_in_process.ts`,
 * `node --import tsx bench/push_in_process.ts`. `BENCH_REQUESTS` per round (default 50000),
 * `BENCH_ROUNDS` (default 6; the three sides alternate, the least CPU of each is kept). Node's
 * in-process figures include undici's `Request` and `Response`, which its HTTP server replaces
 * with lighter objects, so they overstate both sides there.
 *
 * @module
 */

import process from "node:process";
import { Hono } from "hono";
import { parseConfig } from "../src/config.ts";
import { fetchClient } from "../src/http_client.ts";
import { pushAppFor } from "../src/push/create_push_app.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import { JobWorker } from "../src/worker/job_worker.ts";
import { sameWorkApp } from "./_same_work_app.ts";

const requests = Number(process.env.BENCH_REQUESTS ?? 50_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const name = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

// Push mode as `--push` serves it: started worker, INFO logging (written nowhere here).
const logger = new RunPodLogger({ level: "INFO", write: () => {} });
const config = parseConfig({
  handler: (job: { input: unknown }) => job.input,
  concurrencyModifier: () => 64,
  queueSize: 1024,
});
const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: name, version: "0" };
const worker = new JobWorker({ config, logger, info, queueLimit: 1024 });
await worker.start();
const push = pushAppFor({ worker, config, logger, http: fetchClient, auth: {}, started: true });

const bare = new Hono();
let n = 0;
bare.post("/jobs", async (c) => {
  const body = await c.req.json<{ input: unknown }>();
  return c.json({
    id: `bare-${n++}`,
    status: "COMPLETED",
    delayTime: 0,
    executionTime: 0,
    output: body.input,
  });
});

const sameWork = sameWorkApp((job) => job.input, logger);

const body = '{"input":{"n":1}}';
const request = () =>
  new Request("http://worker/jobs", {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    body,
  });

/** µs of CPU per request, 32 at a time. */
async function cpuPerRequest(fetch: (request: Request) => Response | Promise<Response>) {
  const start = process.cpuUsage();
  for (let i = 0; i < requests; i += 32) {
    await Promise.all(Array.from({ length: 32 }, async () => {
      const response = await fetch(request());
      if (response.status !== 200) throw new Error(`answered ${response.status}`);
      await response.text();
    }));
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / requests;
}

let bestBare = Infinity;
let bestSame = Infinity;
let bestPush = Infinity;
for (let round = 0; round < rounds; round++) {
  bestBare = Math.min(bestBare, await cpuPerRequest((r) => bare.fetch(r)));
  bestSame = Math.min(bestSame, await cpuPerRequest((r) => sameWork.fetch(r)));
  bestPush = Math.min(bestPush, await cpuPerRequest((r) => push.fetch(r)));
}
console.log(
  `${name}\tbare ${bestBare.toFixed(1)} µs/request\tsame work ${bestSame.toFixed(1)}\t` +
    `push ${bestPush.toFixed(1)} µs/request\t` +
    `extra ${(bestPush - bestBare).toFixed(1)} µs\t(least of ${rounds} rounds of ${requests})`,
);
worker.stop("bench over");
process.exit(0);
