/**
 * The pull worker against a misbehaving queue: whatever the server answers, the worker never
 * crashes and every job it took gets exactly one final result. The worker is a real child process
 * of the runtime running these tests; the RunPod queue simulator scripts the faults.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  assertNothingLost,
  assertNothingLostWithRaw,
  finals,
  holdRequests,
  line,
  lines,
  recordEvents,
  startPull,
  takes,
} from "./support/pull_harness.ts";

/** The `error` string of a job's only final result. */
function failure(run: { sim: Parameters<typeof finals>[0] }, id: string): string {
  const results = finals(run.sim, id);
  assert.equal(results.length, 1, `${id}: one final result`);
  const { error } = results[0]!.body as { error?: unknown };
  assert.equal(typeof error, "string", `${id}: a FAILED result with a string error`);
  return error as string;
}

test("pull faults: job-take answering 500 is retried with back-off, then jobs are processed", async () => {
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      sim.fault("job-take", { status: 500, body: "upstream broke" }, { times: 4 });
      sim.enqueue({ id: "after-500s", input: "still here" });
    },
  });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  // One request per failure, no retry storm, and the fifth take got the job.
  assert.deepEqual(takes(run.sim).slice(0, 5).map((r) => r.status), [500, 500, 500, 500, 200]);
  assert.equal(run.sim.ledger.get("after-500s")!.taken, 1);
  const failed = lines(run, /Failed to get job\. \| Error Type: /);
  assert.equal(failed.length, 4, failed.join("\n"));
  // Each failure announced a back-off before the next request.
  const waits = failed.map((l) => Number(/retrying in (\d+) ms/.exec(l)?.[1]));
  for (const [i, l] of failed.entries()) {
    assert.match(l, /HTTP 500/);
    assert.ok(Number.isFinite(waits[i]), `no back-off announced: ${l}`);
  }
  assert.ok(waits.reduce((a, b) => a + b, 0) > 0, `back-off waits ${waits.join(", ")}`);
  assert.deepEqual(finals(run.sim, "after-500s"), [{
    body: { output: "still here" },
    isStream: false,
  }]);
  assertNothingLost(run.sim);
});

test("pull faults: job-take answering 429 with Retry-After: 0 is waited out and the worker goes on", async () => {
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      sim.fault("job-take", { status: 429, headers: { "Retry-After": "0" } }, { times: 3 });
      sim.enqueue({ id: "after-429s", input: 429 });
    },
  });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  assert.deepEqual(takes(run.sim).slice(0, 4).map((r) => r.status), [429, 429, 429, 200]);
  const warnings = lines(run, /^WARN.*429/);
  assert.equal(warnings.length, 3, run.child.stdout);
  assert.deepEqual(finals(run.sim, "after-429s"), [{ body: { output: 429 }, isStream: false }]);
  assertNothingLost(run.sim);
});

test("pull faults: job-take 400, 204, empty and non-JSON answers mean no job and the worker keeps serving", async () => {
  const answers = [
    { status: 400, body: "FlashBoot: no job for you" },
    { status: 204 },
    { status: 200, body: "" },
    { body: "", contentType: "application/json" },
    { body: "<html>busy</html>", contentType: "text/html" },
    { body: "{not json", contentType: "application/json" },
  ];
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      for (const answer of answers) sim.fault("job-take", answer);
    },
  });
  await run.sim.waitFor(() =>
    takes(run.sim).filter((r) => r.fault === "respond" && r.status !== 0).length === answers.length
  );
  const ids = run.sim.enqueueMany([{ input: "a" }, { input: "b" }]);
  await run.sim.waitForResults(2);
  assert.equal(await run.stop(), 0);
  assert.deepEqual(finals(run.sim, ids[0]!), [{ body: { output: "a" }, isStream: false }]);
  assert.deepEqual(finals(run.sim, ids[1]!), [{ body: { output: "b" }, isStream: false }]);
  assert.deepEqual(lines(run, /Failed to get job/), [], "no-job answers are not errors");
  assertNothingLost(run.sim);
});

test("pull faults: a dropped job-take connection consumes no job and later jobs are processed", async () => {
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      sim.fault("job-take", { drop: true }, { times: 2 });
      sim.enqueue({ id: "survives-drops", input: 1 });
    },
  });
  await run.sim.waitForResults(1);
  const later = run.sim.enqueue({ id: "later", input: 2 });
  await run.sim.waitForResults(2);
  assert.equal(await run.stop(), 0);
  assert.deepEqual(takes(run.sim).slice(0, 2).map((r) => r.fault), ["drop", "drop"]);
  assert.equal(run.sim.ledger.get("survives-drops")!.taken, 1, "handed out once, after the drops");
  assert.deepEqual(finals(run.sim, "survives-drops"), [{ body: { output: 1 }, isStream: false }]);
  assert.deepEqual(finals(run.sim, later), [{ body: { output: 2 }, isStream: false }]);
  // Logged as take failures; Bun's fetch may retry a reset idempotent GET once by itself, so
  // the two drops can surface as one failure.
  const failed = lines(run, /Failed to get job\. \| Error Type: /).length;
  assert.ok(failed >= 1 && failed <= 2, run.child.stdout);
  assertNothingLost(run.sim);
});

test("pull faults: malformed jobs are skipped or FAILED, and the worker keeps serving", async () => {
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      sim.enqueueRaw({ input: { x: 1 } }); // no id: nothing to answer, skipped and logged
      sim.enqueueRaw({ id: "no-input", webhook: null }); // an id: answered FAILED
      sim.enqueueRaw("definitely not json", { contentType: "text/plain" });
      sim.enqueueRaw('{"id": "cut-off", "inp', { contentType: "application/json" });
      sim.enqueueRaw(42); // JSON, but not a job
      sim.enqueue({ id: "good-after", input: "fine" });
    },
  });
  await run.sim.waitForResults(2);
  assert.equal(await run.stop(), 0);
  const error = failure(run, "no-input");
  assert.match(error, /no-input/);
  assert.match(error, /"input"/);
  assert.deepEqual(finals(run.sim, "good-after"), [{ body: { output: "fine" }, isStream: false }]);
  assert.ok(run.sim.report().raw.every((r) => r.takenAt !== undefined), "every raw entry taken");
  assert.equal(lines(run, /Malformed job skipped: .*no usable "id"/).length, 1, run.child.stdout);
  assert.equal(
    lines(run, /Malformed job skipped: .*must be a JSON object/).length,
    1,
    run.child.stdout,
  );
  assertNothingLostWithRaw(run.sim, ["no-input"]);
});

test("pull faults: one bad element of a batch take never loses the good ones", async () => {
  await using run = await startPull({
    handler: "echo",
    config: { maxConcurrency: 4 },
    env: { FIXTURE_CONCURRENCY: "4" },
    setup: (sim) => {
      sim.enqueue({ id: "batch-1", input: 1 });
      sim.enqueueRaw({ id: "batch-bad", inptu: 2 });
      sim.enqueueRaw({ input: "no id" });
      sim.enqueue({ id: "batch-4", input: 4 });
    },
  });
  await run.sim.waitForResults(3);
  assert.equal(await run.stop(), 0);
  const first = takes(run.sim)[0]!;
  assert.equal(first.route, "job-take-batch");
  assert.equal(first.query.batch_size, "4");
  assert.equal(
    run.sim.ledger.get("batch-1")!.takenAt[0],
    run.sim.ledger.get("batch-4")!.takenAt[0],
  );
  assert.deepEqual(finals(run.sim, "batch-1"), [{ body: { output: 1 }, isStream: false }]);
  assert.deepEqual(finals(run.sim, "batch-4"), [{ body: { output: 4 }, isStream: false }]);
  assert.match(failure(run, "batch-bad"), /batch-bad.*"input"/);
  assert.equal(lines(run, /Malformed job skipped: .*no usable "id"/).length, 1, run.child.stdout);
  assertNothingLostWithRaw(run.sim, ["batch-bad"]);
});

test("pull faults: job-done answering 500 twice is retried and the result is delivered once", async () => {
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      sim.fault("job-done", { status: 500, body: "try again" }, { times: 2 });
      sim.enqueue({ id: "retried", input: { n: 1 } });
    },
  });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const record = run.sim.ledger.get("retried")!;
  assert.ok(record.attempts >= 3, `attempts ${record.attempts}`);
  assert.deepEqual(finals(run.sim, "retried"), [{ body: { output: { n: 1 } }, isStream: false }]);
  assertNothingLost(run.sim);
});

test("pull faults: a job-done connection dropped by the network is retried and delivered once", async () => {
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      sim.fault("job-done", { drop: true });
      sim.enqueue({ id: "after-drop", input: "x" });
    },
  });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const record = run.sim.ledger.get("after-drop")!;
  assert.ok(record.attempts >= 2, `attempts ${record.attempts}`);
  assert.deepEqual(finals(run.sim, "after-drop"), [{ body: { output: "x" }, isStream: false }]);
  assertNothingLost(run.sim);
});

test("pull faults: a result refused with 413 or 400 is replaced by a small FAILED result", async () => {
  await using run = await startPull({
    handler: "echo",
    setup: (sim) => {
      sim.fault("job-done", { status: 413, body: "Request Entity Too Large" });
      sim.enqueue({ id: "refused-413", input: "big" });
    },
  });
  await run.sim.waitForResults(1);
  run.sim.fault("job-done", { status: 400, body: "Bad result" });
  run.sim.enqueue({ id: "refused-400", input: "odd" });
  await run.sim.waitForResults(2);
  assert.equal(await run.stop(), 0);
  for (const [id, status] of [["refused-413", 413], ["refused-400", 400]] as const) {
    const record = run.sim.ledger.get(id)!;
    assert.equal(record.attempts, 2, `${id}: the refused post, then the FAILED one`);
    const error = failure(run, id);
    assert.match(error, new RegExp(`HTTP ${status}`));
    assert.ok(JSON.stringify(record.results[0]!.body).length < 1000, `${id}: a small result`);
  }
  assertNothingLost(run.sim);
});

test("pull faults: a slow job-stream delivers every chunk in order before the final result", async () => {
  await using run = await startPull({
    handler: "asyncGenerator",
    setup: (sim) => sim.fault("job-stream", { delayMs: 30 }, { times: Infinity }),
  });
  const events = recordEvents(run.sim, ["chunk", "result"]);
  const id = run.sim.enqueue({ input: { n: 5 } });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const expected = ["a0", "a1", "a2", "a3", "a4"];
  assert.deepEqual(run.sim.ledger.get(id)!.chunks, expected);
  // Delivery order: every chunk, then the final result.
  assert.deepEqual(events.map((e) => e.type), [
    "chunk",
    "chunk",
    "chunk",
    "chunk",
    "chunk",
    "result",
  ]);
  const finalAt = run.sim.ledger.get(id)!.results[0]!.at;
  const streamPosts = run.sim.requests.filter((r) => r.route === "job-stream");
  assert.equal(streamPosts.length, expected.length);
  for (const post of streamPosts) assert.ok(post.at < finalAt, "a chunk posted after the final");
  assert.deepEqual(finals(run.sim, id), [{ body: { output: [] }, isStream: true }]);
  assert.deepEqual(run.sim.report().chunksAfterFinal, []);
  assertNothingLost(run.sim);
});

test("pull faults: a result over 20 MB becomes a FAILED result naming its size", async () => {
  await using run = await startPull({ handler: "huge" });
  const id = run.sim.enqueue({ input: null });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  assert.match(failure(run, id), /\d+ bytes, over the 20971520-byte limit/);
  assertNothingLost(run.sim);
});

test("pull faults: an output JSON cannot carry becomes a FAILED result naming the path", async () => {
  await using run = await startPull({ handler: "bigint" });
  const id = run.sim.enqueue({ input: null });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const error = failure(run, id);
  assert.match(error, /output\.n/);
  assert.match(error, /BigInt/);
  assertNothingLost(run.sim);
});

test("pull faults: job-stop stops a running job with no result, and the worker serves the next", async () => {
  await using holds = await holdRequests();
  await using run = await startPull({ handler: "awaitUrl" });
  const id = run.sim.enqueue({ id: "to-stop", input: { url: holds.url("to-stop") } });
  await holds.arrived("to-stop");
  // A stop for a job this worker does not run is harmless.
  run.sim.stop("never-seen", { workerId: "*" });
  await run.sim.waitFor(() => run.sim.counters.stopsDelivered === 1);
  run.sim.stop(id);
  await line(run, /Stopping job\./);
  await line(run, /Job stopped\./);
  const next = run.sim.enqueue({ id: "next", input: { url: holds.url("next") } });
  await holds.arrived("next");
  holds.release("next", { done: true });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const stopped = run.sim.ledger.get(id)!;
  assert.equal(stopped.stopped, true);
  assert.deepEqual(stopped.results, []);
  assert.equal(stopped.attempts, 0, "nothing was posted for the stopped job");
  assert.deepEqual(finals(run.sim, next), [{ body: { output: { done: true } }, isStream: false }]);
  assert.match(run.child.stdout, /to-stop \| Stopping job\./);
  assertNothingLost(run.sim);
});
