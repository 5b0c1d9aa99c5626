/**
 * `JobChannel` against protocol §6 (final result, `Finished.`, failure handling), §8 (progress
 * updates) and §12 (#250: flush progress before the final; #309: FAILED after a refused result),
 * over a `RunPodClient` talking to the in-memory simulator.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Deferred, deferred } from "../src/async/deferred.ts";
import type { ExecutedJob } from "../src/execute_job.ts";
import type { HttpRequest } from "../src/http_client.ts";
import { JobChannel } from "../src/pull/job_channel.ts";
import { type PostRetryOptions, RunPodClient } from "../src/pull/runpod_client.ts";
import { readRunPodEnv } from "../src/pull/runpod_env.ts";
import { createSimulator, type Simulator } from "../src/simulator/mod.ts";
import type { JobResult } from "../src/types.ts";
import {
  type LogLine,
  recordingLogger,
  simHttp,
  TEST_WORKER_INFO,
} from "./support/http_doubles.ts";

const JOB = "sync-0f3e-e1";

/** Holds chosen requests until released. */
class Gates {
  #gates = new Map<number, Deferred<void>>();
  #arrived = new Map<number, Deferred<HttpRequest>>();

  /** Holds the `index`-th request (from 0). */
  hold(index: number): void {
    this.#gates.set(index, deferred<void>());
  }

  /** Releases the `index`-th request. */
  release(index: number): void {
    this.#gates.get(index)?.resolve();
  }

  /** Resolves once the `index`-th request has been made. */
  arrived(index: number): Promise<HttpRequest> {
    return this.#arrival(index).promise;
  }

  /** The gate function for `simHttp`. */
  readonly gate = (request: HttpRequest, index: number): Promise<void> | void => {
    this.#arrival(index).resolve(request);
    return this.#gates.get(index)?.promise;
  };

  #arrival(index: number): Deferred<HttpRequest> {
    let arrival = this.#arrived.get(index);
    if (!arrival) this.#arrived.set(index, arrival = deferred<HttpRequest>());
    return arrival;
  }
}

/** A channel for job `JOB` over an in-memory simulator. */
function setup(
  options: { retry?: PostRetryOptions; signal?: AbortSignal; bufferSize?: number } = {},
) {
  const sim = createSimulator({ longPollMs: 0, apiKey: "key" });
  const gates = new Gates();
  const vars: Record<string, string> = { ...sim.env("http://sim.test") };
  const env = readRunPodEnv((name) => vars[name], TEST_WORKER_INFO);
  const client = new RunPodClient({
    http: simHttp(sim, { gate: gates.gate }).http,
    env,
    info: TEST_WORKER_INFO,
    retry: options.retry ?? { minDelay: 0, maxDelay: 1 },
  });
  const { log, lines } = recordingLogger();
  const channel = new JobChannel({
    client,
    jobId: JOB,
    log,
    signal: options.signal,
    bufferSize: options.bufferSize,
  });
  return { sim, gates, channel, lines };
}

/** An executed job with this result. */
function executed(result: JobResult, isStream = false): ExecutedJob {
  return { result, body: JSON.stringify(result), isStream };
}

/** The job's record in the simulator's ledger. */
function record(sim: Simulator) {
  const found = sim.report().jobs.find((job) => job.id === JOB);
  assert.ok(found, `no record of ${JOB}`);
  return found;
}

/** The job-done posts, as `progress:<output>` or `final:<body>`. */
function donePosts(sim: Simulator): string[] {
  return sim.requests.filter((r) => r.route === "job-done").map((r) => {
    const body = JSON.parse(r.body!) as { status?: string; output?: unknown };
    return body.status === "IN_PROGRESS"
      ? `progress:${JSON.stringify(body.output)}`
      : `final:${r.body}`;
  });
}

/** The lines at one level. */
function at(lines: LogLine[], level: LogLine["level"]): string[] {
  return lines.filter((line) => line.level === level).map((line) => line.message);
}

// --- progress (§8) ---

test('JobChannel.progress() posts {"status":"IN_PROGRESS","output":...} to job-done', async () => {
  const { sim, channel } = setup();
  await channel.progress({ step: 1, of: 3 });
  const [request] = sim.requests;
  assert.equal(request!.route, "job-done");
  assert.equal(request!.method, "POST");
  assert.equal(request!.path, `/v2/ep/job-done/pod-test/${JOB}`);
  assert.deepEqual(request!.query, { gpu: "SIM", isStream: "false" });
  assert.deepEqual(JSON.parse(request!.body!), {
    status: "IN_PROGRESS",
    output: { step: 1, of: 3 },
  });
  assert.equal(request!.headers["x-request-id"], JOB);
  assert.equal(request!.headers["content-type"], "application/x-www-form-urlencoded");
  assert.deepEqual(record(sim).progress, [{ step: 1, of: 3 }]);
  assert.equal(record(sim).results.length, 0);
});

test("JobChannel.progress() logs an update JSON cannot carry; not awaited, it rejects nothing unhandled", async () => {
  const { sim, channel, lines } = setup();
  void channel.progress({ n: 1n }); // as a handler ported from Python calls it
  await new Promise((resolve) => setTimeout(resolve, 0)); // where an unhandled rejection fires
  assert.equal(at(lines, "warn").length, 1);
  assert.match(
    at(lines, "warn")[0]!,
    /^Cannot send progress as it is not JSON-serialisable: output\.n is a BigInt/,
  );
  await assert.rejects(channel.progress({ n: 2n }), TypeError); // awaited, the error is seen
  assert.equal(sim.requests.length, 0);
});

test("JobChannel.progress() posts updates one at a time, in order", async () => {
  const { sim, channel } = setup();
  await channel.progress("10%");
  await channel.progress("20%");
  await channel.progress(null);
  assert.deepEqual(record(sim).progress, ["10%", "20%", null]);
});

test("JobChannel.progress() keeps only the newest update while a post is in flight", async () => {
  const { sim, gates, channel } = setup();
  gates.hold(0);
  const settled: string[] = [];
  const first = channel.progress(1).then(() => settled.push("first"));
  await gates.arrived(0);
  const second = channel.progress(2).then(() => settled.push("second"));
  const third = channel.progress(3).then(() => settled.push("third"));
  const fourth = channel.progress(4).then(() => settled.push("fourth"));
  await Promise.resolve();
  await Promise.resolve();
  // Superseded updates settle at once, while the first post is still held.
  assert.deepEqual(settled, ["second", "third"]);
  gates.release(0);
  await Promise.all([first, second, third, fourth]);
  assert.deepEqual(settled, ["second", "third", "first", "fourth"]);
  assert.deepEqual(record(sim).progress, [1, 4]);
  assert.equal(sim.requests.length, 2);
});

test("JobChannel.progress() rejects an unserialisable update with a TypeError and posts nothing", async () => {
  const { sim, channel } = setup();
  for (const update of [10n, new Map([["a", 1]]), { nested: { bad: () => 1 } }]) {
    await assert.rejects(channel.progress(update), (error: unknown) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /JSON/);
      return true;
    });
  }
  assert.equal(sim.requests.length, 0);
  await channel.progress("still works");
  assert.deepEqual(record(sim).progress, ["still works"]);
});

test("JobChannel.progress() logs a failed progress post and settles", async () => {
  const { sim, channel, lines } = setup({ retry: { minDelay: 0, maxDelay: 1, maxAttempts: 2 } });
  sim.fault("job-done", { status: 500 }, { times: 2 });
  await channel.progress("lost");
  assert.equal(sim.requests.length, 2);
  assert.equal(at(lines, "warn").length + at(lines, "error").length, 1);
  await channel.progress("next");
  assert.deepEqual(record(sim).progress, ["next"]);
});

// --- finish (§6, #250) ---

test("JobChannel.finish() posts the final result and logs Finished.", async () => {
  const { sim, channel, lines } = setup();
  const ok = await channel.finish(executed({ output: { answer: 42 } }));
  assert.equal(ok, true);
  const [request] = sim.requests;
  assert.deepEqual(request!.query, { gpu: "SIM", isStream: "false" });
  assert.equal(request!.headers["x-request-id"], JOB);
  assert.deepEqual(record(sim).results.map((r) => [r.body, r.isStream]), [
    [{ output: { answer: 42 } }, false],
  ]);
  assert.deepEqual(at(lines, "info"), ["Finished."]);
  assert.deepEqual(at(lines, "error"), []);
});

test("JobChannel.finish() posts a streamed job's final result with isStream=true", async () => {
  const { sim, channel } = setup();
  assert.equal(await channel.finish(executed({ output: [] }, true)), true);
  assert.deepEqual(sim.requests[0]!.query, { gpu: "SIM", isStream: "true" });
  assert.equal(record(sim).results[0]!.isStream, true);
});

test("JobChannel.finish() waits for queued progress before posting the final result", async () => {
  const { sim, gates, channel } = setup();
  gates.hold(0);
  const first = channel.progress("a");
  await gates.arrived(0);
  const newest = channel.progress("b");
  const finishing = channel.finish(executed({ output: "done" }));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(sim.requests.length, 0, "the held progress post has not reached the simulator");
  gates.release(0);
  assert.equal(await finishing, true);
  await Promise.all([first, newest]);
  assert.deepEqual(donePosts(sim), ['progress:"a"', 'progress:"b"', 'final:{"output":"done"}']);
  assert.equal(record(sim).progressAfterFinal, false);
  assert.deepEqual(sim.report().progressAfterFinal, []);
});

test("JobChannel.progress() after finish() is ignored with a warning", async () => {
  const { sim, channel, lines } = setup();
  await channel.finish(executed({ output: 1 }));
  await channel.progress("late");
  assert.deepEqual(donePosts(sim), ['final:{"output":1}']);
  assert.deepEqual(record(sim).progress, []);
  assert.equal(at(lines, "warn").length, 1);
  assert.match(at(lines, "warn")[0]!, /progress/i);
});

test("JobChannel.progress() during finish() is ignored, never overtaking the final", async () => {
  const { sim, gates, channel, lines } = setup();
  gates.hold(0);
  const finishing = channel.finish(executed({ output: 1 }));
  await gates.arrived(0);
  await channel.progress("racing");
  gates.release(0);
  await finishing;
  assert.deepEqual(donePosts(sim), ['final:{"output":1}']);
  assert.equal(at(lines, "warn").length, 1);
});

// --- failed finals (§6.3, #309) ---

test("JobChannel.finish() follows a final refused with 4xx by a small FAILED result", async () => {
  const { sim, channel, lines } = setup();
  sim.fault("job-done", { status: 400, body: "payload too large" });
  const big = executed({ output: "x".repeat(10_000) });
  assert.equal(await channel.finish(big), true);
  const results = record(sim).results;
  assert.equal(results.length, 1);
  const body = results[0]!.body as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.equal(typeof body.error, "string");
  assert.match(body.error as string, /400/);
  assert.ok(JSON.stringify(body).length < 2000, "the FAILED result is small");
  assert.equal(record(sim).attempts, 2);
  assert.ok(at(lines, "error").length >= 1);
  assert.deepEqual(at(lines, "info"), ["Finished."]);
});

test("JobChannel.finish() keeps stopPod in the FAILED result", async () => {
  const { sim, channel } = setup();
  sim.fault("job-done", { status: 413, body: "too big" });
  assert.equal(await channel.finish(executed({ output: "big", stopPod: true })), true);
  const body = record(sim).results[0]!.body as Record<string, unknown>;
  assert.equal(body.stopPod, true);
  assert.match(body.error as string, /413/);
});

test("JobChannel.finish() logs Failed to return job results. when retries run out", async () => {
  const { sim, channel, lines } = setup({ retry: { minDelay: 0, maxDelay: 1, maxAttempts: 3 } });
  sim.fault("job-done", { status: 500 }, { times: Infinity });
  assert.equal(await channel.finish(executed({ output: 1 })), false);
  assert.equal(record(sim).attempts, 3, "5xx is retried, never replaced by a FAILED result");
  const errors = at(lines, "error");
  assert.equal(errors.length, 1);
  assert.ok(errors[0]!.startsWith("Failed to return job results."), errors[0]);
  assert.deepEqual(at(lines, "info"), ["Finished."]);
});

test("JobChannel.finish() logs Failed to return job results. after network errors", async () => {
  const { sim, channel, lines } = setup({ retry: { minDelay: 0, maxDelay: 1, maxAttempts: 2 } });
  sim.fault("job-done", { drop: true }, { times: Infinity });
  assert.equal(await channel.finish(executed({ output: 1 })), false);
  assert.equal(sim.requests.length, 2);
  const errors = at(lines, "error");
  assert.equal(errors.length, 1);
  assert.ok(errors[0]!.startsWith("Failed to return job results."), errors[0]);
  assert.deepEqual(at(lines, "info"), ["Finished."]);
});

test("JobChannel.finish() logs Failed to return job results. when the FAILED result is refused too", async () => {
  const { sim, channel, lines } = setup();
  sim.fault("job-done", { status: 400 }, { times: Infinity });
  assert.equal(await channel.finish(executed({ output: 1 })), false);
  assert.equal(sim.requests.length, 2);
  assert.ok(at(lines, "error").some((m) => m.startsWith("Failed to return job results.")));
  assert.deepEqual(at(lines, "info"), ["Finished."]);
});

test("JobChannel.finish() logs Failed to return job results. when RUNPOD_WEBHOOK_POST_OUTPUT is unset", async () => {
  // §6.3: a result that cannot be delivered is logged and dropped; §6.1: Finished. is logged
  // even then. readRunPodEnv() only warns for the missing template.
  const sim = createSimulator({ longPollMs: 0 });
  const vars: Record<string, string | undefined> = {
    ...sim.env("http://sim.test"),
    RUNPOD_WEBHOOK_POST_OUTPUT: undefined,
  };
  const env = readRunPodEnv((name) => vars[name], TEST_WORKER_INFO);
  const client = new RunPodClient({ http: simHttp(sim).http, env, info: TEST_WORKER_INFO });
  const { log, lines } = recordingLogger();
  const channel = new JobChannel({ client, jobId: JOB, log });
  let progressSettled = false;
  const progress = channel.progress("half").finally(() => (progressSettled = true));
  progress.catch(() => {});
  assert.equal(await channel.finish(executed({ output: 1 })), false);
  await Promise.resolve();
  assert.equal(progressSettled, true, "the progress promise settles");
  assert.ok(at(lines, "error").some((m) => m.startsWith("Failed to return job results.")));
  assert.deepEqual(at(lines, "info"), ["Finished."]);
  assert.equal(sim.requests.length, 0);
});

// --- stream chunks ---

test("JobChannel.sink() posts each chunk to job-stream", async () => {
  const { sim, channel } = setup();
  const writer = channel.sink().getWriter();
  await writer.write("a");
  await writer.write({ b: 1 });
  await writer.close();
  assert.deepEqual(record(sim).chunks, ["a", { b: 1 }]);
  assert.ok(sim.requests.every((r) => r.route === "job-stream" && r.query.isStream === "false"));
});

// --- outages (issue 11) ---

/** The job's requests of one route that were answered with an error or cut. */
function failedPosts(sim: Simulator, route: "job-done" | "job-stream"): number {
  return sim.requests.filter((r) => r.route === route && r.fault !== undefined).length;
}

test("JobChannel.finish() delivers the result after an outage far longer than 6 attempts", async () => {
  const { sim, channel, lines } = setup();
  sim.fault("job-done", { status: 503 }, { times: Infinity });
  const finishing = channel.finish(executed({ output: "kept" }));
  await sim.waitFor(() => failedPosts(sim, "job-done") >= 20);
  sim.clearFaults();
  assert.equal(await finishing, true);
  assert.deepEqual(record(sim).results.map((r) => r.body), [{ output: "kept" }]);
  assert.deepEqual(at(lines, "error"), []);
});

test("JobChannel.finish() resolves false when the delivery signal aborts, and says why", async () => {
  const controller = new AbortController();
  const { sim, channel, lines } = setup({ signal: controller.signal });
  sim.fault("job-done", { status: 503 }, { times: Infinity });
  const finishing = channel.finish(executed({ output: 1 }));
  await sim.waitFor(() => failedPosts(sim, "job-done") >= 8);
  controller.abort(new Error("the grace after the drain deadline passed"));
  assert.equal(await finishing, false);
  assert.equal(record(sim).results.length, 0);
  const errors = at(lines, "error");
  assert.equal(errors.length, 1);
  assert.match(
    errors[0]!,
    /^Failed to return job results\. \| HTTP 503 \(after \d+ attempts\); retries stopped at the drain deadline and its grace$/,
  );
});

test("JobChannel.sink() holds chunks through a job-stream outage: the writer is paused, nothing is dropped, order is kept", async () => {
  const { sim, channel } = setup({ bufferSize: 2 });
  sim.fault("job-stream", { drop: true }, { times: Infinity });
  try {
    const writer = channel.sink().getWriter();
    let written = 0;
    const writes: Promise<void>[] = [];
    // A writer that honours backpressure, as executeJob does.
    while (writer.desiredSize! > 0) writes.push(writer.write(written++));
    await sim.waitFor(() => failedPosts(sim, "job-stream") >= 10);
    assert.equal(written, 2, "the buffer filled and the writer stopped");
    assert.equal(writer.desiredSize, 0);
    assert.equal(sim.ledger.get(JOB), undefined, "nothing got through yet");
    sim.clearFaults();
    for (; written < 8; written++) {
      await writer.ready;
      writes.push(writer.write(written));
    }
    await writer.close();
    await Promise.all(writes);
    assert.deepEqual(record(sim).chunks, [0, 1, 2, 3, 4, 5, 6, 7]);
  } finally {
    sim.clearFaults(); // never leave a post retrying after a failed assertion
  }
});

test("JobChannel.finish() waits for the chunk still retrying: the final result follows the last chunk", async () => {
  const { sim, channel } = setup();
  sim.fault("job-stream", { status: 502 }, { times: Infinity });
  const writer = channel.sink().getWriter();
  const chunk = writer.write("last words");
  await sim.waitFor(() => failedPosts(sim, "job-stream") >= 1);
  writer.close().catch(() => {});
  const finishing = channel.finish(executed({ output: ["last words"] }, true));
  await sim.waitFor(() => failedPosts(sim, "job-stream") >= 8);
  assert.equal(sim.requests.filter((r) => r.route === "job-done").length, 0, "no final yet");
  sim.clearFaults();
  await chunk;
  assert.equal(await finishing, true);
  const routes = sim.requests.filter((r) => r.fault === undefined).map((r) => r.route);
  assert.deepEqual(routes, ["job-stream", "job-done"]);
  assert.deepEqual(sim.report().chunksAfterFinal, []);
});

test("JobChannel.progress() during a job-done outage drops stale updates, never the latest", async () => {
  const { sim, channel } = setup();
  sim.fault("job-done", { status: 503 }, { times: Infinity });
  const first = channel.progress("10%");
  await sim.waitFor(() => failedPosts(sim, "job-done") >= 3);
  const second = channel.progress("20%");
  const third = channel.progress("30%");
  await first; // superseded while retrying: it stops and settles
  await sim.waitFor(() => failedPosts(sim, "job-done") >= 8);
  sim.clearFaults();
  await Promise.all([second, third]);
  const progress = record(sim).progress;
  assert.equal(progress.at(-1), "30%");
  assert.ok(!progress.includes("20%"), "the stale update in between is dropped");
  assert.equal(await channel.finish(executed({ output: "done" })), true);
  assert.deepEqual(sim.report().progressAfterFinal, []);
});
