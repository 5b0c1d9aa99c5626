/**
 * The pull worker when RunPod stops (job-stop) a job whose posts are waiting out an outage: a
 * stopped job gets no result (protocol §4.5), so the spooled result or stream chunk is dropped,
 * never delivered once the route answers again, and its slot is freed at once. The worker is a
 * real child process; the simulator scripts the outage and the stop.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  attempts,
  failedChunks,
  FAST,
  finals,
  line,
  lines,
  OPEN_ENDED,
  startPull,
  within,
} from "./support/pull_harness.ts";

test("pull outage: a job stopped while its result waits out a job-done outage gets no result, and its slot is freed at once", async () => {
  await using run = await startPull({
    handler: "echo",
    config: FAST,
    env: { FIXTURE_CONCURRENCY: "1" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const stopped = sim.enqueue({ id: "stopped", input: 1 });
  await sim.waitFor(() => attempts(sim, stopped) >= 2);
  const next = sim.enqueue({ id: "next", input: 2 });
  sim.stop(stopped);
  await line(run, /stopped \| Stopping job\./);
  // The one slot is free again while job-done is still down: the next job is taken.
  await sim.waitForTaken(2, { timeoutMs: 10_000 });
  await sim.waitFor(() => attempts(sim, next) >= 2);
  sim.clearFaults("job-done"); // the outage ends
  await sim.waitForResults(1);
  assert.equal(await within(run.stop(), "the worker to exit"), 0);
  assert.deepEqual(finals(sim, stopped), [], "a stopped job's spooled result was delivered");
  assert.deepEqual(finals(sim, next), [{ body: { output: 2 }, isStream: false }]);
  const report = sim.report();
  assert.deepEqual(report.lost, [], "a stopped job is not lost: it is owed no result");
  assert.deepEqual(report.duplicated, []);
  assert.equal(lines(run, /Worker stopped cleanly\./).length, 1, run.child.stdout);
  assert.deepEqual(lines(run, /not delivered/), []);
  // Said as what it is, not as a delivery failure.
  assert.equal(lines(run, /stopped \| The result was dropped: RunPod stopped the job\./).length, 1);
  assert.deepEqual(lines(run, /stopped \| Failed to return job results/), []);
});

test("pull outage: a streaming job stopped during a job-stream outage stops retrying its chunk; another job's chunks all get through", async () => {
  await using run = await startPull({
    handler: "progressStream",
    config: { ...FAST, streamBufferSize: 2 },
    env: { FIXTURE_CONCURRENCY: "2" },
    setup: (sim) => sim.fault("job-stream", { status: 502 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const stopped = sim.enqueue({ id: "stopped-stream", input: { n: 50 } });
  await sim.waitFor(() => failedChunks(sim, stopped) >= 2);
  sim.stop(stopped);
  await line(run, /stopped-stream \| Stopping job\./);
  const atStop = failedChunks(sim, stopped);
  // Another job's chunk retries through the same outage; the stopped job's no longer do (one
  // attempt may have been in flight at the stop).
  const other = sim.enqueue({ id: "other", input: { n: 3 } });
  await sim.waitFor(() => failedChunks(sim, other) >= atStop + 8);
  assert.ok(
    failedChunks(sim, stopped) <= atStop + 1,
    `the stopped job's chunk kept being retried: ${failedChunks(sim, stopped)} after ${atStop}`,
  );
  sim.clearFaults("job-stream");
  await sim.waitForResults(1);
  assert.equal(await within(run.stop(), "the worker to exit"), 0);
  assert.deepEqual(sim.ledger.get(stopped)?.chunks ?? [], [], "a stopped job's chunk arrived");
  assert.deepEqual(finals(sim, stopped), []);
  assert.deepEqual(sim.ledger.get(other)!.chunks, ["c0", "c1", "c2"]);
  assert.equal(finals(sim, other).length, 1);
  assert.deepEqual(sim.report().chunksAfterFinal, []);
  assert.equal(lines(run, /Worker stopped cleanly\./).length, 1, run.child.stdout);
  assert.deepEqual(lines(run, /stopped-stream \| Failed to (stream|return)/), [], run.child.stdout);
});

test("pull outage: a job stopped during a job-done outage spanning SIGTERM is not counted as an undelivered result", async () => {
  await using run = await startPull({
    handler: "echo",
    config: { ...FAST, drainTimeoutMs: 0 },
    env: { FIXTURE_CONCURRENCY: "1" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const stopped = sim.enqueue({ id: "stopped-late", input: 1 });
  await sim.waitFor(() => attempts(sim, stopped) >= 2);
  sim.stop(stopped);
  await line(run, /stopped-late \| Stopping job\./);
  // The outage outlasts the drain: the stopped job was never owed a result, so exit 0.
  assert.equal(await within(run.stop(), "the worker to exit"), 0);
  assert.deepEqual(finals(sim, stopped), []);
  assert.deepEqual(lines(run, /not delivered/), [], run.child.stdout);
  assert.equal(lines(run, /Worker stopped cleanly\./).length, 1);
});
