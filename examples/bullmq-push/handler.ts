/**
 * A push worker for the pool example: the ledger handler behind edgepod's push intake.
 *
 * Run it (from the repository root):
 * `EDGEPOD_LEDGER=/tmp/ledger.jsonl bun examples/bullmq-push/handler.ts --push --host 127.0.0.1 --port 8001`,
 * or `deno run --allow-env --allow-net --allow-read --allow-write examples/bullmq-push/handler.ts --push ...`,
 * or `node --import tsx examples/bullmq-push/handler.ts --push ...`.
 *
 * Environment: `EDGEPOD_LEDGER` (the ledger file; none when unset), `POOL_WORK_MS` (simulated
 * work per job, default 1), `POOL_CONCURRENCY` (jobs at once, default 4), `POOL_DRAIN_MS` (how
 * long a SIGTERM waits for held jobs, default 25,000: keep it above the longest job and below
 * the orchestrator's grace period); edgepod's own `EDGEPOD_PUSH_QUEUE` sizes the wait queue.
 *
 * @module
 */

import process from "node:process";
import * as runpod from "../../adapters/auto.ts";
import { createLedgerHandler } from "./ledger_handler.ts";

const concurrency = Number(process.env.POOL_CONCURRENCY ?? 4);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  throw new RangeError(`POOL_CONCURRENCY must be a positive integer: received ${concurrency}`);
}
const drainTimeoutMs = Number(process.env.POOL_DRAIN_MS ?? 25_000);

runpod.serverless.start({
  handler: createLedgerHandler({
    ledgerPath: process.env.EDGEPOD_LEDGER || undefined,
    workMs: Number(process.env.POOL_WORK_MS ?? 1),
  }),
  concurrency_modifier: () => concurrency,
  drainTimeoutMs,
});
