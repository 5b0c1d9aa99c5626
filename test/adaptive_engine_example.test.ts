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

const fixture = join(repoRoot, "test/fixtures/adaptive_worker.ts");

test(`pull worker: the modifier's second argument is what the worker observed (${runtimeName})`, async () => {
  await using run = await startPull({
    handler: "unused",
    script: fixture,
    env: { ADAPTIVE_FIXTURE: "observe" },
  });
  run.sim.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ input: i })));
  const line = await within(run.child.waitForLine(/^OBSERVED /), "an observation", 30_000);
  const observed = JSON.parse(line.slice("OBSERVED ".length));
  assert.deepEqual(Object.keys(observed).sort(), [
    "completed",
    "failed",
    "intervalMs",
    "latenciesMs",
    "limit",
    "running",
    "waiting",
  ]);
  assert.ok(observed.completed >= 1 && observed.failed === 0);
  assert.equal(observed.latenciesMs.length, observed.completed);
  for (const latency of observed.latenciesMs) assert.ok(latency >= 0 && Number.isFinite(latency));
  assert.equal(observed.limit, 2);
  assert.ok(observed.running <= 2 && observed.intervalMs >= 0);
  await run.sim.waitForResults(6);
  assert.equal(await run.stop(), 0);
});

test(`pull worker: adaptiveConcurrency() raises the limit while the engine has room (${runtimeName})`, async () => {
  await using run = await startPull({
    handler: "unused",
    script: fixture,
    env: { ADAPTIVE_FIXTURE: "adaptive" },
  });
  run.sim.enqueueMany(Array.from({ length: 2000 }, (_, i) => ({ input: i })));
  // It starts at 4 and measures the floor there, then grows: well below the knee (16), latency
  // stays at the floor whatever the machine's load.
  const line = await within(
    run.child.waitForLine(/^LIMIT ([6-9]|\d\d)/),
    "a limit above 5",
    60_000,
  );
  const state = JSON.parse(line.slice(line.indexOf("{")));
  assert.ok(state.floorMs >= 90, `floor ${state.floorMs}`); // the engine's 100 ms ± 20 %
  assert.equal(state.probes >= 1, true);
  assert.equal(await run.stop(), 0);
});
