/**
 * examples/adaptive-engine end to end, on the runtime running the tests: in local test mode, and
 * as a pull worker against the RunPod queue simulator with the adaptive modifier in charge.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { jobResult, runChild } from "./support/child.ts";
import { assertNothingLost, startPull, within } from "./support/pull_harness.ts";
import { repoRoot, runtimeName } from "./support/runtime.ts";

const dir = join(repoRoot, "examples/adaptive-engine");

test(`adaptive-engine example: local test mode prints its result (${runtimeName})`, async () => {
  const run = await runChild("handler.ts", [], {
    cwd: dir,
    denoFlags: ["--allow-env", "--allow-read=test_input.json"],
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.deepEqual(jobResult(run.stdout), {
    output: { completion: "Adaptive concurrency … (generated)" },
  });
});

test(`adaptive-engine example: serves the simulator's queue under the adaptive modifier (${runtimeName})`, async () => {
  await using run = await startPull({ handler: "unused", script: join(dir, "handler.ts") });
  const ids = run.sim.enqueueMany(
    Array.from({ length: 60 }, (_, i) => ({ input: { prompt: `p${i}` } })),
  );
  await within(run.sim.waitForResults(ids.length), "60 results", 60_000);
  const report = assertNothingLost(run.sim);
  // Every job got one final result; those the engine completed carry the completion.
  const completed = report.jobs.filter((j) =>
    (j.results[0]?.body as { output?: unknown })?.output !== undefined
  );
  assert.ok(completed.length > 0);
  for (const job of completed) {
    const body = job.results[0]!.body as { output: { completion: string } };
    assert.match(body.output.completion, /^p\d+ … \(generated\)$/);
  }
  assert.equal(await run.stop(), 0);
});
