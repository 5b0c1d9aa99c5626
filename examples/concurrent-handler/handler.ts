/**
 * RunPod's concurrent handler example, in TypeScript: an async generator streams batches of
 * tokens from an engine, the engine's own concurrency drives the worker's, and the final result
 * aggregates every streamed batch.
 *
 * Run it: `bun handler.ts`, `deno run --allow-env --allow-read=test_input.json handler.ts`, or
 * `node --import tsx handler.ts` (from this folder, which holds `test_input.json`).
 */

import * as runpod from "edgepod";
import { Engine } from "./engine.ts";

const engine = new Engine();

interface Input {
  prompt: string;
  max_tokens?: number;
  batch_size?: number;
}

async function* handler(job: runpod.Job<Input>, ctx: runpod.JobContext) {
  const { prompt, max_tokens = 16, batch_size = 4 } = job.input;
  for await (
    const tokens of engine.generate(prompt, {
      maxTokens: max_tokens,
      batchSize: batch_size,
      signal: ctx.signal,
    })
  ) {
    yield { tokens };
  }
}

runpod.serverless.start({
  handler,
  concurrency_modifier: (_current: number) => engine.maxConcurrency,
  return_aggregate_stream: true,
});
