/**
 * A handler on an inference engine whose best concurrency the worker is not told: the adaptive
 * modifier finds it from the latencies and failures the worker observes, and follows it when it
 * moves. The engine is edgepod's simulated one (`bench/simulated_engine.ts`): up to 8 requests in
 * its batch at once, each about 50 ms; above 8, requests wait in its queue (latency grows, no
 * throughput is gained); above 16 held at once it fails them as out of memory.
 *
 * Local test mode (one job, from `test_input.json`), from this folder: `bun handler.ts`,
 * `deno run --allow-env --allow-read=test_input.json handler.ts`, or `node --import tsx handler.ts`.
 *
 * Against the local RunPod queue: `npm run simulator -- --jobs 500 --input '{"prompt": "hi"}'`,
 * paste the `export RUNPOD_...` lines it prints into another shell, and run the same command
 * there; the simulator prints its ledger on Ctrl-C.
 */

import * as runpod from "edgepod";
import { SimulatedEngine } from "../../bench/simulated_engine.ts";

const engine = new SimulatedEngine({ knee: 8, memoryLimit: 16, baseLatencyMs: 50 });

interface Input {
  prompt: string;
}

async function handler(job: runpod.Job<Input>, ctx: runpod.JobContext) {
  // Throws EngineOutOfMemoryError when the engine is full: the job is reported FAILED, and the
  // adaptive modifier reads the failures as a reason to lower the limit.
  await engine.generate({ signal: ctx.signal });
  return { completion: `${job.input.prompt} … (generated)` };
}

runpod.serverless.start({
  handler,
  // Starts at 4, measures the engine's latency floor, then grows while latency stays near it.
  concurrency_modifier: runpod.adaptiveConcurrency({ min: 1, max: 64 }),
});
