/**
 * The pull worker through outages of RunPod's API (issue 11): a result or stream chunk that
 * cannot be posted is retried until it is delivered, its slot stays held (no new take), the
 * heartbeat keeps listing its job, and the operator gets one line when an outage starts and one
 * when it ends. The worker is a real child process of the runtime running these tests; the
 * simulator scripts the outage, which the test ends once the ledger shows more failed attempts
 * than the old 6-attempt budget allowed (so nothing here depends on how fast the machine is).
 * `deliveryRetryMaxDelayMs` keeps the back-off short, so the suite proves in seconds what the
 * 20 s / 10 s drill (`bench/outage_drill.ts`) proves at full length.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  assertNothingLost,
  attempts,
  failedChunks,
  FAST,
  finals,
  holdRequests,
  line,
  lines,
  OPEN_ENDED,
  recordEvents,
  startPull,
  takes,
  within,
} from "./support/pull_harness.ts";

/** More failed attempts than the old budget (6 attempts in all) could survive. */
const PAST_OLD_BUDGET = 8;

const START = /RunPod's job-done endpoint is failing \(HTTP 503\): holding/;
const END =
  /RunPod's job-done endpoint answers again after \d+\.\d s; (\d+) posts? delivered late\./;

test("pull outage: job-done down far past the old retry budget loses no result; slots stay held and pings list the held jobs", async () => {
  await using run = await startPull({
    handler: "echo",
    config: FAST,
    env: { FIXTURE_CONCURRENCY: "2" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  // A trickle: each job arrives after the previous one was taken.
  const held = [sim.enqueue({ id: "held-1", input: 1 })];
  await sim.waitForTaken(1);
  held.push(sim.enqueue({ id: "held-2", input: 2 }));
  await sim.waitForTaken(2);
  await sim.waitFor(() => held.every((id) => attempts(sim, id) >= 1));
  // Both slots hold an undelivered result: more jobs arrive, none is taken.
  const takesWhileHeld = takes(sim).length;
  const waiting = sim.enqueueMany([3, 4, 5, 6].map((n) => ({ id: `queued-${n}`, input: n })));
  await sim.waitFor(() => held.every((id) => attempts(sim, id) >= PAST_OLD_BUDGET));
  assert.equal(takes(sim).length, takesWhileHeld, "no take while every slot waits for job-done");
  assert.equal(sim.queued, waiting.length);
  // The heartbeat still reports the held jobs as in progress.
  const pingsBefore = sim.pings.length;
  await sim.waitForPings(pingsBefore + 2);
  assert.deepEqual([...sim.pings.at(-1)!.jobIds].sort(), held);
  assert.ok(held.every((id) => finals(sim, id).length === 0));

  sim.clearFaults("job-done"); // the outage ends
  await sim.waitForResults(held.length + waiting.length);
  assert.equal(await run.stop(), 0);
  for (const [i, id] of [...held, ...waiting].entries()) {
    assert.deepEqual(finals(sim, id), [{ body: { output: i + 1 }, isStream: false }], id);
  }
  assertNothingLost(sim);
  // The operator's view: one line when it started, one when it ended, nothing per retry.
  const started = lines(run, START);
  assert.equal(started.length, 1, run.child.stdout);
  assert.match(started[0]!, /^WARN/);
  assert.match(started[0]!, /held-1/);
  const ended = lines(run, END);
  assert.equal(ended.length, 1, run.child.stdout);
  assert.match(ended[0]!, /^INFO/);
  assert.ok(Number(END.exec(ended[0]!)![1]) >= 2, ended[0]);
  assert.deepEqual(lines(run, /Failed to return job results|attempt \d+\)/), []);
  assert.equal(lines(run, /Worker stopped cleanly\./).length, 1);
});

test("pull outage: job-stream down keeps every chunk in order, pauses the handler, and the final result follows the last chunk", async () => {
  await using run = await startPull({
    handler: "progressStream",
    config: { ...FAST, streamBufferSize: 2, returnAggregateStream: true },
    setup: (sim) => sim.fault("job-stream", { status: 502 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const events = recordEvents(sim, ["chunk", "result"]);
  const n = 12;
  const id = sim.enqueue({ id: "streamed", input: { n } });
  const progress = () => (sim.ledger.get(id)?.progress ?? []) as number[];
  // The generator runs until the bounded sink is full: 2 buffered, then one read that waits.
  await sim.waitFor(() => Math.max(-1, ...progress()) >= 2);
  const failedBefore = failedChunks(sim, id);
  await sim.waitFor(() => failedChunks(sim, id) >= Math.max(PAST_OLD_BUDGET, failedBefore + 4));
  assert.ok(Math.max(...progress()) <= 3, `the handler ran ahead: progress ${progress()}`);
  assert.deepEqual(sim.ledger.get(id)!.chunks, [], "nothing got through yet");
  assert.deepEqual(finals(sim, id), [], "no final result while chunks wait");

  sim.clearFaults("job-stream");
  await sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const expected = Array.from({ length: n }, (_, i) => `c${i}`);
  assert.deepEqual(sim.ledger.get(id)!.chunks, expected);
  assert.deepEqual(events.map((e) => e.type), [...expected.map(() => "chunk"), "result"]);
  assert.deepEqual(finals(sim, id), [{ body: { output: expected }, isStream: true }]);
  assert.equal(progress().at(-1), n - 1, "the newest progress update is never dropped");
  assert.deepEqual(sim.report().chunksAfterFinal, []);
  assertNothingLost(sim);
  assert.equal(lines(run, /RunPod's job-stream endpoint is failing/).length, 1, run.child.stdout);
  assert.equal(lines(run, /RunPod's job-stream endpoint answers again/).length, 1);
  assert.deepEqual(lines(run, /Failed to stream a chunk/), []);
});

test("pull outage: job-done down across SIGTERM still delivers every result, then the worker stops cleanly with exit 0", async () => {
  await using run = await startPull({
    handler: "echo",
    config: FAST,
    env: { FIXTURE_CONCURRENCY: "4" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const ids = sim.enqueueMany([1, 2, 3, 4].map((n) => ({ id: `sigterm-${n}`, input: n })));
  await sim.waitFor(() => ids.every((id) => attempts(sim, id) >= 1));
  const exited = run.stop(); // SIGTERM in the middle of the outage
  await line(run, /Shutting down \(SIGTERM received\)/);
  const atSignal = ids.map((id) => attempts(sim, id));
  await sim.waitFor(() =>
    ids.every((id, i) => attempts(sim, id) >= Math.max(PAST_OLD_BUDGET, atSignal[i]! + 3))
  );
  sim.clearFaults("job-done");
  assert.equal(await within(exited, "the worker to exit"), 0);
  for (const [i, id] of ids.entries()) {
    assert.deepEqual(finals(sim, id), [{ body: { output: i + 1 }, isStream: false }], id);
  }
  assertNothingLost(sim);
  assert.equal(lines(run, /Worker stopped cleanly\./).length, 1, run.child.stdout);
  assert.deepEqual(lines(run, /not delivered|Failed to return job results/), []);
});

test("pull outage: results still undelivered at the drain deadline plus its grace are logged by job id and the exit code is 1", async () => {
  await using run = await startPull({
    handler: "echo",
    config: { ...FAST, drainTimeoutMs: 0 },
    env: { FIXTURE_CONCURRENCY: "2" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const ids = sim.enqueueMany([{ id: "never-1", input: 1 }, { id: "never-2", input: 2 }]);
  await sim.waitFor(() => ids.every((id) => attempts(sim, id) >= 2));
  assert.equal(await within(run.stop(), "the worker to exit"), 1);
  const summary = lines(run, /results were not delivered to RunPod/);
  assert.equal(summary.length, 1, run.child.stdout);
  assert.match(summary[0]!, /^ERROR/);
  for (const id of ids) {
    assert.match(summary[0]!, new RegExp(id));
    assert.equal(lines(run, new RegExp(`${id} \\| Failed to return job results\\.`)).length, 1);
  }
  assert.equal(lines(run, /Worker stopped; 2 results were not delivered\./).length, 1);
  assert.deepEqual(lines(run, /Worker stopped cleanly/), []);
  // The ledger agrees with the log: exactly these results are missing, nothing else.
  const report = sim.report();
  assert.deepEqual([...report.lost].sort(), ids);
  assert.deepEqual(report.duplicated, []);
});

test("pull outage: result posts black-holed at SIGTERM (no answer at all) are each logged by job id at the drain deadline", async () => {
  await using run = await startPull({
    handler: "echo",
    config: { ...FAST, drainTimeoutMs: 0 },
    env: { FIXTURE_CONCURRENCY: "2" },
    // The API takes the posts and never answers: the first attempts hang, none fails.
    setup: (sim) => sim.fault("job-done", { delayMs: 600_000 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const ids = sim.enqueueMany([{ id: "hole-1", input: 1 }, { id: "hole-2", input: 2 }]);
  await sim.waitFor(() => ids.every((id) => attempts(sim, id) >= 1));
  assert.equal(await within(run.stop(), "the worker to exit"), 1);
  for (const id of ids) {
    const failed = lines(run, new RegExp(`${id} \\| Failed to return job results\\.`));
    assert.equal(failed.length, 1, run.child.stdout);
  }
  assert.equal(lines(run, /Worker stopped; 2 results were not delivered\./).length, 1);
  // The posts were cut by the shutdown, not refused: no outage is announced on the way out.
  assert.deepEqual(lines(run, /endpoint is failing/), []);
});

test("pull outage: a total outage (every route refuses connections) loses nothing and the worker recovers by itself", async () => {
  await using holds = await holdRequests();
  await using run = await startPull({
    handler: "streamThenAwaitUrl",
    config: FAST,
    env: { FIXTURE_CONCURRENCY: "2", RUNPOD_LOG_LEVEL: "DEBUG" },
  });
  const { sim } = run;
  const events = recordEvents(sim, ["chunk", "result"]);
  const ids = ["dark-1", "dark-2"];
  // The jobs run, and have posted nothing yet, when the partition begins (a post cut mid-way
  // could have been recorded before its answer was lost, and be delivered twice).
  sim.enqueueMany(ids.map((id) => ({ id, input: { before: 0, url: holds.url(id) } })));
  for (const id of ids) await holds.arrived(id);
  const replug = await run.unplug(); // nothing answers now: every connection is refused
  for (const id of ids) holds.release(id, { last: id });
  // The worker's own DEBUG lines show each job's posts failing past the old budget.
  for (const id of ids) {
    await line(
      run,
      new RegExp(`${id} \\| Posting to job-stream failed \\(.*attempt ${PAST_OLD_BUDGET}\\)`),
    );
  }
  await replug();
  await sim.waitForResults(2);
  const after = sim.enqueue({ id: "after-outage", input: { before: 1, url: holds.url("after") } });
  holds.release("after", { last: "after" });
  await sim.waitForResults(3);
  assert.equal(await run.stop(), 0);
  for (const id of [...ids, after]) {
    const chunks = sim.ledger.get(id)!.chunks;
    assert.deepEqual(chunks.at(-1), { last: id === after ? "after" : id }, id);
    assert.deepEqual(chunks.slice(0, -1), id === after ? ["c0"] : [], id);
    assert.equal(finals(sim, id).length, 1, id);
    const order = events.filter((e) => (e.detail as { jobId: string }).jobId === id);
    assert.equal(order.at(-1)!.type, "result", `${id}: the final result came last`);
  }
  assert.deepEqual(sim.report().chunksAfterFinal, []);
  assertNothingLost(sim);
  assert.equal(
    lines(run, /RunPod's job-stream endpoint is failing \(/).length,
    1,
    run.child.stdout,
  );
  assert.equal(lines(run, /RunPod's job-stream endpoint answers again/).length, 1);
  assert.equal(lines(run, /Worker stopped cleanly\./).length, 1);
});

test("pull outage: a post told to wait by Retry-After keeps to it even when another job's post gets through meanwhile", async () => {
  await using run = await startPull({
    handler: "echo",
    env: { FIXTURE_CONCURRENCY: "2" },
    setup: (sim) => sim.fault("job-done", { status: 429, headers: { "Retry-After": "1" } }),
  });
  const { sim } = run;
  const throttled = sim.enqueue({ id: "throttled", input: 1 });
  await sim.waitFor(() => attempts(sim, throttled) >= 1);
  const other = sim.enqueue({ id: "other", input: 2 });
  await sim.waitFor(() => finals(sim, other).length === 1); // job-done answers again...
  await sim.waitForResults(2);
  assert.equal(await run.stop(), 0);
  // ...but the throttled post was asked for a second, and waited it.
  const posts = sim.requests.filter((r) => r.route === "job-done" && r.jobId === throttled);
  assert.deepEqual(posts.map((r) => r.status), [429, 200]);
  const gap = posts[1]!.at - posts[0]!.at;
  assert.ok(gap >= 950, `retried ${Math.round(gap)} ms after "429, Retry-After: 1"`);
  assert.deepEqual(finals(sim, throttled), [{ body: { output: 1 }, isStream: false }]);
  assertNothingLost(sim);
});

test("pull outage: more than 10 results retrying at once print no EventTarget leak warning", async () => {
  // Every retry used to listen to the one delivery signal shared by all posts; past 10
  // listeners Node writes "MaxListenersExceededWarning: Possible EventTarget memory leak" to
  // stderr, a false alarm in the middle of an outage. (Deno and Bun do not warn.)
  await using run = await startPull({
    handler: "echo",
    config: FAST,
    env: { FIXTURE_CONCURRENCY: "16" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: OPEN_ENDED }),
  });
  const { sim } = run;
  const ids = sim.enqueueMany(
    Array.from({ length: 16 }, (_, i) => ({ id: `many-${i}`, input: i })),
  );
  await sim.waitFor(() => ids.every((id) => attempts(sim, id) >= 3));
  sim.clearFaults("job-done");
  await sim.waitForResults(ids.length);
  assert.equal(await run.stop(), 0);
  assert.doesNotMatch(run.child.stderr, /MaxListenersExceeded|memory leak/);
  assertNothingLost(sim);
});

test("pull outage: a Retry-After of 0, or a date already past, does not make a result post retry in a tight loop", async () => {
  for (const value of ["0", "Thu, 01 Jan 1970 00:00:00 GMT"]) {
    // A one-second outage answering "503, Retry-After: <value>": the default back-off (250 ms
    // first) allows a handful of attempts; honouring the 0 literally made hundreds.
    await using run = await startPull({
      handler: "echo",
      setup: (sim) =>
        sim.fault("job-done", { status: 503, headers: { "Retry-After": value } }, { forMs: 1000 }),
    });
    const { sim } = run;
    const id = sim.enqueue({ id: "no-storm", input: 1 });
    await sim.waitForResults(1);
    assert.equal(await run.stop(), 0);
    assert.ok(
      attempts(sim, id) <= 20,
      `Retry-After ${value}: ${attempts(sim, id)} attempts in 1 s`,
    );
    assert.deepEqual(finals(sim, id), [{ body: { output: 1 }, isStream: false }]);
  }
});
