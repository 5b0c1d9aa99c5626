/**
 * `RunPodClient` and `describeError` against protocol §3.1–3.2 (take), §4.5 (stop channel),
 * §6 (result posts: headers, retries) and §12 (retry network errors, honour `Retry-After`),
 * over the in-memory simulator or a scripted `HttpClient`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { deferred } from "../src/async/deferred.ts";
import type { HttpClient } from "../src/http_client.ts";
import { describeError, type PostRetryOptions, RunPodClient } from "../src/pull/runpod_client.ts";
import { readRunPodEnv, type RunPodEnv } from "../src/pull/runpod_env.ts";
import { createSimulator, type Simulator } from "../src/simulator/mod.ts";
import type { SimulatorOptions } from "../src/simulator/simulator_options.ts";
import {
  httpResponse,
  type RecordingHttp,
  recordingLogger,
  scriptedHttp,
  simHttp,
  TEST_WORKER_INFO,
} from "./support/http_doubles.ts";

const API_KEY = "rp_raw_key";
const FAST_RETRY: PostRetryOptions = { minDelay: 0, maxDelay: 1 };

/** The environment of a worker pointed at `http://sim.test`. */
function envFor(sim: Simulator, overrides: Record<string, string | undefined> = {}): RunPodEnv {
  const vars: Record<string, string | undefined> = {
    ...sim.env("http://sim.test"),
    RUNPOD_AI_API_KEY: API_KEY,
    ...overrides,
  };
  return readRunPodEnv((name) => vars[name], TEST_WORKER_INFO);
}

/** A client over an in-memory simulator. */
function onSimulator(
  options: {
    sim?: SimulatorOptions;
    env?: Record<string, string | undefined>;
    retry?: PostRetryOptions;
  } = {},
): { sim: Simulator; client: RunPodClient; http: RecordingHttp } {
  const sim = createSimulator({ longPollMs: 0, apiKey: API_KEY, ...options.sim });
  const http = simHttp(sim);
  const client = new RunPodClient({
    http: http.http,
    env: envFor(sim, options.env),
    info: TEST_WORKER_INFO,
    retry: options.retry ?? FAST_RETRY,
  });
  return { sim, client, http };
}

/** A client over a scripted `HttpClient`, with the simulator's URL shapes. */
function onScript(
  http: HttpClient,
  options: { env?: Record<string, string | undefined>; retry?: PostRetryOptions } = {},
): RunPodClient {
  return new RunPodClient({
    http,
    env: envFor(createSimulator(), options.env),
    info: TEST_WORKER_INFO,
    retry: options.retry ?? FAST_RETRY,
  });
}

// --- take (§3.1, §3.2) ---

test("RunPodClient.take() asks job-take for one job with the raw API key", async () => {
  const { sim, client } = onSimulator();
  sim.enqueue({ id: "j1", input: { prompt: "hi" }, webhook: null });
  const outcome = await client.take(1, false);
  assert.deepEqual(outcome, {
    kind: "jobs",
    jobs: [{ id: "j1", input: { prompt: "hi" }, webhook: null }],
    rejected: [],
  });
  const [request] = sim.requests;
  assert.equal(request!.route, "job-take");
  assert.equal(request!.method, "GET");
  assert.equal(request!.path, "/v2/ep/job-take/pod-test");
  assert.deepEqual(request!.query, { gpu: "SIM", job_in_progress: "0" });
  assert.equal(request!.headers.authorization, API_KEY);
  assert.equal(request!.headers["x-request-id"], undefined);
  assert.equal(sim.counters.unauthorized, 0);
});

test("RunPodClient.take() asks job-take-batch with batch_size for several jobs", async () => {
  const { sim, client } = onSimulator();
  sim.enqueueMany([{ id: "a", input: 1 }, { id: "b", input: 2 }, { id: "c", input: 3 }]);
  const outcome = await client.take(2, true);
  assert.equal(outcome.kind, "jobs");
  assert.deepEqual(
    (outcome as { jobs: { id: string }[] }).jobs.map((job) => job.id),
    ["a", "b"],
  );
  const [request] = sim.requests;
  assert.equal(request!.route, "job-take-batch");
  assert.equal(request!.path, "/v2/ep/job-take-batch/pod-test");
  assert.deepEqual(request!.query, { gpu: "SIM", batch_size: "2", job_in_progress: "1" });
  assert.equal(request!.headers.authorization, API_KEY);
  assert.equal(sim.queued, 1);
});

test("RunPodClient.take() reads an empty queue's 204 as no job", async () => {
  const { client } = onSimulator();
  assert.equal((await client.take(1, false)).kind, "none");
});

test("RunPodClient.take() sends no Bearer prefix and a User-Agent starting edgepod/", async () => {
  const http = scriptedHttp(() => httpResponse(204));
  const client = new RunPodClient({
    http: http.http,
    env: envFor(createSimulator()),
    info: TEST_WORKER_INFO,
    integration: "my-integration/2",
  });
  await client.take(1, false);
  const headers = new Headers(http.requests[0]!.headers);
  assert.equal(headers.get("authorization"), API_KEY);
  const agent = headers.get("user-agent") ?? "";
  assert.ok(agent.startsWith("edgepod/"), agent);
  assert.ok(agent.includes(TEST_WORKER_INFO.version), agent);
  assert.ok(agent.includes("Integration/my-integration/2"), agent);
});

test("RunPodClient sends the same User-Agent on take, stop, posts and pings", async () => {
  const http = scriptedHttp(() => httpResponse(204));
  const client = onScript(http.http);
  await client.take(1, false);
  await client.stops();
  await client.postDone("j1", "{}", false);
  await client.postStream("j1", '{"output":1}');
  await client.ping({ status: "unhealthy" }, 1000);
  assert.equal(http.requests.length, 5);
  for (const request of http.requests) {
    const agent = new Headers(request.headers).get("user-agent") ?? "";
    assert.ok(agent.startsWith("edgepod/"), `${request.url}: ${agent}`);
  }
});

test("RunPodClient.take() reports a network error as an error outcome", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-take", { drop: true });
  const outcome = await client.take(1, false);
  assert.equal(outcome.kind, "error");
  assert.ok((outcome as { message: string }).message.length > 0);
  const refused = onScript(
    scriptedHttp(() => {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED") });
    }).http,
  );
  const second = await refused.take(1, false);
  assert.equal(second.kind, "error");
  assert.match((second as { message: string }).message, /fetch failed/);
});

test("RunPodClient.take() reads 429, 500 and malformed jobs through readTakeResponse", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-take", { status: 429, headers: { "Retry-After": "4" } });
  assert.deepEqual(await client.take(1, false), { kind: "throttled", retryAfterMs: 4000 });
  sim.fault("job-take", { status: 500, body: "boom" });
  assert.equal((await client.take(1, false)).kind, "error");
  sim.enqueueRaw({ id: "no-input" });
  const outcome = await client.take(1, false);
  assert.equal(outcome.kind, "jobs");
  assert.deepEqual((outcome as { rejected: { id?: string }[] }).rejected.map((r) => r.id), [
    "no-input",
  ]);
});

test("RunPodClient.take() rejects with the signal's reason when aborted", async () => {
  const { sim, client } = onSimulator({ sim: { longPollMs: 60_000 } });
  try {
    const controller = new AbortController();
    const taking = client.take(1, false, controller.signal);
    await sim.waitFor(() => sim.held.take === 1);
    const reason = new Error("shutting down");
    controller.abort(reason);
    await assert.rejects(taking, (error) => error === reason);
  } finally {
    sim.close();
  }
});

test("RunPodClient.take() rejects with the reason even when the client throws its own error", async () => {
  const http = scriptedHttp((request) =>
    new Promise((_, reject) => {
      request.signal!.addEventListener(
        "abort",
        () => reject(new DOMException("The operation was aborted", "AbortError")),
      );
    })
  );
  const client = onScript(http.http);
  const controller = new AbortController();
  const taking = client.take(1, false, controller.signal);
  const reason = new Error("stop taking");
  controller.abort(reason);
  await assert.rejects(taking, (error) => error === reason);
});

test("RunPodClient.take() rejects with the reason of a signal aborted before the call", async () => {
  const { client } = onSimulator();
  const reason = new Error("already stopped");
  await assert.rejects(client.take(1, false, AbortSignal.abort(reason)), (e) => e === reason);
});

// --- stop channel (§4.5) ---

test("RunPodClient.stops() polls job-stop with the take URL's query and returns the ids", async () => {
  const { sim, client } = onSimulator();
  sim.stop("j1", { workerId: "*" });
  sim.stop("sync-0f3e-e1", { workerId: "*" });
  assert.deepEqual(await client.stops(), { kind: "stop", ids: ["j1", "sync-0f3e-e1"], ignored: 0 });
  const [request] = sim.requests;
  assert.equal(request!.route, "job-stop");
  assert.equal(request!.path, "/v2/ep/job-stop/pod-test");
  assert.deepEqual(request!.query, { gpu: "SIM" });
  assert.equal(request!.headers.authorization, API_KEY);
});

test("RunPodClient.stops() drops non-string ids and counts them as ignored", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-stop", {
    body: '{"jobsToStop": ["a", 1, null, {"id": "b"}, ["c"], "d"]}',
    contentType: "application/json",
  });
  assert.deepEqual(await client.stops(), { kind: "stop", ids: ["a", "d"], ignored: 4 });
});

test("RunPodClient.stops() reads 204 as no stop", async () => {
  const { client } = onSimulator();
  assert.deepEqual(await client.stops(), { kind: "none" });
});

test("RunPodClient.stops() reads 429 as throttled, honouring Retry-After", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-stop", { status: 429, headers: { "Retry-After": "7" } });
  assert.deepEqual(await client.stops(), { kind: "throttled", retryAfterMs: 7000 });
  sim.fault("job-stop", { status: 429 });
  const bare = await client.stops();
  assert.equal(bare.kind, "throttled");
  assert.equal((bare as { retryAfterMs?: number }).retryAfterMs, undefined);
});

test("RunPodClient.stops() reads 500 and other errors as an error naming the status", async () => {
  const { sim, client } = onSimulator();
  for (const status of [500, 503, 404]) {
    sim.fault("job-stop", { status, body: "nope" });
    const outcome = await client.stops();
    assert.equal(outcome.kind, "error", String(status));
    assert.match((outcome as { message: string }).message, new RegExp(String(status)));
  }
});

test("RunPodClient.stops() reads a body that is not JSON as no stop, with a message", async () => {
  const { sim, client } = onSimulator();
  for (const body of ["<html>", "", "{"]) {
    sim.fault("job-stop", { body, contentType: "application/json" });
    const outcome = await client.stops();
    assert.equal(outcome.kind, "error", body);
    assert.match((outcome as { message: string }).message, /JSON/, body);
  }
});

test("RunPodClient.stops() reads a jobsToStop that is not a list as no stop, with a message", async () => {
  const { sim, client } = onSimulator();
  for (const body of ['{"jobsToStop": "j1"}', '{"jobsToStop": null}', "{}", "[]", "null", '"x"']) {
    sim.fault("job-stop", { body, contentType: "application/json" });
    const outcome = await client.stops();
    assert.equal(outcome.kind, "error", body);
    assert.match((outcome as { message: string }).message, /jobsToStop/, body);
  }
});

test("RunPodClient.stops() reads a network error as an error outcome", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-stop", { drop: true });
  assert.equal((await client.stops()).kind, "error");
});

test("RunPodClient.stops() sends nothing when the stop channel is disabled", async () => {
  const http = scriptedHttp(() => httpResponse(500));
  const client = onScript(http.http, {
    env: { RUNPOD_WEBHOOK_GET_JOB: "http://sim.test/v2/ep/take/$ID?gpu=SIM" },
  });
  assert.deepEqual(await client.stops(), { kind: "none" });
  assert.equal(http.requests.length, 0);
});

test("RunPodClient.stops() rejects with the signal's reason when aborted", async () => {
  const { sim, client } = onSimulator({ sim: { longPollMs: 60_000 } });
  try {
    const controller = new AbortController();
    const polling = client.stops(controller.signal);
    await sim.waitFor(() => sim.held.stop === 1);
    const reason = new Error("shutting down");
    controller.abort(reason);
    await assert.rejects(polling, (error) => error === reason);
  } finally {
    sim.close();
  }
});

// --- result posts (§6.1) ---

test("RunPodClient.postDone() posts to job-done with RunPod's headers", async () => {
  const { sim, client } = onSimulator();
  const body = JSON.stringify({ output: { text: "héllo ✓" } });
  const outcome = await client.postDone("sync-0f3e-e1", body, false);
  assert.deepEqual(outcome, { ok: true, status: 200, body: "", attempts: 1 });
  const [request] = sim.requests;
  assert.equal(request!.route, "job-done");
  assert.equal(request!.method, "POST");
  assert.equal(request!.path, "/v2/ep/job-done/pod-test/sync-0f3e-e1");
  assert.deepEqual(request!.query, { gpu: "SIM", isStream: "false" });
  assert.deepEqual(request!.headers, {
    authorization: API_KEY,
    "content-type": "application/x-www-form-urlencoded",
    charset: "utf-8",
    "x-request-id": "sync-0f3e-e1",
  });
  assert.equal(request!.body, body);
  const record = sim.report().jobs.find((job) => job.id === "sync-0f3e-e1")!;
  assert.deepEqual(record.results.map((r) => [r.body, r.isStream, r.requestId]), [
    [{ output: { text: "héllo ✓" } }, false, "sync-0f3e-e1"],
  ]);
});

test("RunPodClient.postDone() sets isStream=true for a streamed job", async () => {
  const { sim, client } = onSimulator();
  await client.postDone("j1", '{"output":[]}', true);
  assert.deepEqual(sim.requests[0]!.query, { gpu: "SIM", isStream: "true" });
  assert.equal(sim.report().jobs[0]!.results[0]!.isStream, true);
});

test("RunPodClient.postStream() posts a chunk to job-stream with isStream=false", async () => {
  const { sim, client } = onSimulator();
  const outcome = await client.postStream("j1", '{"output":"tok"}');
  assert.equal(outcome.ok, true);
  const [request] = sim.requests;
  assert.equal(request!.route, "job-stream");
  assert.equal(request!.path, "/v2/ep/job-stream/pod-test/j1");
  assert.deepEqual(request!.query, { gpu: "SIM", isStream: "false" });
  assert.equal(request!.headers["content-type"], "application/x-www-form-urlencoded");
  assert.equal(request!.headers.charset, "utf-8");
  assert.equal(request!.headers["x-request-id"], "j1");
  assert.deepEqual(sim.report().jobs[0]!.chunks, ["tok"]);
});

test("RunPodClient sends X-Request-ID only on the post it belongs to", async () => {
  const { sim, client } = onSimulator();
  await client.postDone("j1", '{"output":1}', false);
  await client.take(1, false);
  await client.stops();
  await client.postDone("j2", '{"output":2}', false);
  assert.deepEqual(sim.requests.map((r) => r.headers["x-request-id"]), [
    "j1",
    undefined,
    undefined,
    "j2",
  ]);
  assert.equal(sim.counters.pollsWithRequestId, 0);
});

test("RunPodClient.postDone() resolves with ok: false when RUNPOD_WEBHOOK_POST_OUTPUT is unset", async () => {
  // readRunPodEnv() only warns for a missing template ("results cannot be posted"); posting
  // must then fail as an outcome (§6.3: logged and dropped), not throw.
  const http = scriptedHttp(() => httpResponse(200));
  const client = onScript(http.http, {
    env: { RUNPOD_WEBHOOK_POST_OUTPUT: undefined, RUNPOD_WEBHOOK_POST_STREAM: undefined },
  });
  const done = await Promise.resolve().then(() => client.postDone("j1", '{"output":1}', false));
  assert.equal(done.ok, false);
  const chunk = await Promise.resolve().then(() => client.postStream("j1", '{"output":1}'));
  assert.equal(chunk.ok, false);
});

// --- retries (§6.2, §12) ---

test("RunPodClient.postDone() retries 500 and 503 until the post is accepted", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-done", { status: 500 });
  sim.fault("job-done", { status: 503 });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.status, 200);
  assert.equal(outcome.attempts, 3);
  assert.deepEqual(sim.requests.map((r) => r.status), [500, 503, 200]);
  assert.equal(sim.report().jobs[0]!.results.length, 1);
});

test("RunPodClient.postDone() gives up after maxAttempts, returning the last status", async () => {
  const { sim, client } = onSimulator({ retry: { ...FAST_RETRY, maxAttempts: 4 } });
  sim.fault("job-done", { status: 502, body: "bad gateway" }, { times: Infinity });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, false);
  assert.equal(outcome.status, 502);
  assert.equal(outcome.body, "bad gateway");
  assert.equal(outcome.attempts, 4);
  assert.equal(sim.requests.length, 4);
  assert.equal(sim.report().jobs[0]!.results.length, 0);
});

test("RunPodClient.postDone() retries network errors", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-done", { drop: true }, { times: 2 });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 3);
  assert.equal(sim.report().jobs[0]!.results.length, 1);
});

test("RunPodClient.postDone() gives up on network errors after maxAttempts", async () => {
  const refused = new TypeError("fetch failed");
  const http = scriptedHttp(() => {
    throw refused;
  });
  const client = onScript(http.http, { retry: { ...FAST_RETRY, maxAttempts: 3 } });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, false);
  assert.equal(outcome.status, undefined);
  assert.equal(outcome.error, refused);
  assert.equal(outcome.attempts, 3);
  assert.equal(http.requests.length, 3);
});

test("RunPodClient.postStream() retries like postDone()", async () => {
  const { sim, client } = onSimulator({ retry: { ...FAST_RETRY, maxAttempts: 2 } });
  sim.fault("job-stream", { status: 500 });
  assert.deepEqual(await client.postStream("j1", '{"output":"a"}'), {
    ok: true,
    status: 200,
    body: "",
    attempts: 2,
  });
});

test("RunPodClient.postDone() retries 429 honouring Retry-After", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-done", { status: 429, headers: { "Retry-After": "0" } }, { times: 2 });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 3);
  assert.deepEqual(sim.requests.map((r) => r.status), [429, 429, 200]);
});

test("RunPodClient.postDone() retries 429 without Retry-After on its own back-off", async () => {
  const { sim, client } = onSimulator({ retry: { ...FAST_RETRY, maxAttempts: 2 } });
  sim.fault("job-done", { status: 429 }, { times: Infinity });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, false);
  assert.equal(outcome.status, 429);
  assert.equal(outcome.attempts, 2);
});

test("RunPodClient.postDone() does not retry a 4xx and reports its status", async () => {
  for (const status of [400, 401, 404, 413]) {
    const { sim, client } = onSimulator();
    sim.fault("job-done", { status, body: `refused ${status}` }, { times: Infinity });
    const outcome = await client.postDone("j1", '{"output":"big"}', false);
    assert.deepEqual(outcome, { ok: false, status, body: `refused ${status}`, attempts: 1 });
    assert.equal(sim.requests.length, 1, String(status));
  }
});

// --- ping (§7.3) ---

test("RunPodClient.ping() sends the unhealthy report as query parameters on the ping URL", async () => {
  const { sim, client } = onSimulator();
  const ok = await client.ping({
    status: "unhealthy",
    check: "gpuAvailable",
    reason: "no GPU & no luck",
    runpod_version: "0.1.0",
  }, 5000);
  assert.equal(ok, true);
  assert.equal(sim.unhealthy.length, 1);
  const [report] = sim.unhealthy;
  assert.equal(report!.workerId, "pod-test");
  assert.equal(report!.check, "gpuAvailable");
  assert.equal(report!.reason, "no GPU & no luck");
  assert.equal(report!.runpodVersion, "0.1.0");
  const [request] = sim.requests;
  assert.equal(request!.path, "/v2/ep/ping/pod-test");
  assert.equal(request!.query.gpu, "SIM");
  assert.equal(request!.headers.authorization, API_KEY);
});

test("RunPodClient.ping() returns false without an API key and sends nothing", async () => {
  const http = scriptedHttp(() => httpResponse(200));
  const client = onScript(http.http, { env: { RUNPOD_AI_API_KEY: undefined } });
  assert.equal(await client.ping({ status: "unhealthy" }, 1000), false);
  assert.equal(http.requests.length, 0);
});

test("RunPodClient.ping() returns false without a ping URL and sends nothing", async () => {
  const http = scriptedHttp(() => httpResponse(200));
  const client = onScript(http.http, { env: { RUNPOD_WEBHOOK_PING: undefined } });
  assert.equal(await client.ping({ status: "unhealthy" }, 1000), false);
  assert.equal(http.requests.length, 0);
});

test("RunPodClient.ping() returns false on an error status or a network error", async () => {
  const { sim, client } = onSimulator();
  sim.fault("ping", { status: 500 });
  assert.equal(await client.ping({ status: "unhealthy" }, 5000), false);
  sim.fault("ping", { drop: true });
  assert.equal(await client.ping({ status: "unhealthy" }, 5000), false);
  assert.equal(await client.ping({ status: "unhealthy" }, 5000), true);
});

// --- describeError ---

test("describeError() gives the name, the message and the cause", () => {
  assert.equal(describeError(new TypeError("x")), "TypeError: x");
  assert.equal(
    describeError(new TypeError("fetch failed", { cause: new Error("ECONNREFUSED") })),
    "TypeError: fetch failed (Error: ECONNREFUSED)",
  );
  assert.equal(describeError("plain"), "plain");
  assert.equal(describeError(42), "42");
});

// --- timeouts (§12: per-operation timeouts) ---

test("RunPodClient posts give up on an attempt that gets no answer, then retry it", async () => {
  let calls = 0;
  const { http } = scriptedHttp(() => {
    // The first attempt never answers; the retry does.
    return ++calls === 1 ? new Promise(() => {}) : httpResponse(200, "{}");
  });
  const client = new RunPodClient({
    http,
    env: envFor(createSimulator()),
    info: TEST_WORKER_INFO,
    retry: FAST_RETRY,
    timeouts: { post: 1 },
  });
  const outcome = await client.postDone("job-1", '{"output":1}', false);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 2);
});

test("RunPodClient posts that never get an answer end as a TimeoutError outcome", async () => {
  const { http } = scriptedHttp(() => new Promise(() => {}));
  const client = new RunPodClient({
    http,
    env: envFor(createSimulator()),
    info: TEST_WORKER_INFO,
    retry: { maxAttempts: 2, minDelay: 0, maxDelay: 1 },
    timeouts: { post: 1 },
  });
  const outcome = await client.postStream("job-1", '{"output":"a"}');
  assert.equal(outcome.ok, false);
  assert.equal(outcome.attempts, 2);
  assert.equal((outcome.error as Error).name, "TimeoutError");
});

test("RunPodClient.take() aborts a long-poll past its timeout and reads it as no job", async () => {
  let aborted: unknown;
  const { http } = scriptedHttp((request) =>
    new Promise((_resolve, reject) => {
      request.signal!.addEventListener("abort", () => reject(aborted = request.signal!.reason));
    })
  );
  const client = new RunPodClient({
    http,
    env: envFor(createSimulator()),
    info: TEST_WORKER_INFO,
    timeouts: { poll: 1 },
  });
  const outcome = await client.take(1, false);
  assert.equal(outcome.kind, "none");
  assert.equal((aborted as Error).name, "TimeoutError");
});

// --- outages (issue 11: retried until delivered) ---

/** A client over an in-memory simulator whose log lines are recorded. */
function loggedOnSimulator(retry: PostRetryOptions = FAST_RETRY) {
  const sim = createSimulator({ longPollMs: 0, apiKey: API_KEY });
  const { log, lines } = recordingLogger();
  const client = new RunPodClient({
    http: simHttp(sim).http,
    env: envFor(sim),
    info: TEST_WORKER_INFO,
    retry,
    logger: log,
  });
  return { sim, client, lines };
}

test("RunPodClient.postDone() retries far past the old 6-attempt budget until delivered", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-done", { status: 503 }, { times: 40 });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 41);
  assert.equal(sim.ledger.get("j1")!.attempts, 41);
  assert.equal(sim.report().jobs[0]!.results.length, 1);
});

test("RunPodClient.postStream() retries a dropped connection until delivered", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-stream", { drop: true }, { times: 12 });
  const outcome = await client.postStream("j1", '{"output":"a"}');
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 13);
  assert.deepEqual(sim.ledger.get("j1")!.chunks, ["a"]);
});

test("RunPodClient posts stop retrying when their signal aborts, with aborted: true", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-done", { status: 503, body: "down" }, { times: Infinity });
  const controller = new AbortController();
  const posting = client.postDone("j1", '{"output":1}', false, { signal: controller.signal });
  await sim.waitFor(() => sim.requests.length >= 8);
  controller.abort(new Error("drain deadline and grace passed"));
  const outcome = await posting;
  assert.equal(outcome.ok, false);
  assert.equal(outcome.aborted, true);
  assert.equal(outcome.status, 503);
  assert.ok(outcome.attempts >= 8, `attempts ${outcome.attempts}`);
  assert.equal(sim.report().jobs[0]!.results.length, 0);
  // Aborted before the call: nothing is sent.
  const before = sim.requests.length;
  const late = await client.postDone("j2", "{}", false, { signal: controller.signal });
  assert.deepEqual([late.ok, late.aborted, late.attempts], [false, true, 0]);
  assert.equal(sim.requests.length, before);
});

test("RunPodClient posts end at once when their signal aborts during an attempt that gets no answer", async () => {
  let calls = 0;
  const second = deferred<void>();
  const { http } = scriptedHttp(() => {
    if (++calls === 1) return httpResponse(503, "");
    second.resolve();
    return new Promise(() => {}); // the retry hangs: no answer, no timeout soon
  });
  const client = onScript(http);
  const controller = new AbortController();
  const posting = client.postDone("j1", "{}", false, { signal: controller.signal });
  await second.promise;
  controller.abort(new Error("stop"));
  const outcome = await posting;
  assert.deepEqual([outcome.ok, outcome.aborted, outcome.attempts], [false, true, 2]);
});

test("RunPodClient posts stop retrying once superseded, but never abandon an attempt in flight", async () => {
  const { sim, client } = onSimulator();
  sim.fault("job-done", { status: 500 }, { times: Infinity });
  let newer = false;
  const posting = client.postDone("j1", '{"status":"IN_PROGRESS","output":1}', false, {
    kind: "progress",
    superseded: () => newer,
  });
  await sim.waitFor(() => sim.requests.length >= 3);
  newer = true;
  const outcome = await posting;
  assert.equal(outcome.aborted, true);
  assert.equal(outcome.attempts, sim.requests.length, "every attempt sent got its answer");
});

test("RunPodClient honours Retry-After on a 503 as on a 429", async () => {
  // The back-off would wait at most 1, 2 and 4 ms; the server asks for 50 ms each time.
  const { sim, client, lines } = loggedOnSimulator({ minDelay: 1, maxDelay: 10_000 });
  sim.fault("job-done", { status: 503, headers: { "Retry-After": "0.05" } }, { times: 2 });
  sim.fault("job-done", { status: 429, headers: { "Retry-After": "0.05" } });
  const outcome = await client.postDone("j1", '{"output":1}', false);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 4);
  const waits = lines.filter((l) => l.level === "debug").map((l) =>
    /retrying in (\d+) ms/.exec(l.message)?.[1]
  );
  assert.deepEqual(waits, ["50", "50", "50"]);
});

test("RunPodClient backs off with jitter and never waits longer than maxDelay", async () => {
  const { sim, client, lines } = loggedOnSimulator({ minDelay: 1, maxDelay: 4 });
  sim.fault("job-done", { status: 500 }, { times: 10 });
  assert.equal((await client.postDone("j1", "{}", false)).ok, true);
  const waits = lines.filter((l) => l.level === "debug").map((l) =>
    Number(/retrying in (\d+) ms/.exec(l.message)?.[1])
  );
  assert.equal(waits.length, 10);
  assert.ok(waits.every((w) => w >= 0 && w <= 4), waits.join());
});

test("RunPodClient logs an outage once when it starts and once when it ends, retries only at DEBUG", async () => {
  const { sim, client, lines } = loggedOnSimulator();
  sim.fault("job-done", { status: 503 }, { times: Infinity });
  const posts = ["a", "b", "c"].map((id) => client.postDone(id, '{"output":1}', false));
  await sim.waitFor(() => ["a", "b", "c"].every((id) => (sim.ledger.get(id)?.attempts ?? 0) >= 7));
  sim.clearFaults();
  const outcomes = await Promise.all(posts);
  assert.ok(outcomes.every((o) => o.ok && o.attempts >= 7));
  const operator = lines.filter((l) => l.level !== "debug");
  assert.equal(operator.length, 2, JSON.stringify(operator));
  assert.equal(operator[0]!.level, "warn");
  assert.equal(
    operator[0]!.message,
    "RunPod's job-done endpoint is failing (HTTP 503): holding 3 results (jobs a, b, c); retrying until it answers.",
  );
  assert.equal(operator[1]!.level, "info");
  assert.match(
    operator[1]!.message,
    /^RunPod's job-done endpoint answers again after \d+\.\d s; 3 posts delivered late\.$/,
  );
  assert.ok(lines.filter((l) => l.level === "debug").length >= 18, "one DEBUG line per retry");
});
