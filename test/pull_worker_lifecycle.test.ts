/**
 * The pull worker's life: progress, timeouts, refresh, shutdown and its drain deadline, the
 * heartbeat, fitness checks and live concurrency changes. The worker is a real child process of
 * the runtime running these tests, against the RunPod queue simulator.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EDGEPOD_VERSION } from "../src/version.ts";
import {
  assertNothingLost,
  exitCode,
  finals,
  holdRequests,
  line,
  lines,
  type PullRun,
  recordEvents,
  startPull,
  takes,
} from "./support/pull_harness.ts";

/** The `error` string of a job's only final result. */
function failure(run: PullRun, id: string): string {
  const results = finals(run.sim, id);
  assert.equal(results.length, 1, `${id}: one final result`);
  const { error } = results[0]!.body as { error?: unknown };
  assert.equal(typeof error, "string", `${id}: a FAILED result with a string error`);
  return error as string;
}

/** Replaces a file's content at once (write, then rename), so a reader never sees it half written. */
function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.next`, text);
  renameSync(`${file}.next`, file);
}

test("pull lifecycle: awaited progress updates arrive in order, before the final result", async () => {
  await using run = await startPull({ handler: "progress" });
  const events = recordEvents(run.sim, ["progress", "result"]);
  const id = run.sim.enqueue({ input: null });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  assert.deepEqual(run.sim.ledger.get(id)!.progress, [{ step: 1 }, { step: 2 }]);
  assert.deepEqual(events.map((e) => e.type), ["progress", "progress", "result"]);
  const progressPosts = run.sim.requests.filter((r) =>
    r.route === "job-done" && r.body?.includes("IN_PROGRESS")
  );
  assert.ok(progressPosts.every((r) => r.query.isStream === "false"));
  assert.deepEqual(finals(run.sim, id), [{ body: { output: "done" }, isStream: false }]);
  assertNothingLost(run.sim);
});

test("pull lifecycle: a burst of progress updates may drop stale ones but ends with the newest, before the final", async () => {
  await using run = await startPull({ handler: "progressBurst" });
  const events = recordEvents(run.sim, ["progress", "result"]);
  const id = run.sim.enqueue({ input: { steps: 50 } });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const steps = (run.sim.ledger.get(id)!.progress as { step: number }[]).map((p) => p.step);
  assert.ok(steps.length >= 1, "no progress delivered");
  assert.equal(steps.at(-1), 50, `progress steps ${steps.join(", ")}`);
  for (let i = 1; i < steps.length; i++) {
    assert.ok(steps[i]! > steps[i - 1]!, `an older update after a newer one: ${steps.join(", ")}`);
  }
  assert.equal(events.at(-1)!.type, "result");
  assert.equal(events.filter((e) => e.type === "result").length, 1);
  assert.deepEqual(finals(run.sim, id), [{ body: { output: "burst done" }, isStream: false }]);
  assertNothingLost(run.sim);
});

for (const handler of ["untilAborted", "ignoresSignal"]) {
  test(`pull lifecycle: a ${handler} job past executionTimeoutMs is FAILED as timed out and the worker goes on`, async () => {
    await using run = await startPull({ handler, config: { executionTimeoutMs: 200 } });
    const ids = run.sim.enqueueMany([{ input: 1 }, { input: 2 }]);
    await run.sim.waitForResults(2);
    assert.equal(await run.stop(), 0);
    for (const id of ids) assert.match(failure(run, id), /timed out/);
    assertNothingLost(run.sim);
  });
}

test("pull lifecycle: refresh_worker marks the result stopPod, exits 0 by itself and takes no other job", async () => {
  await using run = await startPull({
    handler: "echo",
    config: { refresh_worker: true },
    setup: (sim) => sim.enqueueMany([{ id: "first", input: 1 }, { id: "second", input: 2 }]),
  });
  assert.equal(await exitCode(run), 0);
  assert.deepEqual(finals(run.sim, "first"), [{
    body: { output: 1, stopPod: true },
    isStream: false,
  }]);
  assert.equal(run.sim.ledger.get("second")!.taken, 0);
  const report = assertNothingLost(run.sim);
  assert.deepEqual(report.pending, ["second"]);
});

test("pull lifecycle: SIGTERM mid-job takes nothing new, lets the job finish and report, exits 0", async () => {
  await using holds = await holdRequests();
  await using run = await startPull({ handler: "awaitUrl" });
  run.sim.enqueue({ id: "held", input: { url: holds.url("held") } });
  await holds.arrived("held");
  const takesBefore = takes(run.sim).length;
  run.child.kill("SIGTERM");
  await line(run, /Shutting down/);
  run.sim.enqueue({ id: "late", input: { url: holds.url("late") } });
  holds.release("held", { finished: true });
  assert.equal(await exitCode(run), 0);
  assert.equal(takes(run.sim).length, takesBefore, "a job-take after the shutdown began");
  assert.deepEqual(finals(run.sim, "held"), [{
    body: { output: { finished: true } },
    isStream: false,
  }]);
  const report = assertNothingLost(run.sim);
  assert.deepEqual(report.pending, ["late"]);
});

test("pull lifecycle: a job-stop that comes during the SIGTERM drain still stops the job; exit 0", async () => {
  await using holds = await holdRequests();
  await using run = await startPull({ handler: "awaitUrl" });
  const id = run.sim.enqueue({ id: "stop-in-drain", input: { url: holds.url("stop-in-drain") } });
  await holds.arrived("stop-in-drain");
  run.child.kill("SIGTERM");
  await line(run, /Shutting down/);
  // The job would hold the drain to its deadline; the server's stop must reach it instead.
  run.sim.stop(id);
  await line(run, /stop-in-drain \| Stopping job\./);
  assert.equal(await exitCode(run), 0);
  const stopped = run.sim.ledger.get(id)!;
  assert.equal(stopped.stopped, true);
  assert.deepEqual(stopped.results, [], "nothing is posted for a stopped job");
  assertNothingLost(run.sim);
});

test("pull lifecycle: SIGTERM past drainTimeoutMs FAILS the unfinished job as shut down and exits 1", async () => {
  await using run = await startPull({ handler: "ignoresSignal", config: { drainTimeoutMs: 200 } });
  run.sim.enqueue({ id: "stuck", input: null });
  await line(run, /stuck \| Started\./);
  run.child.kill("SIGTERM");
  assert.equal(await exitCode(run), 1);
  assert.match(failure(run, "stuck"), /shut down/);
  assertNothingLost(run.sim);
});

test("pull lifecycle: SIGTERM while idle aborts the take long-poll, exits 0 and sends a last ping with no job", async () => {
  // The long-poll outlasts the exit guard (30 s): only an aborted long-poll lets the worker exit.
  await using run = await startPull({
    handler: "echo",
    sim: { longPollMs: 60_000, apiKey: "test-key" },
    env: { RUNPOD_PING_INTERVAL: "60000" },
  });
  await run.sim.waitFor(() => run.sim.held.take === 1);
  await run.sim.waitForPings(1);
  run.child.kill("SIGTERM");
  assert.equal(await exitCode(run), 0);
  // The first ping, then the last one sent on the way out (the next periodic one is 60 s away).
  assert.deepEqual(run.sim.pings.map((p) => p.jobIds), [[], []]);
  assert.equal(run.sim.counters.handedOut, 0);
  assertNothingLost(run.sim);
});

test("pull lifecycle: pings list the running job while it runs and no job when idle", async () => {
  await using holds = await holdRequests();
  await using run = await startPull({ handler: "awaitUrl", env: { RUNPOD_PING_INTERVAL: "200" } });
  await run.sim.waitForPings(1);
  assert.deepEqual(run.sim.pings[0]!.jobIds, []);
  const id = run.sim.enqueue({ id: "beating", input: { url: holds.url("beating") } });
  await holds.arrived("beating");
  await run.sim.waitFor(() => run.sim.pings.filter((p) => p.jobIds.includes(id)).length >= 2);
  holds.release("beating");
  await run.sim.waitForResults(1);
  const doneAt = run.sim.ledger.get(id)!.results[0]!.at;
  await run.sim.waitFor(() => run.sim.pings.some((p) => p.at > doneAt && p.jobIds.length === 0));
  assert.equal(await run.stop(), 0);
  for (const ping of run.sim.pings) {
    assert.equal(ping.workerId, "pod-test");
    assert.equal(ping.runpodVersion, EDGEPOD_VERSION);
    assert.ok(ping.jobIds.length === 0 || (ping.jobIds.length === 1 && ping.jobIds[0] === id));
  }
  assert.deepEqual(run.sim.pings.at(-1)!.jobIds, [], "the last ping lists no job");
  assertNothingLost(run.sim);
});

test("pull lifecycle: pings keep coming while a sync handler blocks the main thread", async () => {
  await using run = await startPull({ handler: "blockFor", env: { RUNPOD_PING_INTERVAL: "200" } });
  // The property is that a blocking handler cannot starve a running heartbeat; on a loaded
  // machine the thread's own boot can take longer than the block, so wait for it first.
  await run.sim.waitForPings(1);
  const id = run.sim.enqueue({ id: "blocking", input: { ms: 1500 } });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  const during = run.sim.pings.filter((p) => p.jobIds.includes(id)).length;
  assert.ok(during >= 3, `only ${during} pings listed the blocking job`);
  assert.deepEqual(finals(run.sim, id), [{ body: { output: "unblocked" }, isStream: false }]);
  assertNothingLost(run.sim);
});

test("pull lifecycle: a failing fitness check reports unhealthy and exits 1 without taking a job", async () => {
  await using run = await startPull({
    handler: "echo",
    env: { FIXTURE_FITNESS: "fail" },
    setup: (sim) => sim.enqueue({ id: "untouched", input: 1 }),
  });
  assert.equal(await exitCode(run), 1);
  assert.equal(run.sim.unhealthy.length, 1);
  const report = run.sim.unhealthy[0]!;
  assert.equal(report.check, "gpuAvailable");
  assert.match(report.reason ?? "", /no GPU found/);
  assert.equal(report.runpodVersion, EDGEPOD_VERSION);
  assert.match(run.child.stdout, /Fitness check failed: gpuAvailable/);
  assert.match(run.child.stdout, /Worker is unhealthy, exiting\./);
  assert.deepEqual(takes(run.sim), []);
  assert.equal(
    run.sim.counters.requests["job-take"] + run.sim.counters.requests["job-take-batch"],
    0,
  );
  assert.deepEqual(assertNothingLost(run.sim).pending, ["untouched"]);
});

test("pull lifecycle: a worker that failed its fitness check sends no healthy ping after its unhealthy report", async () => {
  await using run = await startPull({ handler: "echo", env: { FIXTURE_FITNESS: "fail" } });
  assert.equal(await exitCode(run), 1);
  assert.equal(run.sim.unhealthy.length, 1);
  // Protocol §1.5: fitness checks run before the heartbeat starts, and a failure reports
  // unhealthy, then exits at once. A healthy ping after the report tells the platform the opposite.
  const reportedAt = run.sim.unhealthy[0]!.at;
  assert.deepEqual(run.sim.pings.filter((p) => p.at > reportedAt), []);
});

test("pull lifecycle: a passing fitness check lets the worker serve jobs", async () => {
  await using run = await startPull({ handler: "echo", env: { FIXTURE_FITNESS: "pass" } });
  const id = run.sim.enqueue({ input: "fit" });
  await run.sim.waitForResults(1);
  assert.equal(await run.stop(), 0);
  assert.deepEqual(run.sim.unhealthy, []);
  assert.deepEqual(finals(run.sim, id), [{ body: { output: "fit" }, isStream: false }]);
  assertNothingLost(run.sim);
});

test("pull lifecycle: raising the concurrency live takes more jobs while one runs; bad values keep the last limit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "edgepod-concurrency-"));
  try {
    const file = join(dir, "limit");
    writeAtomically(file, "1");
    await using holds = await holdRequests();
    await using run = await startPull({
      handler: "awaitUrl",
      env: { FIXTURE_CONCURRENCY_FILE: file },
    });
    const job = (id: string) => ({ id, input: { url: holds.url(id) } });
    const taken = (id: string) => (run.sim.ledger.get(id)?.taken ?? 0) > 0;

    run.sim.enqueue(job("first"));
    await holds.arrived("first");
    run.sim.enqueueMany([job("second"), job("third")]);
    assert.equal(run.sim.queued, 2, "at concurrency 1 the others wait in the queue");
    writeAtomically(file, "3");
    await run.sim.waitFor(() => taken("second") && taken("third"));
    await holds.arrived("second");
    await holds.arrived("third");
    assert.deepEqual(run.sim.ledger.get("first")!.results, [], "first is still running");

    writeAtomically(file, "0");
    await line(run, /concurrencyModifier returned 0\b.*Keeping concurrency 3/);
    writeAtomically(file, "abc");
    await line(run, /concurrencyModifier returned "abc".*Keeping concurrency 3/);
    for (const id of ["first", "second", "third"]) holds.release(id);
    await run.sim.waitForResults(3);

    // Still 3: three new jobs all start before any of them is released.
    const more = ["fourth", "fifth", "sixth"];
    run.sim.enqueueMany(more.map(job));
    for (const id of more) await holds.arrived(id);
    for (const id of more) holds.release(id);
    await run.sim.waitForResults(6);
    assert.equal(await run.stop(), 0);
    assert.ok(lines(run, /^WARN.*concurrencyModifier returned/).length >= 2);
    assertNothingLost(run.sim);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
