// The dev API over raw HTTP on loopback: refusals that say what was wrong, unknown ids, auth
// headers, retry, and concurrency above 1 through the gate.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import { deferred } from "../src/async/deferred.ts";
import type { DevAppOptions } from "../src/dev_api/create_dev_app.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Handler } from "../src/types.ts";
import { serveDevApi } from "./support/dev_server.ts";
import { deliveryLogger, webhookReceiver } from "./support/webhook_receiver.ts";

interface Served extends AsyncDisposable {
  url: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Response>;
}

async function serve(handler: Handler, options: Partial<DevAppOptions> = {}): Promise<Served> {
  const served = await serveDevApi(handler, options);
  const url = served.url;
  return {
    url,
    call: (method, path, body, headers = {}) =>
      fetch(`${url}${path}`, {
        method,
        headers: { "content-type": "application/json", ...headers },
        body: body === undefined
          ? undefined
          : typeof body === "string"
          ? body
          : JSON.stringify(body),
      }),
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

const echo: Handler = (job) => job.input;

test("dev API: a body that is not JSON, has no input, or is too large is refused, saying why", async () => {
  await using s = await serve(echo, { devApi: { maxBodyBytes: 1024 } });
  const notJson = await s.call("POST", "/v2/e/run", "{not json");
  assert.equal(notJson.status, 400);
  assert.match((await notJson.json()).error, /not valid JSON/);
  const noInput = await s.call("POST", "/v2/e/run", { prompt: "hi" });
  assert.equal(noInput.status, 400);
  assert.match((await noInput.json()).error, /no 'input'/);
  const empty = await s.call("POST", "/v2/e/runsync", "");
  assert.equal(empty.status, 400);
  assert.match((await empty.json()).error, /empty/);
  const badWebhook = await s.call("POST", "/run", { input: 1, webhook: "ftp://x" });
  assert.equal(badWebhook.status, 400);
  assert.match((await badWebhook.json()).error, /'webhook'/);
  const badTimeout = await s.call("POST", "/run", { input: 1, policy: { executionTimeout: -1 } });
  assert.equal(badTimeout.status, 400);
  assert.match((await badTimeout.json()).error, /executionTimeout/);
  const big = await s.call("POST", "/v2/e/run", { input: "x".repeat(2048) });
  assert.equal(big.status, 413);
  assert.match((await big.json()).error, /larger than 1024 bytes/);
  const badWait = await s.call("POST", "/v2/e/runsync?wait=soon", { input: 1 });
  assert.equal(badWait.status, 400);
  assert.match((await badWait.json()).error, /'wait'/);
  // Nothing was lost or run by the refusals: the next good job is the first.
  const health = await (await s.call("GET", "/v2/e/health")).json();
  assert.deepEqual(health.jobs, { completed: 0, failed: 0, retried: 0, inProgress: 0, inQueue: 0 });
  // A wait of any length is a number, clamped to the maximum: the unknown id is what is wrong.
  const longWait = await s.call("GET", "/v2/e/status-sync/nope?wait=10000000000");
  assert.equal(longWait.status, 404);
  await longWait.body?.cancel();
});

test("dev API: unknown ids answer 404 in the real API's shape on every job route", async () => {
  await using s = await serve(echo);
  for (
    const [method, path] of [
      ["GET", "/v2/e/status/nope"],
      ["POST", "/status/nope"],
      ["GET", "/v2/e/status-sync/nope?wait=1"],
      ["GET", "/v2/e/stream/nope"],
      ["POST", "/v2/e/cancel/nope"],
      ["POST", "/v2/e/retry/nope"],
    ]
  ) {
    const res = await s.call(method!, path!);
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.deepEqual(await res.json(), { error: "request does not exist" });
  }
  const route = await s.call("GET", "/v2/e/run");
  assert.equal(route.status, 404);
  assert.match((await route.json()).error, /No route GET \/v2\/e\/run/);
});

test("dev API: every endpoint id and the unprefixed routes reach the same jobs; Authorization is optional", async () => {
  await using s = await serve(echo);
  const bearer = await s.call("POST", "/v2/abc/runsync", { input: 1 }, {
    authorization: "Bearer k",
  });
  const raw = await s.call("POST", "/runsync", { input: 2 }, { authorization: "rpa_RAWKEY" });
  const none = await s.call("POST", "/v2/other/runsync", { input: 3 });
  const bodies = await Promise.all([bearer, raw, none].map((res) => res.json()));
  assert.deepEqual(bodies.map((body) => [body.status, body.output]), [
    ["COMPLETED", 1],
    ["COMPLETED", 2],
    ["COMPLETED", 3],
  ]);
  assert.ok([bearer, raw, none].every((res) => res.status === 200));
  const unprefixed = await (await s.call("GET", `/status/${bodies[0].id}`)).json();
  assert.equal(unprefixed.output, 1);
  const post = await (await s.call("POST", `/v2/zzz/status/${bodies[2].id}`, {})).json();
  assert.equal(post.output, 3);
});

test("dev API: stream always answers a stream array, also while queued and after the end", async () => {
  const release = deferred<void>();
  await using s = await serve(async function* () {
    await release.promise;
    yield "only";
  }, { devApi: { streamHoldMs: 1 } });
  const { id } = await (await s.call("POST", "/run", { input: {} })).json();
  const early = await (await s.call("GET", `/stream/${id}`)).json();
  assert.ok(Array.isArray(early.stream));
  assert.ok(["IN_QUEUE", "IN_PROGRESS"].includes(early.status));
  assert.deepEqual(early.stream, []);
  release.resolve();
  let last: { status: string; stream: unknown[] };
  const seen: unknown[] = [];
  do {
    last = await (await s.call("POST", `/stream/${id}`)).json();
    seen.push(...last.stream);
  } while (last.status !== "COMPLETED");
  assert.deepEqual(seen, [{ output: "only" }]);
  const after = await (await s.call("GET", `/stream/${id}`)).json();
  assert.deepEqual(after, { id, status: "COMPLETED", stream: [] }, "each chunk is delivered once");
});

test("dev API: retry runs a FAILED job again under its id; COMPLETED jobs cannot be retried", async () => {
  let calls = 0;
  await using s = await serve(() => {
    calls++;
    if (calls === 1) throw new Error("first try fails");
    return "second try works";
  });
  const failed = await (await s.call("POST", "/v2/e/runsync", { input: {} })).json();
  assert.equal(failed.status, "FAILED");
  const retried = await s.call("POST", `/v2/e/retry/${failed.id}`, {});
  assert.equal(retried.status, 200);
  assert.deepEqual(await retried.json(), { id: failed.id, status: "IN_QUEUE" });
  const done = await (await s.call("GET", `/v2/e/status-sync/${failed.id}?wait=5000`)).json();
  assert.equal(done.status, "COMPLETED");
  assert.equal(done.output, "second try works");
  const refused = await s.call("POST", `/v2/e/retry/${failed.id}`, {});
  assert.equal(refused.status, 400);
  assert.match((await refused.json()).error, /is COMPLETED: only FAILED or TIMED_OUT/);
  const health = await (await s.call("GET", "/v2/e/health")).json();
  assert.equal(health.jobs.retried, 1);
});

test("dev API: with concurrency 2 two jobs run at once through the gate and a third waits", async () => {
  const started: string[] = [];
  const bothStarted = deferred<void>();
  const release = deferred<void>();
  await using s = await serve(async (job) => {
    started.push(job.id);
    if (started.length === 2) bothStarted.resolve();
    await release.promise;
    return job.input;
  }, { concurrency: 2 });
  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    ids.push((await (await s.call("POST", "/v2/e/run", { input: n })).json()).id);
  }
  await bothStarted.promise;
  assert.deepEqual(started, ids.slice(0, 2));
  const third = await (await s.call("GET", `/v2/e/status/${ids[2]}`)).json();
  assert.equal(third.status, "IN_QUEUE");
  const health = await (await s.call("GET", "/v2/e/health")).json();
  assert.equal(health.jobs.inProgress, 2);
  assert.equal(health.jobs.inQueue, 1);
  release.resolve();
  const outputs = [];
  for (const id of ids) {
    outputs.push((await (await s.call("GET", `/v2/e/status-sync/${id}?wait=5000`)).json()).output);
  }
  assert.deepEqual(outputs, [1, 2, 3]);
});

test("dev API: a full wait queue answers 429 and the job is not taken", async () => {
  const release = deferred<void>();
  await using s = await serve(async () => {
    await release.promise;
    return "done";
  }, { queueSize: 1 });
  const first = await s.call("POST", "/run", { input: 1 });
  const second = await s.call("POST", "/run", { input: 2 });
  const third = await s.call("POST", "/run", { input: 3 });
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  assert.equal(third.status, 429);
  assert.match((await third.json()).error, /at capacity/);
  release.resolve();
  const { id } = await second.json();
  assert.equal(
    (await (await s.call("GET", `/status-sync/${id}?wait=5000`)).json()).status,
    "COMPLETED",
  );
});

test("dev API: GET / serves the playground page", async () => {
  await using s = await serve(echo);
  const res = await fetch(`${s.url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/html/);
  const html = await res.text();
  assert.match(html, /edgepod dev API playground/);
  assert.match(html, /\/v2\/local/);
});

test("dev API: a webhook whose name resolves to a link-local address is not called", async () => {
  await using hook = await webhookReceiver();
  const { logger, failed } = deliveryLogger();
  await using s = await serve(echo, {
    logger,
    devApi: { lookupHost: () => Promise.resolve(["fe80::1"]) },
  });
  const res = await s.call("POST", "/v2/e/runsync", {
    input: 1,
    webhook: `http://localhost:${hook.port}/hook`,
  });
  assert.equal((await res.json()).status, "COMPLETED");
  assert.match(
    await failed,
    /refused: its host localhost resolves to fe80::1, a link-local address/,
  );
  assert.equal(hook.count, 0);
});

/** A POST through `node:http`, which sends the `Host` it is given (fetch sets its own). */
function rawPost(
  url: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: target.hostname,
      port: target.port,
      path,
      method: "POST",
      headers: { "content-length": String(Buffer.byteLength(body)), ...headers },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("dev API: requests from other web pages are refused 403 and run nothing; its own pass", async () => {
  let runs = 0;
  await using s = await serve((job) => (runs++, job.input));
  const own = new URL(s.url).host;
  const body = JSON.stringify({ input: 1 });
  const refused: Record<string, string>[] = [
    // A no-cors POST from any site: no preflight, text/plain, the browser's fetch metadata.
    { host: own, "content-type": "text/plain", origin: "https://evil.example" },
    { host: own, "content-type": "text/plain", "sec-fetch-site": "cross-site" },
    // Another port of localhost is the same site, but not the same origin.
    { host: own, "content-type": "application/json", "sec-fetch-site": "same-site" },
    { host: own, "content-type": "application/json", origin: "null" },
    // DNS rebinding: the attacker's name, now resolving to 127.0.0.1.
    { host: `rebind.evil.example:${new URL(s.url).port}`, "content-type": "application/json" },
  ];
  for (const headers of refused) {
    const res = await rawPost(s.url, "/v2/local/runsync", headers, body);
    assert.equal(res.status, 403, JSON.stringify(headers));
    assert.match(JSON.parse(res.text).error, /only this machine's own clients/);
  }
  assert.equal(runs, 0);
  // The playground's own requests, and clients that are not browsers.
  const allowed: Record<string, string>[] = [
    {
      host: own,
      "content-type": "application/json",
      origin: s.url,
      "sec-fetch-site": "same-origin",
    },
    { host: `localhost:${new URL(s.url).port}`, "content-type": "application/json" },
    { host: own, "content-type": "application/json" },
  ];
  for (const headers of allowed) {
    const res = await rawPost(s.url, "/v2/local/runsync", headers, body);
    assert.equal(res.status, 200, JSON.stringify(headers));
    assert.equal(JSON.parse(res.text).status, "COMPLETED");
  }
  assert.equal(runs, allowed.length);
});

test("dev API: the playground may not be framed by another site", async () => {
  await using s = await serve((job) => job.input);
  const page = await fetch(`${s.url}/`);
  assert.equal(page.status, 200);
  await page.text();
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.equal(page.headers.get("content-security-policy"), "frame-ancestors 'none'");
});

test("dev API: a streaming job nobody reads /stream for still ends (runsync gets its aggregate)", async () => {
  await using s = await serve(async function* () {
    for (let i = 0; i < 5000; i++) yield i; // past the 4,096 unread chunks the buffer holds
  }, { returnAggregateStream: true });
  const res = await s.call("POST", "/v2/local/runsync?wait=60000", { input: {} });
  const body = await res.json();
  assert.equal(body.status, "COMPLETED");
  assert.equal(body.output.length, 5000);
  assert.equal(body.output.at(-1), 4999);
});

test("dev API: a finished job over maxStoredBytes is answered, then forgotten with a WARN line", async () => {
  const lines: string[] = [];
  const logger = new RunPodLogger({ level: "WARN", write: (text) => lines.push(text) });
  await using s = await serve(() => "x".repeat(5000), {
    logger,
    devApi: { maxStoredBytes: 4000 },
  });
  const res = await s.call("POST", "/v2/local/runsync?wait=60000", { input: {} });
  const body = await res.json();
  assert.equal(body.status, "COMPLETED");
  assert.equal(body.output.length, 5000, "the waiting caller still gets the whole result");
  assert.equal((await s.call("GET", `/v2/local/status/${body.id}`)).status, 404);
  logger.flush();
  assert.match(
    lines.join(""),
    new RegExp(
      `WARN +\\| ${body.id} \\| The finished job .* is over the result store's 4000 bytes ` +
        `\\(maxStoredBytes\\), so it is not kept`,
    ),
  );
});

test("dev API: the body's other keys (s3Config, ...) reach the handler's job, as on the platform", async () => {
  await using s = await serve((job) => ({ keys: Object.keys(job).sort(), s3: job.s3Config }));
  const res = await s.call("POST", "/v2/local/runsync", {
    input: 1,
    s3Config: { bucketName: "b" },
    policy: { executionTimeout: 60_000 },
  });
  assert.deepEqual((await res.json()).output, {
    keys: ["id", "input", "s3Config"],
    s3: { bucketName: "b" },
  });
});
