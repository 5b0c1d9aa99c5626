/**
 * A streaming worker to deploy to RunPod: one file, run unchanged by the three Dockerfiles here
 * (Node runs it compiled, Deno as TypeScript, Bun as a single compiled binary).
 *
 * Try it locally: `bun handler.ts`, `deno run --allow-env --allow-read=test_input.json
 * handler.ts`, or `npx tsc && node handler.js`; each prints `Job result: ...` for test_input.json.
 */

import * as runpod from "edgepod";

async function* handler(
  job: runpod.Job<{ prompt: string }>,
  ctx: runpod.JobContext,
): AsyncGenerator<string> {
  for (const word of job.input.prompt.split(" ")) {
    ctx.signal.throwIfAborted(); // stopped, timed out or shutting down
    yield word; // streamed to RunPod as it is produced
  }
}

// Jobs run at once on one worker: MAX_CONCURRENCY from the endpoint's environment, else 4.
const runtime = await runpod.loadRuntime();
const concurrency = Number(runtime.env("MAX_CONCURRENCY") ?? 4);

runpod.serverless.start({
  handler,
  concurrency_modifier: () => concurrency,
  return_aggregate_stream: true,
});
