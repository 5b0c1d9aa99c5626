// The push app over real HTTP on loopback, served by the runtime running this file.

import assert from "node:assert/strict";
import { test } from "node:test";
import * as v from "valibot";
import { deferred } from "../src/async/deferred.ts";
import { createPushApp, type PushAppOptions } from "../src/push/create_push_app.ts";
import { signPushRequest } from "../src/push/push_auth.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Server } from "../src/runtime.ts";
import type { Handler } from "../src/types.ts";
import { CORPUS_QSTASH_KEYS, qstashSignature } from "./fixtures/push_hostile_corpus.ts";
import { currentRuntime } from "./support/runtime.ts";
import { deliveryLogger, webhookReceiver } from "./support/webhook_receiver.ts";

interface Served extends AsyncDisposable {
  url: string;
  push: ReturnType<typeof createPushApp>;
  post(body: unknown, headers?: Record<string, string>): Promise<Response>;
}

async function serve(handler: Handler, options: Partial<PushAppOptions> = {}): Promise<Served> {
  const runtime = await currentRuntime();
  const push = createPushApp({
    handler,
    logger: new RunPodLogger({ level: "ERROR", write: () => {} }),
    ...options,
  });
  const server: Server = await runtime.serve(push.fetch, { hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    push,
    post: (body, headers = {}) =>
      fetch(`${url}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    async [Symbol.asyncDispose]() {
      push.worker.stop("test over");
      push.worker.abortAll("test over");
      await server.close();
    },
  };
}

/** Waits for a condition that another request will make true (checked once per macrotask). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** A handler whose jobs wait for the test to release them, by job id. */
function gated() {
  const started = new Map<string, ReturnType<typeof deferred<void>>>();
  const release = new Map<string, ReturnType<typeof deferred<unknown>>>();
  const runs: string[] = [];
  const slot = <T>(map: Map<string, T>, id: string, make: () => T) => {
    if (!map.has(id)) map.set(id, make());
    return map.get(id)!;
  };
  const handler: Handler = async (job, ctx) => {
    runs.push(job.id);
    slot(started, job.id, deferred<void>).resolve();
    const gate = slot(release, job.id, deferred<unknown>);
    const aborted = new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true })
    );
    return await Promise.race([gate.promise, aborted]);
  };
  return {
    handler,
    runs,
    started: (id: string) => slot(started, id, deferred<void>).promise,
    release: (id: string, value: unknown) => slot(release, id, deferred<unknown>).resolve(value),
  };
}

test("push: POST /jobs answers the final result synchronously in RunPod's status shape", async () => {
  await using s = await serve((job) => ({ doubled: (job.input as number) * 2 }));
  const res = await s.post({ id: "j1", input: 21 });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.id, "j1");
  assert.equal(body.status, "COMPLETED");
  assert.deepEqual(body.output, { doubled: 42 });
  assert.equal(typeof body.delayTime, "number");
  assert.equal(typeof body.executionTime, "number");
});

test("push: a job without an id gets a fresh one", async () => {
  await using s = await serve((job) => job.input);
  const a = await (await s.post({ input: 1 })).json();
  const b = await (await s.post({ input: 1 })).json();
  assert.equal(a.status, "COMPLETED");
  assert.notEqual(a.id, b.id);
});

test("push: a handler failure is a 200 FAILED result with the error report, not a 5xx", async () => {
  await using s = await serve(() => {
    throw new RangeError("bad prompt");
  });
  const res = await s.post({ id: "poison", input: {} });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "FAILED");
  assert.equal(JSON.parse(body.error).error_type, "RangeError");
  assert.equal(JSON.parse(body.error).error_message, "bad prompt");
});

test("push: failureStatus 500 answers FAILED with a 5xx, and a redelivery runs the job again", async () => {
  let runs = 0;
  await using s = await serve(() => {
    runs++;
    throw new Error("flaky");
  }, { push: { failureStatus: 500 } });
  assert.equal((await s.post({ id: "f", input: 1 })).status, 500);
  // The failure is readable until the sender redelivers...
  const polled = await fetch(`${s.url}/jobs/f`);
  assert.equal(polled.status, 200);
  assert.equal((await polled.json()).status, "FAILED");
  // ...and the redelivery runs the job again, answering 5xx again while it keeps failing.
  const again = await s.post({ id: "f", input: 1 });
  assert.equal(again.status, 500);
  assert.equal((await again.json()).status, "FAILED");
  assert.equal(runs, 2);
});

test("push: a result over push.maxStoredBytes is answered, not kept, and says so in a WARN line", async () => {
  let runs = 0;
  const lines: string[] = [];
  const logger = new RunPodLogger({ level: "WARN", write: (text) => lines.push(text) });
  await using s = await serve(() => {
    runs++;
    return "x".repeat(2000);
  }, { logger, push: { maxStoredBytes: 1000 } });
  const first = await s.post({ id: "big", input: 1 });
  assert.equal(first.status, 200);
  assert.equal((await first.json()).output.length, 2000, "the answer carries the whole result");
  assert.equal((await fetch(`${s.url}/jobs/big`)).status, 404, "it was not kept");
  logger.flush();
  assert.match(
    lines.join(""),
    /WARN +\| big \| The result \(\d+ characters\) is over the result store's 1000 bytes \(push\.maxStoredBytes\), so it is not kept/,
  );
  // As the line says: with nothing stored, a redelivery runs the job again.
  assert.equal((await (await s.post({ id: "big", input: 1 })).json()).status, "COMPLETED");
  assert.equal(runs, 2);
});

test("push: the same id while the job runs attaches to it; after it ends the stored result answers; one run", async () => {
  const g = gated();
  await using s = await serve(g.handler, { concurrencyModifier: () => 4 });
  const first = s.post({ id: "dup", input: 1 });
  await g.started("dup");
  const second = s.post({ id: "dup", input: 1 });
  const streamed = s.post({ id: "dup", input: 1 }, { accept: "application/x-ndjson" });
  g.release("dup", { answer: 7 });
  const [a, b, c] = await Promise.all([first, second, streamed]);
  assert.deepEqual((await a.json()).output, { answer: 7 });
  assert.deepEqual((await b.json()).output, { answer: 7 });
  const lines = (await c.text()).trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(lines.at(-1).status, "COMPLETED");
  const later = await (await s.post({ id: "dup", input: 1 })).json();
  assert.deepEqual(later.output, { answer: 7 });
  assert.deepEqual(g.runs, ["dup"]);
});

test("push: Prefer: respond-async answers 202 with Location, GET reads the status, the webhook gets the result", async () => {
  const runtime = await currentRuntime();
  const hooked = deferred<{ body: unknown; type: string | null }>();
  const hook = await runtime.serve(async (request) => {
    hooked.resolve({ body: await request.json(), type: request.headers.get("content-type") });
    return new Response(null, { status: 204 });
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    const g = gated();
    await using s = await serve(g.handler);
    const res = await s.post(
      { id: "a1", input: 1, webhook: `http://127.0.0.1:${hook.port}/hook` },
      { prefer: "respond-async" },
    );
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("location"), "/jobs/a1");
    assert.equal((await res.json()).id, "a1");
    await g.started("a1");
    const running = await (await fetch(`${s.url}/jobs/a1`)).json();
    assert.equal(running.status, "IN_PROGRESS");
    g.release("a1", "done");
    const delivered = await hooked.promise;
    assert.equal(delivered.type, "application/json");
    assert.deepEqual(
      {
        id: (delivered.body as { id: string }).id,
        status: (delivered.body as { status: string }).status,
      },
      { id: "a1", status: "COMPLETED" },
    );
    const ended = await (await fetch(`${s.url}/jobs/a1`)).json();
    assert.equal(ended.output, "done");
  } finally {
    await hook.close();
  }
});

test("push: with lookupHost, a webhook whose name resolves to a link-local address is not called", async () => {
  await using hook = await webhookReceiver();
  const { logger, failed } = deliveryLogger();
  const asked: string[] = [];
  // A hostile DNS record: the name the submitter gave points at the metadata service.
  const lookupHost = (name: string) => {
    asked.push(name);
    return Promise.resolve(["169.254.169.254"]);
  };
  await using s = await serve(() => "done", { logger, lookupHost });
  const res = await s.post({ id: "r1", input: 1, webhook: `http://localhost:${hook.port}/hook` });
  assert.equal(res.status, 200, "the name passes the rule as written");
  assert.equal((await res.json()).status, "COMPLETED");
  assert.match(
    await failed,
    /Webhook http:\/\/localhost:\d+\/hook did not take the result: refused: its host localhost resolves to 169\.254\.169\.254/,
  );
  assert.deepEqual(asked, ["localhost"]);
  assert.equal(hook.count, 0);
});

test("push: Accept: text/event-stream streams one event per chunk, then the final status", async () => {
  await using s = await serve(async function* (job) {
    for (let i = 0; i < (job.input as number); i++) yield { token: i };
  });
  const res = await s.post({ id: "sse", input: 3 }, { accept: "text/event-stream" });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events = (await res.text()).trim().split("\n\n").map((block) => {
    const [event, data] = block.split("\n");
    return {
      event: event!.slice("event: ".length),
      data: JSON.parse(data!.slice("data: ".length)),
    };
  });
  assert.deepEqual(
    events.slice(0, 3),
    [0, 1, 2].map((i) => ({ event: "chunk", data: { output: { token: i } } })),
  );
  assert.equal(events[3]!.event, "result");
  assert.equal(events[3]!.data.status, "COMPLETED");
  assert.equal(events.length, 4);
});

test("push: a streaming handler that throws ends the SSE stream with a FAILED result event", async () => {
  await using s = await serve(async function* () {
    yield "first";
    throw new TypeError("broke mid-stream");
  });
  const text = await (await s.post({ input: 0 }, { accept: "text/event-stream" })).text();
  const blocks = text.trim().split("\n\n");
  assert.equal(blocks[0], 'event: chunk\ndata: {"output":"first"}');
  const last = JSON.parse(blocks.at(-1)!.split("\n")[1]!.slice(6));
  assert.equal(last.status, "FAILED");
  assert.equal(JSON.parse(last.error).error_type, "TypeError");
});

test("push: SSE applies backpressure: the generator waits for the client to read", async () => {
  let produced = 0;
  await using s = await serve(async function* () {
    for (let i = 0; i < 100_000; i++) {
      produced++;
      yield "x".repeat(16 * 1024);
    }
  });
  const res = await s.post({ id: "slow", input: 0 }, { accept: "text/event-stream" });
  const reader = res.body!.getReader();
  await reader.read();
  // A client that stops reading holds the generator back: far fewer than 100,000 chunks made.
  const seen = deferred<void>();
  let last = -1;
  const check = setInterval(() => {
    if (produced === last) seen.resolve();
    last = produced;
  }, 50);
  await seen.promise;
  clearInterval(check);
  assert.ok(produced < 100_000, `the generator ran ahead: ${produced} chunks`);
  await reader.cancel();
});

test("push: POST /jobs/:id/cancel aborts ctx.signal and the job ends CANCELLED", async () => {
  const g = gated();
  await using s = await serve(g.handler);
  const pending = s.post({ id: "c1", input: 1 });
  await g.started("c1");
  const cancel = await fetch(`${s.url}/jobs/c1/cancel`, { method: "POST" });
  assert.equal(cancel.status, 200);
  assert.equal((await cancel.json()).status, "CANCELLED");
  assert.equal((await (await pending).json()).status, "CANCELLED");
  assert.equal((await fetch(`${s.url}/jobs/nope/cancel`, { method: "POST" })).status, 404);
});

test("push: policy.executionTimeout aborts the job and it ends TIMED_OUT", async () => {
  await using s = await serve((_job, ctx) =>
    new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
    )
  );
  const body = await (await s.post({ input: 1, policy: { executionTimeout: 50 } })).json();
  assert.equal(body.status, "TIMED_OUT");
  assert.match(body.error, /timed out after 50 ms/);
});

test("push: with slots and wait queue full, a submission gets 429 with Retry-After and runs nothing", async () => {
  const g = gated();
  await using s = await serve(g.handler, { concurrencyModifier: () => 1, queueSize: 1 });
  const running = s.post({ id: "r", input: 1 });
  await g.started("r");
  const queued = s.post({ id: "q", input: 1 });
  // The queued job is held by the worker before the third submission is refused.
  await until(() => s.push.worker.has("q"));
  const refused = await s.post({ id: "x", input: 1 });
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) >= 1);
  g.release("r", 1);
  g.release("q", 2);
  assert.equal((await (await running).json()).output, 1);
  assert.equal((await (await queued).json()).output, 2);
  assert.deepEqual(g.runs, ["r", "q"]);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(metrics, /^edgepod_rejected_total\{reason="busy"\} 1$/m);
  // Every other reason is a series from the start, at 0 (so rate() sees its first increase).
  assert.match(metrics, /^edgepod_rejected_total\{reason="too_large"\} 0$/m);
  assert.equal(metrics.match(/^edgepod_rejected_total\{/gm)?.length, 8);
});

test("push: bad input answers 400, 413 and 422 with what was wrong, and unknown ids 404", async () => {
  await using s = await serve((job) => job.input, {
    inputSchema: v.object({ prompt: v.string() }),
    push: { maxBodyBytes: 1024 },
  });
  const invalid = await s.post("{not json");
  assert.equal(invalid.status, 400);
  assert.match((await invalid.json()).error, /JSON/i);
  const noInput = await s.post({ id: "x" });
  assert.equal(noInput.status, 400);
  assert.match((await noInput.json()).error, /input/);
  const big = await s.post({ input: { prompt: "x".repeat(2000) } });
  assert.equal(big.status, 413);
  const schema = await s.post({ input: { prompt: 3 } });
  assert.equal(schema.status, 422);
  const issues = await schema.json();
  assert.match(issues.error, /prompt/);
  assert.equal((await fetch(`${s.url}/jobs/missing`)).status, 404);
  const ok = await s.post({ input: { prompt: "hi" } });
  assert.deepEqual((await ok.json()).output, { prompt: "hi" });
});

test("push: with bearer tokens or HMAC keys set, every route but /ping needs auth; 401 says nothing more", async () => {
  await using s = await serve((job) => job.input, {
    auth: { tokens: ["old-token", "new-token"], hmacKeys: ["hmac-key"] },
  });
  assert.equal((await fetch(`${s.url}/ping`)).status, 200);
  const anonymous = await s.post({ input: 1 });
  assert.equal(anonymous.status, 401);
  assert.deepEqual(await anonymous.json(), { error: "Unauthorized" });
  assert.equal((await fetch(`${s.url}/metrics`)).status, 401);
  assert.equal((await fetch(`${s.url}/jobs/x`)).status, 401);
  assert.equal((await fetch(`${s.url}/elsewhere`)).status, 401);
  assert.equal((await s.post({ input: 1 }, { authorization: "Bearer wrong" })).status, 401);
  for (const token of ["old-token", "new-token"]) {
    const res = await s.post({ input: token }, { authorization: `Bearer ${token}` });
    assert.equal((await res.json()).output, token);
  }
  const body = JSON.stringify({ input: "signed" });
  const signature = await signPushRequest(body, "hmac-key");
  const signed = await s.post(body, { "x-edgepod-signature": signature });
  assert.equal((await signed.json()).output, "signed");
  const tampered = await s.post(JSON.stringify({ input: "tampered" }), {
    "x-edgepod-signature": signature,
  });
  assert.equal(tampered.status, 401);
});

test("push: a signed request without an id, replayed within its window, runs once", async () => {
  let runs = 0;
  await using s = await serve((job) => ({ run: ++runs, input: job.input }), {
    auth: { hmacKeys: ["hmac-key"] },
  });
  const body = JSON.stringify({ input: "once" });
  const signature = await signPushRequest(body, "hmac-key");
  const first = await (await s.post(body, { "x-edgepod-signature": signature })).json();
  assert.match(first.id, /^sig-[0-9a-f]{64}$/, "the signature is the job id");
  // The replay, its header dressed up with a second (bogus) v1: the same job, not a new run.
  const dressed = `${signature},v1=${"0".repeat(64)}`;
  const replay = await (await s.post(body, { "x-edgepod-signature": dressed })).json();
  assert.deepEqual(replay, first);
  assert.equal(runs, 1);
  // Signed at another second, the same body is another job; a body id still wins.
  const later = await signPushRequest(body, "hmac-key", Math.floor(Date.now() / 1000) - 60);
  const other = await (await s.post(body, { "x-edgepod-signature": later })).json();
  assert.notEqual(other.id, first.id);
  const named = JSON.stringify({ id: "mine", input: "named" });
  const withId = await s.post(named, {
    "x-edgepod-signature": await signPushRequest(named, "hmac-key"),
  });
  assert.equal((await withId.json()).id, "mine");
  assert.equal(runs, 3);
});

test("push: a Pub/Sub push envelope is answered as a native submission, its messageId the job id", async () => {
  let runs = 0;
  await using s = await serve((job) => {
    runs++;
    return { id: job.id, input: job.input };
  });
  const envelope = {
    message: {
      data: btoa(JSON.stringify({ input: { prompt: "from pubsub" } })),
      messageId: "m-123",
      attributes: {},
    },
    subscription: "projects/p/subscriptions/s",
  };
  const res = await s.post(envelope);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.id, "m-123");
  assert.deepEqual(body.output, { id: "m-123", input: { prompt: "from pubsub" } });
  await s.post(envelope); // redelivered: the stored result, no second run
  assert.equal(runs, 1);
});

test("push: the handler's job carries the body's other keys and the transport's metadata", async () => {
  await using s = await serve((job) => {
    const { id: _id, input: _input, ...rest } = job;
    return rest;
  });
  const native = await s.post({ input: 1, s3Config: { bucket: "b" }, webhookV2: "x" });
  assert.deepEqual((await native.json()).output, { s3Config: { bucket: "b" }, webhookV2: "x" });
  const pubsub = await s.post({
    message: {
      data: btoa("1"),
      messageId: "m-9",
      publishTime: "2026-01-01T00:00:00Z",
      orderingKey: "user-3",
      attributes: { tenant: "acme" },
    },
    subscription: "projects/p/subscriptions/s",
    deliveryAttempt: 2,
  });
  assert.deepEqual((await pubsub.json()).output, {
    pubsub: {
      messageId: "m-9",
      publishTime: "2026-01-01T00:00:00Z",
      subscription: "projects/p/subscriptions/s",
      orderingKey: "user-3",
      deliveryAttempt: 2,
      attributes: { tenant: "acme" },
    },
  });
  const task = await s.post({ input: 1 }, {
    "x-cloudtasks-taskname": "task-10",
    "x-cloudtasks-queuename": "gpu",
    "x-cloudtasks-taskretrycount": "1",
  });
  assert.deepEqual((await task.json()).output, {
    cloudTasks: { taskName: "task-10", queueName: "gpu", retryCount: 1 },
  });
});

test("push: a Cloud Tasks task name is the job id", async () => {
  await using s = await serve((job) => job.id);
  const res = await s.post({ input: 1 }, { "x-cloudtasks-taskname": "task-9" });
  assert.equal((await res.json()).output, "task-9");
});

test("push: GET /ping is 200 when ready and 503 while draining; new work is refused 503", async () => {
  const g = gated();
  await using s = await serve(g.handler);
  assert.equal((await fetch(`${s.url}/ping`)).status, 200);
  const running = s.post({ id: "inflight", input: 1 });
  await g.started("inflight");
  s.push.worker.stop("test drain");
  const ping = await fetch(`${s.url}/ping`);
  assert.equal(ping.status, 503);
  assert.equal(ping.headers.get("retry-after"), "5");
  const refused = await s.post({ input: 2 });
  assert.equal(refused.status, 503);
  assert.ok(refused.headers.get("retry-after"));
  const drained = s.push.worker.drain();
  g.release("inflight", "finished");
  assert.equal((await (await running).json()).output, "finished");
  assert.equal(await drained, true);
});

test("push: a client that goes away before its job starts drops it; a redelivery then runs it once", async () => {
  const g = gated();
  await using s = await serve(g.handler);
  const blocker = s.post({ id: "blocker", input: 1 });
  await g.started("blocker");
  const gone = new AbortController();
  const request = fetch(`${s.url}/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id: "walkaway", input: 1 }),
    signal: gone.signal,
  }).catch(() => undefined);
  await until(() => s.push.worker.has("walkaway"));
  gone.abort();
  await request;
  await until(() => !s.push.worker.has("walkaway"));
  g.release("blocker", 0);
  await blocker;
  const retry = s.post({ id: "walkaway", input: 1 });
  await g.started("walkaway");
  g.release("walkaway", "ran once");
  assert.equal((await (await retry).json()).output, "ran once");
  assert.equal(g.runs.filter((id) => id === "walkaway").length, 1);
});

test("push: on an edge runtime every job, and a webhook post, is handed to ctx.waitUntil", async () => {
  const release = deferred<void>();
  const hooks: string[] = [];
  const answerHook = deferred<void>();
  const push = createPushApp({
    handler: async (job) => {
      await release.promise;
      return job.input;
    },
    concurrencyModifier: () => 2,
    logger: new RunPodLogger({ level: "NOTSET" }),
    // The webhook receiver answers when the test says so.
    http: async (request) => {
      hooks.push(request.body ?? "");
      await answerHook.promise;
      return { status: 204, header: () => null, body: "" };
    },
  });
  const kept: Promise<unknown>[] = [];
  const ctx = { waitUntil: (work: Promise<unknown>) => void kept.push(work) };
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    new Request("http://edge/jobs", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const accepted = await push.fetch(
    post({ id: "e1", input: 1 }, { prefer: "respond-async" }),
    {},
    ctx,
  );
  assert.equal(accepted.status, 202);
  assert.equal(kept.length, 1, "the job that outlives its answer is kept alive");
  let settled = false;
  kept[0]!.then(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, false, "kept alive until the job ends");
  release.resolve();
  await kept[0];
  const status = await push.fetch(new Request("http://edge/jobs/e1"), {}, ctx);
  assert.equal((await status.json() as { status: string }).status, "COMPLETED");
  const sync = await push.fetch(post({ id: "e2", input: 2 }), {}, ctx);
  assert.equal((await sync.json() as { output: unknown }).output, 2);
  // A sync job too: its client may leave mid-job (workerd then cancels the request's timers).
  assert.equal(kept.length, 2, "a synchronous job is kept alive as well");
  // A sync job with a webhook: its answer is sent, its webhook post still has to finish.
  const hooked = await push.fetch(post({ id: "e4", input: 4, webhook: "http://hook/" }), {}, ctx);
  assert.equal((await hooked.json() as { output: unknown }).output, 4);
  assert.equal(kept.length, 3, "the webhook post outlives the answer");
  settled = false;
  kept[2]!.then(() => (settled = true));
  await Promise.resolve();
  assert.equal(hooks.length, 1);
  assert.equal(JSON.parse(hooks[0]!).id, "e4");
  assert.equal(settled, false, "kept alive until the webhook post ends");
  answerHook.resolve();
  await kept[2];
  // Without an execution context (Node, Deno, Bun servers) nothing is asked of one.
  const plain = await push.fetch(post({ id: "e3", input: 3 }, { prefer: "respond-async" }));
  assert.equal(plain.status, 202);
  assert.equal(kept.length, 3);
  push.worker.stop("test over");
  push.worker.abortAll("test over");
});

/** An async Standard Schema whose every validation waits for the test to release it. */
function gatedSchema() {
  const calls: ReturnType<typeof deferred<void>>[] = [];
  const schema = {
    "~standard": {
      version: 1 as const,
      vendor: "test",
      validate: async (value: unknown) => {
        const call = deferred<void>();
        calls.push(call);
        await call.promise;
        return { value };
      },
    },
  };
  return { schema, calls };
}

test("push: duplicates delivered while the first is being validated attach to it; one run", async () => {
  const { schema, calls } = gatedSchema();
  let runs = 0;
  await using s = await serve((job) => (runs++, job.input), { inputSchema: schema });
  const first = s.post({ id: "v", input: 1 });
  const second = s.post({ id: "v", input: 1 });
  await until(() => calls.length === 2);
  calls[0]!.resolve();
  calls[1]!.resolve();
  const answers = await Promise.all([first, second]);
  assert.deepEqual(answers.map((res) => res.status), [200, 200]);
  for (const res of answers) assert.equal((await res.json()).output, 1);
  assert.equal(runs, 1);
});

test("push: a duplicate still being validated when the first ends gets the stored result; one run", async () => {
  const { schema, calls } = gatedSchema();
  let runs = 0;
  await using s = await serve((job) => (runs++, job.input), { inputSchema: schema });
  const first = s.post({ id: "w", input: 1 });
  await until(() => calls.length === 1);
  const second = s.post({ id: "w", input: 1 });
  await until(() => calls.length === 2);
  calls[0]!.resolve();
  assert.equal((await (await first).json()).status, "COMPLETED");
  calls[1]!.resolve();
  const late = await second;
  assert.equal(late.status, 200);
  assert.equal((await late.json()).output, 1);
  assert.equal(runs, 1);
});

test("push: a job whose id looks like a webhook's key runs while that webhook is posted", async () => {
  const runtime = await currentRuntime();
  const received = deferred<void>();
  const answer = deferred<void>();
  const hook = await runtime.serve(async () => {
    received.resolve();
    await answer.promise; // the post stays in flight until the test is done
    return new Response(null, { status: 204 });
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    await using s = await serve((job) => job.id);
    const webhook = `http://127.0.0.1:${hook.port}/hook`;
    assert.equal((await s.post({ id: "x", input: 1, webhook })).status, 200);
    await received.promise;
    const other = await s.post({ id: "webhook:x", input: 1 });
    assert.equal(other.status, 200);
    assert.equal((await other.json()).output, "webhook:x");
    answer.resolve();
  } finally {
    answer.resolve();
    await hook.close();
  }
});

test("push: the duration histogram counts jobs that ran, not those cancelled in the queue", async () => {
  const g = gated();
  await using s = await serve(g.handler, { concurrencyModifier: () => 1 });
  const running = s.post({ id: "r", input: 1 });
  await g.started("r");
  const queued = s.post({ id: "q", input: 1 });
  await until(() => s.push.worker.gate.waiting === 1);
  const cancel = await fetch(`${s.url}/jobs/q/cancel`, { method: "POST" });
  assert.equal((await cancel.json()).status, "CANCELLED");
  assert.equal((await (await queued).json()).status, "CANCELLED");
  g.release("r", 1);
  await running;
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(metrics, /^edgepod_job_duration_seconds_count 1$/m);
  assert.equal(g.runs.length, 1);
});

test("push: policy.executionTimeout shortens executionTimeoutMs but never lifts it", async () => {
  await using s = await serve(
    (_job, ctx) =>
      new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true })
      ),
    { executionTimeoutMs: 50 },
  );
  const res = await s.post({ input: 1, policy: { executionTimeout: 7 * 24 * 3600 * 1000 } });
  const body = await res.json();
  assert.equal(body.status, "TIMED_OUT");
  assert.match(body.error, /50 ms/);
});

test("push: a replayed signed request with another id header is still the first job; one run", async () => {
  let runs = 0;
  await using s = await serve((job) => ({ run: ++runs, id: job.id }), {
    auth: { hmacKeys: ["hmac-key"], qstashKeys: CORPUS_QSTASH_KEYS },
  });
  // QStash: the JWT does not cover Upstash-Message-Id, so a replay may change or drop it.
  const body = JSON.stringify({ input: "q" });
  const jwt = qstashSignature(new TextEncoder().encode(body), Math.floor(Date.now() / 1000));
  const first = await (await s.post(body, {
    "upstash-signature": jwt,
    "upstash-message-id": "msg_1",
  })).json();
  assert.equal(first.id, "msg_1");
  for (const headers of [{ "upstash-message-id": "msg_forged" }, {}] as Record<string, string>[]) {
    const replay = await (await s.post(body, { "upstash-signature": jwt, ...headers })).json();
    assert.deepEqual(replay, first);
  }
  // A new delivery of the same message (a new JWT) is QStash's redelivery: the stored result.
  const later = qstashSignature(new TextEncoder().encode(body), Math.floor(Date.now() / 1000) - 1);
  const redelivered = await (await s.post(body, {
    "upstash-signature": later,
    "upstash-message-id": "msg_1",
  })).json();
  assert.deepEqual(redelivered, first);
  // HMAC: the id headers are not signed either.
  const signed = JSON.stringify({ input: "h" });
  const signature = await signPushRequest(signed, "hmac-key");
  const one = await (await s.post(signed, { "x-edgepod-signature": signature })).json();
  const forged = await (await s.post(signed, {
    "x-edgepod-signature": signature,
    "x-cloudtasks-taskname": "forged-task",
  })).json();
  assert.deepEqual(forged, one);
  assert.equal(runs, 2);
});

test("push: the Hono app mounted in another app, with no execution context, runs jobs", async () => {
  const push = createPushApp({
    handler: (job) => ({ echoed: job.input }),
    logger: new RunPodLogger({ level: "ERROR", write: () => {} }),
  });
  const { Hono } = await import("hono");
  const parent = new Hono();
  parent.route("/queue", push.app);
  try {
    const res = await parent.fetch(
      new Request("http://w/queue/jobs", { method: "POST", body: '{"id":"m1","input":3}' }),
    );
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.id, "m1");
    assert.equal(body.status, "COMPLETED");
    assert.deepEqual(body.output, { echoed: 3 });
  } finally {
    push.worker.stop("test over");
  }
});

test("push: a signature admits only the route it was first used on (no replay to a cancel)", async () => {
  const g = gated();
  await using s = await serve(g.handler, { auth: { hmacKeys: ["hmac-key"] } });
  const signed = (signature: string) => ({ "x-edgepod-signature": signature });
  // A captured submission, replayed with its body to another job's cancel route.
  const body = JSON.stringify({ id: "victim", input: 1 });
  const signature = await signPushRequest(body, "hmac-key");
  const submitted = s.post(body, signed(signature));
  await g.started("victim");
  const cancel = (id: string, sig: string, text = "") =>
    fetch(`${s.url}/jobs/${id}/cancel`, { method: "POST", headers: signed(sig), body: text });
  const replayed = await cancel("victim", signature, body);
  assert.equal(replayed.status, 401);
  await replayed.body?.cancel();
  // A captured empty-body signature (a signed GET /metrics) does not cancel either.
  const empty = await signPushRequest("", "hmac-key");
  const metrics = await fetch(`${s.url}/metrics`, { headers: signed(empty) });
  assert.equal(metrics.status, 200);
  await metrics.text();
  const again = await fetch(`${s.url}/metrics`, { headers: signed(empty) });
  assert.equal(again.status, 200, "the same route may be asked again with it");
  await again.text();
  const stolen = await cancel("victim", empty);
  assert.equal(stolen.status, 401);
  await stolen.body?.cancel();
  g.release("victim", "done");
  const result = await (await submitted).json();
  assert.equal(result.status, "COMPLETED");
  // A signature made for the cancel itself works.
  const other = JSON.stringify({ id: "second", input: 2 });
  const second = s.post(other, signed(await signPushRequest(other, "hmac-key")));
  await g.started("second");
  const cancelled = await cancel(
    "second",
    await signPushRequest("", "hmac-key", 1 + Math.floor(Date.now() / 1000)),
  );
  assert.equal(cancelled.status, 200);
  assert.equal((await cancelled.json()).status, "CANCELLED");
  assert.equal((await (await second).json()).status, "CANCELLED");
});

test("push: a sync job cut short by the worker's shutdown answers 503, so the sender delivers it again", async () => {
  const g = gated();
  await using s = await serve(g.handler);
  const answer = s.post({ id: "cut", input: 1 });
  await g.started("cut");
  s.push.worker.stop("SIGTERM");
  s.push.worker.abortAll("the drain deadline passed");
  const res = await answer;
  assert.equal(res.status, 503, "a 200 would acknowledge a job that never finished");
  assert.equal(res.headers.get("retry-after"), "5");
  const body = await res.json();
  assert.equal(body.id, "cut");
  assert.equal(body.status, "FAILED");
  assert.match(body.error, /shut down/);
});
