/**
 * The pull worker against the queue simulator: every handler kind, batch take, stream and
 * aggregate. The worker is a real child process of the runtime running these tests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertNothingLost, finals, startPull } from "./support/pull_harness.ts";

test("pull: a plain handler's result is posted to job-done with isStream=false", async () => {
  await using run = await startPull({ handler: "echo" });
  const id = run.sim.enqueue({ input: { hello: "world" }, extra: 1 });
  await run.sim.waitForResults(1);
  assert.deepEqual(finals(run.sim, id), [{
    body: { output: { hello: "world" } },
    isStream: false,
  }]);
  assert.equal(await run.stop(), 0);
  assertNothingLost(run.sim);
});

test("pull: every handler kind is run and reported once", async () => {
  await using run = await startPull({
    handler: "asyncEcho",
    config: { return_aggregate_stream: true },
  });
  const id = run.sim.enqueue({ input: 7 });
  await run.sim.waitForResults(1);
  assert.deepEqual(finals(run.sim, id), [{ body: { output: 7 }, isStream: false }]);
  assert.equal(await run.stop(), 0);
  for (
    const [handler, output] of [
      ["syncGenerator", ["s0", "s1"]],
      ["asyncGenerator", ["a0", "a1"]],
      ["asyncIterable", ["i0", "i1"]],
      ["readableStream", [{ part: 1 }, { part: 2 }]],
      ["asyncReturnsGenerator", ["g0", "g1"]],
    ] as const
  ) {
    await using each = await startPull({ handler, config: { return_aggregate_stream: true } });
    const jobId = each.sim.enqueue({ input: { n: 2 } });
    await each.sim.waitForResults(1);
    assert.deepEqual(finals(each.sim, jobId), [{ body: { output }, isStream: true }], handler);
    const record = each.sim.report().jobs.find((j) => j.id === jobId)!;
    assert.deepEqual(record.chunks, output, `${handler} chunks`);
    assert.equal(await each.stop(), 0);
    assertNothingLost(each.sim);
  }
});

test("pull: without aggregation a streaming job's final output is [] and chunks go to job-stream", async () => {
  await using run = await startPull({ handler: "asyncGenerator" });
  const id = run.sim.enqueue({ input: { n: 3 } });
  await run.sim.waitForResults(1);
  assert.deepEqual(finals(run.sim, id), [{ body: { output: [] }, isStream: true }]);
  assert.deepEqual(run.sim.report().jobs[0]!.chunks, ["a0", "a1", "a2"]);
  await run.stop();
  assertNothingLost(run.sim);
});

test("pull: with free slots the worker takes a batch of exactly that many jobs", async () => {
  await using run = await startPull({
    handler: "asyncEcho",
    config: { maxConcurrency: 3 },
    env: { FIXTURE_CONCURRENCY: "3" },
  });
  const ids = run.sim.enqueueMany(Array.from({ length: 9 }, (_, i) => ({ input: i })));
  await run.sim.waitForResults(9);
  const batches = run.sim.requests.filter((r) => r.route === "job-take-batch");
  assert.ok(batches.length > 0, "no job-take-batch request");
  for (const request of batches) {
    assert.ok(Number(request.query.batch_size) <= 3, `batch_size ${request.query.batch_size}`);
  }
  assert.equal(batches[0]!.query.batch_size, "3");
  for (const id of ids) assert.equal(finals(run.sim, id).length, 1);
  assert.equal(await run.stop(), 0);
  assertNothingLost(run.sim);
});

test("pull: requests carry the raw API key, and X-Request-ID only on that job's posts", async () => {
  await using run = await startPull({ handler: "echo" });
  run.sim.enqueue({ id: "job-a", input: 1 });
  run.sim.enqueue({ id: "job-b", input: 2 });
  await run.sim.waitForResults(2);
  await run.stop();
  for (const request of run.sim.requests) {
    assert.equal(request.headers.authorization, "test-key", `${request.route} authorization`);
    if (request.route === "job-done") {
      assert.equal(request.headers["x-request-id"], request.jobId);
      assert.equal(request.headers["content-type"], "application/x-www-form-urlencoded");
      assert.equal(request.headers.charset, "utf-8");
    } else if (request.route !== "job-stream") {
      assert.equal(
        request.headers["x-request-id"],
        undefined,
        `${request.route} leaked X-Request-ID`,
      );
    }
  }
  assert.equal(run.sim.counters.pollsWithRequestId, 0);
});
