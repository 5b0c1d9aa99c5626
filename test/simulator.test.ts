import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createSimulator,
  FaultScript,
  type Simulator,
  type SimulatorEvent,
} from "../src/simulator/mod.ts";

const BASE = "http://sim/v2/ep";
const FORM = "application/x-www-form-urlencoded";

function get(sim: Simulator, path: string, init?: RequestInit): Promise<Response> {
  return sim.fetch(new Request(`${BASE}${path}`, init));
}

function post(
  sim: Simulator,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return sim.fetch(
    new Request(`${BASE}${path}`, {
      method: "POST",
      body,
      headers: { "content-type": FORM, charset: "utf-8", ...headers },
    }),
  );
}

function postDone(sim: Simulator, jobId: string, body: unknown, isStream = false) {
  return post(sim, `/job-done/w1/${jobId}?gpu=SIM&isStream=${isStream}`, JSON.stringify(body), {
    "x-request-id": jobId,
  });
}

test("job-take hands out one queued job as a JSON object", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const id = sim.enqueue({ id: "sync-1-e1", input: { prompt: "hi" }, webhook: null, extra: 1 });
  assert.equal(id, "sync-1-e1");
  const res = await get(sim, "/job-take/w1?gpu=SIM&job_in_progress=0");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), {
    id: "sync-1-e1",
    input: { prompt: "hi" },
    webhook: null,
    extra: 1,
  });
  const job = sim.ledger.get(id)!;
  assert.equal(job.taken, 1);
  assert.deepEqual(job.takenBy, ["w1"]);
  assert.equal(job.takenAt.length, 1);
  assert.equal(job.queued, 0);
  assert.equal((await get(sim, "/job-take/w1?job_in_progress=1")).status, 204);
});

test("job-take-batch never answers more than batch_size jobs", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const ids = sim.enqueueMany([1, 2, 3, 4, 5].map((n) => ({ input: n })));
  assert.deepEqual(ids, ["job-1", "job-2", "job-3", "job-4", "job-5"]);
  const sizes: number[] = [];
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await get(sim, "/job-take-batch/w1?gpu=SIM&batch_size=2&job_in_progress=0");
    assert.equal(res.status, 200);
    const jobs = await res.json() as { id: string }[];
    assert.ok(Array.isArray(jobs));
    sizes.push(jobs.length);
    seen.push(...jobs.map((job) => job.id));
  }
  assert.deepEqual(sizes, [2, 2, 1]);
  assert.deepEqual(seen, ids);
  assert.equal((await get(sim, "/job-take-batch/w1?batch_size=2")).status, 204);
});

test("job-take hands out thousands of jobs in FIFO order", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const ids = sim.enqueueMany(Array.from({ length: 3000 }, (_, input) => ({ input })));
  const seen: string[] = [];
  for (let size = 1; seen.length < ids.length; size = (size % 7) + 1) {
    const res = await get(sim, `/job-take-batch/w1?batch_size=${size}`);
    seen.push(...(await res.json() as { id: string }[]).map((job) => job.id));
  }
  assert.deepEqual(seen, ids);
  assert.equal(sim.queued, 0);
  assert.equal(sim.counters.handedOut, 3000);
});

test("job-take-batch answers 400 to an invalid batch_size", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueue({ input: 1 });
  for (
    const query of ["", "?batch_size=0", "?batch_size=-1", "?batch_size=abc", "?batch_size=1.5"]
  ) {
    const res = await get(sim, `/job-take-batch/w1${query}`);
    assert.equal(res.status, 400, query);
    await res.body?.cancel();
  }
  assert.deepEqual(sim.report().pending, ["job-1"]);
});

test("a held job-take is released by a later enqueue", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  const held = get(sim, "/job-take/w1?job_in_progress=0");
  await sim.waitFor(() => sim.held.take === 1);
  assert.equal(sim.counters.handedOut, 0);
  sim.enqueue({ id: "late", input: null });
  const res = await held;
  assert.equal(res.status, 200);
  assert.equal((await res.json()).id, "late");
  assert.equal(sim.held.take, 0);
  assert.equal(sim.ledger.get("late")?.taken, 1);
});

test("a held job-take-batch gets several jobs from one enqueueMany", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  const held = get(sim, "/job-take-batch/w1?batch_size=3");
  await sim.waitFor(() => sim.held.take === 1);
  sim.enqueueMany([{ input: 1 }, { input: 2 }, { input: 3 }, { input: 4 }]);
  const jobs = await (await held).json() as { id: string }[];
  assert.deepEqual(jobs.map((job) => job.id), ["job-1", "job-2", "job-3"]);
  assert.deepEqual(sim.report().pending, ["job-4"]);
});

test("held takes are served in arrival order", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  const first = get(sim, "/job-take/w1");
  await sim.waitFor(() => sim.held.take === 1);
  const second = get(sim, "/job-take/w2");
  await sim.waitFor(() => sim.held.take === 2);
  sim.enqueue({ id: "a", input: 1 });
  sim.enqueue({ id: "b", input: 2 });
  assert.equal((await (await first).json()).id, "a");
  assert.equal((await (await second).json()).id, "b");
  assert.deepEqual(sim.ledger.get("b")?.takenBy, ["w2"]);
});

test("job-take answers 204 when longPollMs passes", async () => {
  const sim = createSimulator({ longPollMs: 1 });
  const res = await get(sim, "/job-take/w1?job_in_progress=0");
  assert.equal(res.status, 204);
  assert.equal(await res.text(), "");
  assert.equal(sim.counters.emptyTakes, 1);
  assert.equal(sim.requests[0]?.status, 204);
});

test("a held job-take whose client went away takes no job", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  const controller = new AbortController();
  const held = get(sim, "/job-take/w1", { signal: controller.signal });
  await sim.waitFor(() => sim.held.take === 1);
  controller.abort();
  const res = await held;
  assert.equal(res.status, 204);
  assert.equal(sim.held.take, 0);
  sim.enqueue({ id: "kept", input: 1 });
  assert.deepEqual(sim.report().pending, ["kept"]);
  sim.close();
  assert.equal((await (await get(sim, "/job-take/w2")).json()).id, "kept");
});

test("job-stop delivers queued and later stop signals", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  sim.enqueue({ id: "j1", input: 1 });
  sim.enqueue({ id: "j2", input: 2 });
  await (await get(sim, "/job-take-batch/w1?batch_size=2")).body?.cancel();
  sim.stop("j1");
  const first = await get(sim, "/job-stop/w1?gpu=SIM");
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "application/json");
  assert.deepEqual(await first.json(), { jobsToStop: ["j1"] });
  const held = get(sim, "/job-stop/w1?gpu=SIM");
  await sim.waitFor(() => sim.held.stop === 1);
  sim.stop("j2");
  assert.deepEqual(await (await held).json(), { jobsToStop: ["j2"] });
  assert.equal(sim.ledger.get("j1")?.stopped, true);
  assert.equal(sim.counters.stopsDelivered, 2);
  assert.deepEqual(sim.report().lost, []);
});

test("stop() goes to the worker that took the job, or to the one named", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  sim.enqueue({ id: "mine", input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  const other = get(sim, "/job-stop/w2");
  await sim.waitFor(() => sim.held.stop === 1);
  sim.stop("mine");
  assert.equal(sim.held.stop, 1);
  assert.deepEqual(await (await get(sim, "/job-stop/w1")).json(), { jobsToStop: ["mine"] });
  sim.stop("anything", { workerId: "*" });
  assert.deepEqual(await (await other).json(), { jobsToStop: ["anything"] });
  sim.stop("named", { workerId: "w3" });
  sim.close();
  assert.equal((await get(sim, "/job-stop/w2")).status, 204);
  assert.deepEqual(await (await get(sim, "/job-stop/w3")).json(), { jobsToStop: ["named"] });
});

test("job-done records a final result posted as x-www-form-urlencoded", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const id = sim.enqueue({ input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  const res = await postDone(sim, id, { output: { answer: 42 } });
  assert.equal(res.status, 200);
  const job = sim.ledger.get(id)!;
  assert.equal(job.attempts, 1);
  assert.equal(job.results.length, 1);
  assert.deepEqual(job.results[0]?.body, { output: { answer: 42 } });
  assert.equal(job.results[0]?.isStream, false);
  assert.equal(job.results[0]?.requestId, id);
  assert.equal(job.results[0]?.workerId, "w1");
  const request = sim.requests.at(-1)!;
  assert.equal(request.route, "job-done");
  assert.equal(request.jobId, id);
  assert.deepEqual(request.query, { gpu: "SIM", isStream: "false" });
  assert.deepEqual(request.headers, {
    "content-type": FORM,
    charset: "utf-8",
    "x-request-id": id,
  });
  assert.equal(request.body, '{"output":{"answer":42}}');
  assert.equal(sim.counters.results, 1);
});

test("job-done records progress updates and flags progress after the final result", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const id = sim.enqueue({ input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  await postDone(sim, id, { status: "IN_PROGRESS", output: "25%" });
  await postDone(sim, id, { output: "done" });
  await postDone(sim, id, { status: "IN_PROGRESS", output: "late" });
  const job = sim.ledger.get(id)!;
  assert.deepEqual(job.progress, ["25%", "late"]);
  assert.equal(job.attempts, 1);
  assert.equal(job.results.length, 1);
  assert.equal(sim.counters.progress, 2);
  assert.deepEqual(sim.report().progressAfterFinal, [id]);
});

test("job-stream records chunks and the streamed final result", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const id = sim.enqueue({ input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  for (const item of ["a", { b: 2 }, null]) {
    const res = await post(
      sim,
      `/job-stream/w1/${id}?gpu=SIM&isStream=false`,
      JSON.stringify({
        output: item,
      }),
    );
    assert.equal(res.status, 200);
  }
  await postDone(sim, id, { output: ["a", { b: 2 }, null] }, true);
  const job = sim.ledger.get(id)!;
  assert.deepEqual(job.chunks, ["a", { b: 2 }, null]);
  assert.equal(job.results[0]?.isStream, true);
  assert.equal(sim.counters.chunks, 3);
  await post(sim, `/job-stream/w1/${id}?isStream=false`, '{"output":"late"}');
  assert.deepEqual(sim.report().chunksAfterFinal, [id]);
});

test("job-done and job-stream answer 400 to a body that is not JSON", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const id = sim.enqueue({ input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  const done = await post(sim, `/job-done/w1/${id}?isStream=false`, "output=oops");
  assert.equal(done.status, 400);
  await done.body?.cancel();
  const stream = await post(sim, `/job-stream/w1/${id}?isStream=false`, "{");
  assert.equal(stream.status, 400);
  await stream.body?.cancel();
  const report = sim.report();
  assert.deepEqual(
    report.badPosts.map((bad) => [bad.route, bad.jobId, bad.body]),
    [["job-done", id, "output=oops"], ["job-stream", id, "{"]],
  );
  assert.equal(sim.ledger.get(id)?.results.length, 0);
  assert.deepEqual(report.lost, [id]);
});

test("ping records heartbeats and unhealthy reports", async () => {
  const sim = createSimulator();
  const idle = await get(sim, "/ping/w1?gpu=SIM&runpod_version=1.2.3");
  assert.equal(idle.status, 200);
  await get(sim, "/ping/w1?gpu=SIM&job_id=c3,c2,c1&runpod_version=1.2.3");
  await get(sim, "/ping/w1?gpu=SIM&status=unhealthy&check=gpu&reason=cuda%20gone&job_id=c1");
  assert.deepEqual(sim.pings.map((ping) => [ping.workerId, ping.jobIds, ping.runpodVersion]), [
    ["w1", [], "1.2.3"],
    ["w1", ["c3", "c2", "c1"], "1.2.3"],
  ]);
  assert.equal(sim.unhealthy.length, 1);
  assert.equal(sim.unhealthy[0]?.check, "gpu");
  assert.equal(sim.unhealthy[0]?.reason, "cuda gone");
  assert.deepEqual(sim.unhealthy[0]?.jobIds, ["c1"]);
  await sim.waitForPings(2);
});

test("every route requires the raw API key when one is set", async () => {
  const sim = createSimulator({ longPollMs: 0, apiKey: "testkey" });
  sim.enqueue({ id: "j1", input: 1 });
  const requests: [string, string][] = [
    ["GET", "/job-take/w1"],
    ["GET", "/job-take-batch/w1?batch_size=2"],
    ["GET", "/job-stop/w1"],
    ["POST", "/job-done/w1/j1?isStream=false"],
    ["POST", "/job-stream/w1/j1?isStream=false"],
    ["GET", "/ping/w1"],
  ];
  for (const authorization of [undefined, "Bearer testkey", "wrong"]) {
    for (const [method, path] of requests) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      const body = method === "POST" ? '{"output":1}' : undefined;
      const res = await get(sim, path, { method, headers, body });
      assert.equal(res.status, 401, `${method} ${path} ${authorization}`);
      await res.body?.cancel();
    }
  }
  assert.equal(sim.counters.unauthorized, 18);
  assert.deepEqual(sim.report().pending, ["j1"]);
  const res = await get(sim, "/job-take/w1", { headers: { authorization: "testkey" } });
  assert.equal((await res.json()).id, "j1");
});

test("a status fault answers instead of job-take and consumes no job", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueue({ id: "j1", input: 1 });
  sim.fault("job-take", { status: 500, body: "boom" });
  sim.fault("job-take", { status: 429, headers: { "Retry-After": "1" } });
  sim.fault("job-take", { status: 204 });
  sim.fault("job-take", { status: 400 });
  const first = await get(sim, "/job-take/w1");
  assert.equal(first.status, 500);
  assert.equal(await first.text(), "boom");
  const second = await get(sim, "/job-take/w1");
  assert.equal(second.status, 429);
  assert.equal(second.headers.get("retry-after"), "1");
  await second.body?.cancel();
  assert.equal((await get(sim, "/job-take/w1")).status, 204);
  await (await get(sim, "/job-take/w1")).body?.cancel();
  assert.equal(sim.ledger.get("j1")?.taken, 0);
  assert.equal((await (await get(sim, "/job-take/w1")).json()).id, "j1");
  assert.equal(sim.counters.faults, 4);
  assert.deepEqual(sim.requests.map((request) => request.fault), [
    "respond",
    "respond",
    "respond",
    "respond",
    undefined,
  ]);
});

test("a dropped job-take breaks the body and the next take gets the job", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueue({ id: "j1", input: 1 });
  sim.fault("job-take-batch", { drop: true });
  const dropped = await get(sim, "/job-take-batch/w1?batch_size=4");
  await assert.rejects(dropped.text());
  assert.equal(sim.ledger.get("j1")?.taken, 0);
  const res = await get(sim, "/job-take-batch/w1?batch_size=4");
  assert.deepEqual((await res.json() as { id: string }[]).map((job) => job.id), ["j1"]);
});

test("a body fault serves non-JSON text with its content type", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueue({ id: "j1", input: 1 });
  sim.fault("job-take", { body: "<html>busy</html>", contentType: "text/html" });
  sim.fault("job-take", { body: '{"id":"x","input":1}', contentType: "text/plain", status: 200 });
  const html = await get(sim, "/job-take/w1");
  assert.equal(html.status, 200);
  assert.equal(html.headers.get("content-type"), "text/html");
  assert.equal(await html.text(), "<html>busy</html>");
  const plain = await get(sim, "/job-take/w1");
  assert.equal(plain.headers.get("content-type"), "text/plain");
  await plain.body?.cancel();
  assert.deepEqual(sim.report().pending, ["j1"]);
});

test("a delay fault waits, then answers normally", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueue({ id: "j1", input: 1 });
  sim.fault("job-take", { delayMs: 1 });
  const res = await get(sim, "/job-take/w1");
  assert.equal((await res.json()).id, "j1");
  assert.equal(sim.requests[0]?.fault, "delay");
});

test("a take whose client leaves during a delay fault consumes no job", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  sim.enqueue({ id: "j1", input: 1 });
  sim.fault("job-take", { delayMs: 60_000 });
  const controller = new AbortController();
  const slow = get(sim, "/job-take/w1", { signal: controller.signal });
  await sim.waitFor(() => sim.counters.faults === 1);
  controller.abort();
  await assert.rejects((await slow).text());
  assert.deepEqual(sim.report().pending, ["j1"]);
  assert.equal((await (await get(sim, "/job-take/w2")).json()).id, "j1");
});

test("a fault applies before batch_size is checked", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.fault("job-take-batch", { status: 503 });
  const res = await get(sim, "/job-take-batch/w1?batch_size=0");
  assert.equal(res.status, 503);
  await res.body?.cancel();
  const after = await get(sim, "/job-take-batch/w1?batch_size=0");
  assert.equal(after.status, 400);
  await after.body?.cancel();
});

test("close() ends a delay fault early", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  sim.fault("job-done", { delayMs: 60_000 });
  sim.enqueue({ id: "j1", input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  const slow = postDone(sim, "j1", { output: 1 });
  await sim.waitFor(() => sim.counters.attempts === 1);
  sim.close();
  assert.equal((await slow).status, 200);
  assert.equal(sim.ledger.get("j1")?.results.length, 1);
});

test("a faulted job-done counts as an attempt but not as a result", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const id = sim.enqueue({ input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  sim.fault("job-done", { status: 500 }, { times: 2 });
  sim.fault("job-done", { drop: true });
  for (let i = 0; i < 2; i++) {
    const res = await postDone(sim, id, { output: "x" });
    assert.equal(res.status, 500);
    await res.body?.cancel();
  }
  await assert.rejects((await postDone(sim, id, { output: "x" })).text());
  let job = sim.ledger.get(id)!;
  assert.equal(job.attempts, 3);
  assert.equal(job.results.length, 0);
  assert.deepEqual(sim.report().lost, [id]);
  assert.equal((await postDone(sim, id, { output: "x" })).status, 200);
  job = sim.ledger.get(id)!;
  assert.equal(job.attempts, 4);
  assert.equal(job.results.length, 1);
  assert.deepEqual(sim.report().lost, []);
});

test("a faulted job-stream or ping is not recorded as delivered", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.fault("job-stream", { status: 503 });
  sim.fault("ping", { drop: true }, { times: Infinity });
  const res = await post(sim, "/job-stream/w1/j1?isStream=false", '{"output":1}');
  assert.equal(res.status, 503);
  await res.body?.cancel();
  await assert.rejects((await get(sim, "/ping/w1")).text());
  await assert.rejects((await get(sim, "/ping/w1")).text());
  assert.equal(sim.ledger.get("j1"), undefined);
  assert.equal(sim.pings.length, 0);
  sim.clearFaults("ping");
  await get(sim, "/ping/w1");
  assert.equal(sim.pings.length, 1);
  assert.equal(sim.counters.requests.ping, 3);
});

test("fault() rejects unknown routes and malformed faults", () => {
  const sim = createSimulator();
  assert.throws(() => sim.fault("job-nope" as "ping", { status: 500 }), TypeError);
  assert.throws(() => sim.fault("ping", {} as { status: number }), TypeError);
  assert.throws(() => sim.fault("ping", { status: 99 }), RangeError);
  assert.throws(() => sim.fault("ping", { delayMs: -1 }), RangeError);
  assert.throws(() => sim.fault("ping", { status: 500 }, { times: 0 }), RangeError);
});

test("a fault with forMs applies to every request of its route while the window is open", () => {
  const clock = { now: 0 };
  const faults = new FaultScript({ now: () => clock.now });
  faults.add("job-done", { status: 503 }, { forMs: 20_000 });
  for (const at of [0, 1, 10_000, 19_999]) {
    clock.now = at;
    const fault = faults.next("job-done");
    assert.equal(fault?.kind, "respond", `at ${at} ms`);
  }
  assert.equal(faults.next("job-stream"), undefined, "other routes answer normally");
  assert.equal(faults.inWindow("job-done"), true);
  clock.now = 20_000;
  assert.equal(faults.next("job-done"), undefined, "the window closed by itself");
  assert.equal(faults.inWindow("job-done"), false);
});

test("a fault window with afterMs opens later, and applies before counted faults", () => {
  const clock = { now: 100 };
  const faults = new FaultScript({ now: () => clock.now });
  faults.add("job-done", { status: 500 }, { times: 1 });
  faults.add("job-done", { drop: true }, { forMs: 10_000, afterMs: 1000 });
  clock.now = 200;
  assert.equal(faults.inWindow("job-done"), false);
  assert.equal(faults.next("job-done")?.kind, "respond", "before the window: the counted fault");
  clock.now = 1100;
  assert.equal(faults.next("job-done")?.kind, "drop");
  faults.add("job-done", { status: 502 }, { times: 1 });
  assert.equal(faults.next("job-done")?.kind, "drop", "the open window comes first");
  clock.now = 11_100;
  assert.equal(faults.next("job-done")?.kind, "respond", "then the counted fault again");
  assert.equal(faults.next("job-done"), undefined);
});

test("clearFaults() ends fault windows, and fault() validates them", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.fault("job-stream", { status: 503 }, { forMs: 3_600_000 });
  const faulted = await post(sim, "/job-stream/w1/j1?isStream=false", '{"output":1}');
  assert.equal(faulted.status, 503);
  await faulted.body?.cancel();
  sim.fault("ping", { status: 500 }, { forMs: 3_600_000, afterMs: 3_600_000 });
  await get(sim, "/ping/w1");
  assert.equal(sim.pings.length, 1, "a window that has not opened yet does not apply");
  sim.clearFaults("job-stream");
  assert.equal((await post(sim, "/job-stream/w1/j1?isStream=false", '{"output":2}')).status, 200);
  assert.deepEqual(sim.ledger.get("j1")!.chunks, [2]);
  assert.throws(() => sim.fault("ping", { status: 500 }, { forMs: 0 }), RangeError);
  assert.throws(() => sim.fault("ping", { status: 500 }, { forMs: 10, afterMs: -1 }), RangeError);
  assert.throws(() => sim.fault("ping", { status: 500 }, { forMs: 10, times: 2 }), TypeError);
});

test("enqueueRaw() serves malformed jobs verbatim", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const noInput = sim.enqueueRaw({ id: "x" });
  const text = sim.enqueueRaw("not json", { contentType: "text/plain" });
  sim.enqueueRaw("");
  assert.deepEqual(sim.report().pending, [noInput, text, "raw-3"]);
  const first = await get(sim, "/job-take/w1");
  assert.equal(first.headers.get("content-type"), "application/json");
  assert.deepEqual(await first.json(), { id: "x" });
  const second = await get(sim, "/job-take/w1");
  assert.equal(second.headers.get("content-type"), "text/plain");
  assert.equal(await second.text(), "not json");
  const third = await get(sim, "/job-take/w1");
  assert.equal(third.status, 200);
  assert.equal(await third.text(), "");
  const report = sim.report();
  assert.deepEqual(report.raw.map((raw) => raw.takenBy), ["w1", "w1", "w1"]);
  assert.deepEqual(report.pending, []);
  assert.deepEqual(report.jobs, []);
});

test("enqueueRaw() entries become elements of a batch", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueue({ id: "a", input: 1 });
  sim.enqueueRaw({ input: 2 });
  sim.enqueueRaw([1, 2]);
  const res = await get(sim, "/job-take-batch/w1?batch_size=3");
  assert.deepEqual(await res.json(), [{ id: "a", input: 1 }, { input: 2 }, [1, 2]]);
});

test("report() lists lost, duplicated, unknown and pending jobs", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueueMany([
    { id: "ok", input: 1 },
    { id: "lost", input: 2 },
    { id: "twice", input: 3 },
    { id: "stopped", input: 4 },
    { id: "waiting", input: 5 },
  ]);
  await (await get(sim, "/job-take-batch/w1?batch_size=4")).body?.cancel();
  await postDone(sim, "ok", { output: 1 });
  await postDone(sim, "twice", { output: 1 });
  await postDone(sim, "twice", { output: 2 });
  await postDone(sim, "ghost", { output: 1 });
  await post(sim, "/job-stream/w1/ghost-chunk?isStream=false", '{"output":1}');
  sim.stop("stopped");
  await (await get(sim, "/job-stop/w1")).body?.cancel();
  const report = sim.report();
  assert.deepEqual(report.lost, ["lost"]);
  assert.deepEqual(report.duplicated, ["twice"]);
  assert.deepEqual(report.unknown, ["ghost", "ghost-chunk"]);
  assert.deepEqual(report.pending, ["waiting"]);
  assert.deepEqual(report.progressAfterFinal, []);
  assert.equal(report.jobs.length, 7);
  assert.equal(sim.ledger.get("ghost")?.enqueuedAt, undefined);
  await sim.waitForResults(3);
});

test("a job enqueued again after being taken is pending, not lost", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueue({ id: "again", input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  assert.deepEqual(sim.report().lost, ["again"]);
  sim.enqueue({ id: "again", input: 1 });
  assert.deepEqual(sim.report().lost, []);
  assert.deepEqual(sim.report().pending, ["again"]);
  await (await get(sim, "/job-take/w2")).body?.cancel();
  assert.deepEqual(sim.ledger.get("again")?.takenBy, ["w1", "w2"]);
});

test("close() answers every held long-poll with 204 at once", async () => {
  const sim = createSimulator({ longPollMs: 60_000 });
  const take = get(sim, "/job-take/w1");
  const batch = get(sim, "/job-take-batch/w2?batch_size=2");
  const stop = get(sim, "/job-stop/w1");
  await sim.waitFor(() => sim.held.take === 2 && sim.held.stop === 1);
  sim.close();
  assert.equal(sim.closed, true);
  assert.deepEqual((await Promise.all([take, batch, stop])).map((res) => res.status), [
    204,
    204,
    204,
  ]);
  assert.equal((await get(sim, "/job-take/w1")).status, 204);
  assert.deepEqual(sim.held, { take: 0, stop: 0 });
});

test("env() builds the production URL templates", () => {
  const plain = createSimulator().env("http://127.0.0.1:8123/");
  assert.deepEqual(plain, {
    RUNPOD_WEBHOOK_GET_JOB: "http://127.0.0.1:8123/v2/ep/job-take/$ID?gpu=SIM",
    RUNPOD_WEBHOOK_POST_OUTPUT: "http://127.0.0.1:8123/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=SIM",
    RUNPOD_WEBHOOK_POST_STREAM: "http://127.0.0.1:8123/v2/ep/job-stream/$RUNPOD_POD_ID/$ID?gpu=SIM",
    RUNPOD_WEBHOOK_PING: "http://127.0.0.1:8123/v2/ep/ping/$RUNPOD_POD_ID?gpu=SIM",
  });
  const keyed = createSimulator({ apiKey: "testkey", endpointId: "abc123" }).env(
    "http://127.0.0.1:1",
    { gpu: "NVIDIA H100", podId: "pod123" },
  );
  assert.equal(keyed.RUNPOD_AI_API_KEY, "testkey");
  assert.equal(keyed.RUNPOD_POD_ID, "pod123");
  assert.equal(
    keyed.RUNPOD_WEBHOOK_GET_JOB,
    "http://127.0.0.1:1/v2/abc123/job-take/$ID?gpu=NVIDIA+H100",
  );
});

test("env() URLs reach the routes once the worker fills in the placeholders", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const env = sim.env("http://sim");
  sim.enqueue({ id: "j1", input: 1 });
  const take = env.RUNPOD_WEBHOOK_GET_JOB!.replace("$ID", "pod1") + "&job_in_progress=0";
  assert.equal((await (await sim.fetch(new Request(take))).json()).id, "j1");
  const stop = env.RUNPOD_WEBHOOK_GET_JOB!.replace("$ID", "pod1").replace(
    "/job-take/",
    "/job-stop/",
  );
  assert.equal((await sim.fetch(new Request(stop))).status, 204);
  const done = env.RUNPOD_WEBHOOK_POST_OUTPUT!.replace("$RUNPOD_POD_ID", "pod1").replace(
    "$ID",
    "j1",
  );
  const res = await sim.fetch(
    new Request(`${done}&isStream=false`, { method: "POST", body: "{}" }),
  );
  assert.equal(res.status, 200);
  const ping = env.RUNPOD_WEBHOOK_PING!.replace("$RUNPOD_POD_ID", "pod1");
  assert.equal((await sim.fetch(new Request(`${ping}&runpod_version=x`))).status, 200);
  assert.deepEqual(sim.report().lost, []);
  assert.equal(sim.pings[0]?.workerId, "pod1");
});

test("enqueue() generates ids, skips taken ones and validates jobs", () => {
  const sim = createSimulator();
  assert.equal(sim.enqueue({ id: "job-2", input: 1 }), "job-2");
  assert.equal(sim.enqueue({ input: 1 }), "job-1");
  assert.equal(sim.enqueue({ input: 1 }), "job-3");
  assert.throws(() => sim.enqueue(null as unknown as { input: unknown }), TypeError);
  assert.throws(() => sim.enqueue({ id: "", input: 1 }), TypeError);
  assert.throws(() => sim.enqueue({ id: 7 as unknown as string, input: 1 }), TypeError);
  assert.throws(() => sim.enqueue({ input: undefined }), TypeError);
  assert.throws(() => sim.enqueueMany([{ input: 1 }, { input: undefined }]), TypeError);
  assert.equal(sim.queued, 3);
});

test("createSimulator() validates its options", () => {
  assert.throws(() => createSimulator({ endpointId: "a/b" }), TypeError);
  assert.throws(() => createSimulator({ longPollMs: -1 }), RangeError);
});

test("recordRequests: false keeps counters and the ledger only", async () => {
  const sim = createSimulator({ longPollMs: 0, recordRequests: false });
  sim.enqueue({ id: "j1", input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  await postDone(sim, "j1", { output: 1 });
  await get(sim, "/ping/w1");
  assert.equal(sim.requests.length, 0);
  assert.equal(sim.pings.length, 1);
  assert.equal(sim.ledger.get("j1")?.results.length, 1);
  assert.equal(sim.counters.requests["job-take"], 1);
  assert.equal(sim.counters.requests["job-done"], 1);
});

test("counters track takes, hand-outs and X-Request-ID on polls", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  sim.enqueueMany([{ input: 1 }, { input: 2 }, { input: 3 }]);
  await (await get(sim, "/job-take-batch/w1?batch_size=2")).body?.cancel();
  const stale = { headers: { "x-request-id": "job-1" } };
  await (await get(sim, "/job-take/w1", stale)).body?.cancel();
  await (await get(sim, "/job-take/w1", stale)).body?.cancel();
  await (await get(sim, "/job-stop/w1", stale)).body?.cancel();
  const counters = sim.counters;
  assert.equal(counters.takes, 2);
  assert.equal(counters.handedOut, 3);
  assert.equal(counters.emptyTakes, 1);
  assert.equal(counters.pollsWithRequestId, 3);
  assert.equal(counters.requests["job-take"], 2);
  assert.equal(counters.requests["job-take-batch"], 1);
  assert.deepEqual(
    sim.requests.filter((request) => request.headers["x-request-id"] !== undefined)
      .map((request) => request.route),
    ["job-take", "job-take", "job-stop"],
  );
  await sim.waitForTaken(3);
});

test("unknown paths answer 404 and are recorded as other", async () => {
  const sim = createSimulator();
  for (const url of ["http://sim/v2/other/job-take/w1", "http://sim/v2/ep/job-nope/w1"]) {
    const res = await sim.fetch(new Request(url));
    assert.equal(res.status, 404);
    await res.body?.cancel();
  }
  assert.equal(sim.counters.requests.other, 2);
  assert.deepEqual(sim.requests.map((request) => [request.route, request.status]), [
    ["other", 404],
    ["other", 404],
  ]);
});

test("the simulator dispatches typed events", async () => {
  const sim = createSimulator({ longPollMs: 0 });
  const types: string[] = [];
  let result: unknown;
  for (const type of ["enqueue", "take", "result", "request"]) {
    sim.addEventListener(type, (event) => types.push(event.type));
  }
  sim.addEventListener("result", (event) => {
    result = (event as SimulatorEvent<"result">).detail.result.body;
  });
  sim.enqueue({ id: "j1", input: 1 });
  await (await get(sim, "/job-take/w1")).body?.cancel();
  await postDone(sim, "j1", { output: "yes" });
  assert.deepEqual(types, ["enqueue", "take", "request", "result", "request"]);
  assert.deepEqual(result, { output: "yes" });
});

test("waitFor() rejects on timeout, on abort and when the predicate throws", async () => {
  const sim = createSimulator();
  await assert.rejects(sim.waitFor(() => false, { timeoutMs: 0 }), { name: "TimeoutError" });
  const controller = new AbortController();
  const waiting = sim.waitFor(() => false, { signal: controller.signal });
  controller.abort(new Error("stop waiting"));
  await assert.rejects(waiting, { message: "stop waiting" });
  await assert.rejects(sim.waitFor(() => false, { signal: controller.signal }), {
    message: "stop waiting",
  });
  let calls = 0;
  const throwing = sim.waitFor(() => {
    if (++calls > 1) throw new Error("bad predicate");
    return false;
  });
  sim.enqueue({ input: 1 });
  await assert.rejects(throwing, { message: "bad predicate" });
});
