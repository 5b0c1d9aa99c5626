// The dev API driven by the official `runpod-sdk` client, unchanged, over real HTTP on loopback,
// served by the runtime running this file.

import assert from "node:assert/strict";
import { test } from "node:test";
import runpodSdk from "runpod-sdk";
import { deferred } from "../src/async/deferred.ts";
import type { DevAppOptions } from "../src/dev_api/create_dev_app.ts";
import type { Handler } from "../src/types.ts";
import { serveDevApi } from "./support/dev_server.ts";
import { currentRuntime } from "./support/runtime.ts";

type Endpoint = NonNullable<ReturnType<ReturnType<typeof runpodSdk>["endpoint"]>>;

interface Served extends AsyncDisposable {
  url: string;
  endpoint: Endpoint;
  /** Paths the server was asked for, in order. */
  paths: string[];
  /** Resolves the first time a request path includes `part`. */
  requested(part: string): Promise<void>;
}

async function serve(handler: Handler, options: Partial<DevAppOptions> = {}): Promise<Served> {
  const paths: string[] = [];
  const watchers: { part: string; seen: () => void }[] = [];
  const served = await serveDevApi(handler, options, (request) => {
    const path = new URL(request.url).pathname;
    paths.push(path);
    for (const watcher of watchers) if (path.includes(watcher.part)) watcher.seen();
  });
  return {
    url: served.url,
    endpoint: runpodSdk("test-key", { baseUrl: `${served.url}/v2` }).endpoint("local-endpoint")!,
    paths,
    requested: (part) => {
      const seen = deferred<void>();
      watchers.push({ part, seen: () => seen.resolve() });
      return seen.promise;
    },
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

/** A handler whose jobs wait for the test to release them, in submission order. */
function gated() {
  const started: ReturnType<typeof deferred<string>>[] = [];
  const releases: ReturnType<typeof deferred<unknown>>[] = [];
  const at = <T>(list: ReturnType<typeof deferred<T>>[], i: number) => {
    while (list.length <= i) list.push(deferred<T>());
    return list[i]!;
  };
  let next = 0;
  const aborted: unknown[] = [];
  const handler: Handler = async (job, ctx) => {
    const i = (job.input as { n: number }).n ?? next++;
    at(started, i).resolve(job.id);
    const stop = new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => {
        aborted.push(ctx.signal.reason);
        reject(ctx.signal.reason);
      }, { once: true })
    );
    return await Promise.race([at(releases, i).promise, stop]);
  };
  return {
    handler,
    aborted,
    started: (i: number) => at(started, i).promise,
    release: (i: number, value: unknown) => at(releases, i).resolve(value),
  };
}

test("dev API + runpod-sdk: run answers IN_QUEUE at once, status follows IN_PROGRESS to COMPLETED", async () => {
  const jobs = gated();
  await using s = await serve(jobs.handler);
  const accepted = await s.endpoint.run({ input: { n: 0 } });
  assert.equal(accepted.status, "IN_QUEUE");
  assert.match(accepted.id, /^[0-9a-f-]{36}$/);
  assert.equal(await jobs.started(0), accepted.id);
  const running = await s.endpoint.status(accepted.id);
  assert.equal(running.status, "IN_PROGRESS");
  assert.equal((running as { completed?: boolean }).completed, false);
  jobs.release(0, { answer: 42 });
  const done = await s.endpoint.statusSync(accepted.id, 5000);
  assert.equal(done.status, "COMPLETED");
  assert.deepEqual((done as { output?: unknown }).output, { answer: 42 });
  const again = await s.endpoint.status(accepted.id);
  assert.equal(again.status, "COMPLETED");
  assert.equal(typeof (again as { executionTime?: number }).executionTime, "number");
  assert.equal(typeof again.delayTime, "number");
  assert.ok(s.paths.includes(`/v2/local-endpoint/status/${accepted.id}`));
});

test("dev API + runpod-sdk: runSync answers the result of a quick job in one call", async () => {
  await using s = await serve((job) => ({ doubled: (job.input as number) * 2 }));
  const done = await s.endpoint.runSync({ input: 21 }) as Record<string, unknown>;
  assert.equal(done.status, "COMPLETED");
  assert.deepEqual(done.output, { doubled: 42 });
  assert.equal(done.succeeded, true);
  assert.equal(s.paths.filter((path) => path.includes("status-sync")).length, 0);
});

test("dev API + runpod-sdk: runSync of a job longer than one wait polls /status-sync to the result", async () => {
  const polled = deferred<void>();
  await using s = await serve(async () => {
    await polled.promise; // the job ends only once the client has moved on to /status-sync
    return "slow but done";
  });
  s.requested("/status-sync/").then(() => polled.resolve());
  const done = await s.endpoint.runSync({ input: {} }, 1000) as Record<string, unknown>;
  assert.equal(done.status, "COMPLETED");
  assert.equal(done.output, "slow but done");
  assert.equal(done.completed, true);
  assert.ok(s.paths.some((path) => path.startsWith("/v2/local-endpoint/status-sync/")));
});

test("dev API + runpod-sdk: stream yields each chunk as it is produced, in order, and ends", async () => {
  const received: ReturnType<typeof deferred<void>>[] = Array.from(
    { length: 4 },
    () => deferred<void>(),
  );
  await using s = await serve(async function* () {
    for (let i = 0; i < 4; i++) {
      yield { token: i };
      // The next chunk is produced only after the client has received this one.
      await received[i]!.promise;
    }
  });
  const { id } = await s.endpoint.run({ input: {} });
  const chunks: unknown[] = [];
  for await (const chunk of s.endpoint.stream(id)) {
    chunks.push(chunk);
    received[chunks.length - 1]?.resolve();
  }
  assert.deepEqual(chunks, [0, 1, 2, 3].map((token) => ({ output: { token } })));
  const status = await s.endpoint.status(id) as Record<string, unknown>;
  assert.equal(status.status, "COMPLETED");
  assert.deepEqual(
    status.output,
    [],
    "without returnAggregateStream the chunks come only from /stream",
  );
});

test("dev API + runpod-sdk: with returnAggregateStream the status output is the chunk list", async () => {
  await using s = await serve(function* () {
    yield "a";
    yield "b";
  }, { returnAggregateStream: true });
  const done = await s.endpoint.runSync({ input: {} }) as Record<string, unknown>;
  assert.deepEqual(done.output, ["a", "b"]);
  const chunks: unknown[] = [];
  for await (const chunk of s.endpoint.stream(done.id as string)) chunks.push(chunk);
  assert.deepEqual(chunks, [{ output: "a" }, { output: "b" }]);
});

test("dev API + runpod-sdk: stream of a job that is not a generator yields its output once", async () => {
  await using s = await serve(() => ({ whole: true }));
  const { id } = await s.endpoint.run({ input: {} });
  const chunks: unknown[] = [];
  for await (const chunk of s.endpoint.stream(id)) chunks.push(chunk);
  assert.deepEqual(chunks, [{ output: { whole: true } }]);
});

test("dev API + runpod-sdk: cancel aborts ctx.signal and the job ends CANCELLED", async () => {
  const jobs = gated();
  await using s = await serve(jobs.handler);
  const { id } = await s.endpoint.run({ input: { n: 0 } });
  await jobs.started(0);
  const cancelled = await s.endpoint.cancel(id);
  assert.equal(cancelled.status, "CANCELLED");
  assert.equal(cancelled.id, id);
  assert.equal(jobs.aborted.length, 1);
  assert.equal((await s.endpoint.status(id)).status, "CANCELLED");
});

test("dev API + runpod-sdk: health counts queued, running and finished jobs", async () => {
  const jobs = gated();
  await using s = await serve(jobs.handler);
  const idle = await s.endpoint.health();
  assert.deepEqual(idle.jobs, { completed: 0, failed: 0, retried: 0, inProgress: 0, inQueue: 0 });
  assert.equal(idle.workers.idle, 1);
  assert.equal(idle.workers.running, 0);
  await s.endpoint.run({ input: { n: 0 } });
  const second = await s.endpoint.run({ input: { n: 1 } });
  await jobs.started(0);
  const busy = await s.endpoint.health();
  assert.equal(busy.jobs.inProgress, 1);
  assert.equal(busy.jobs.inQueue, 1, "concurrency 1: the second job waits");
  assert.equal(busy.workers.running, 1);
  assert.equal(busy.workers.idle, 0);
  jobs.release(0, "a");
  await jobs.started(1);
  jobs.release(1, { error: "no" });
  assert.equal((await s.endpoint.statusSync(second.id, 5000)).status, "FAILED");
  const after = await s.endpoint.health();
  assert.deepEqual(after.jobs, { completed: 1, failed: 1, retried: 0, inProgress: 0, inQueue: 0 });
  assert.equal(after.workers.idle, 1);
});

test("dev API + runpod-sdk: purgeQueue cancels the queued jobs and leaves the running one", async () => {
  const jobs = gated();
  await using s = await serve(jobs.handler);
  const running = await s.endpoint.run({ input: { n: 0 } });
  await jobs.started(0);
  const queued = [
    await s.endpoint.run({ input: { n: 1 } }),
    await s.endpoint.run({ input: { n: 2 } }),
  ];
  const purged = await s.endpoint.purgeQueue();
  assert.deepEqual(purged, { removed: 2, status: "completed" });
  for (const job of queued) assert.equal((await s.endpoint.status(job.id)).status, "CANCELLED");
  assert.equal((await s.endpoint.status(running.id)).status, "IN_PROGRESS");
  jobs.release(0, "kept");
  const done = await s.endpoint.statusSync(running.id, 5000) as Record<string, unknown>;
  assert.equal(done.status, "COMPLETED");
  assert.equal(done.output, "kept");
  assert.equal(jobs.aborted.length, 0, "queued jobs never started, so no handler was aborted");
});

test("dev API + runpod-sdk: a generator that throws ends FAILED with its error report", async () => {
  await using s = await serve(function* () {
    yield 1;
    throw new Error("generator broke");
  });
  const done = await s.endpoint.runSync({ input: {} }) as Record<string, unknown>;
  assert.equal(done.status, "FAILED");
  assert.equal(done.succeeded, false);
  const error = String(done.error);
  assert.match(error, /generator broke/);
});

test("dev API + runpod-sdk: policy.executionTimeout aborts the job and it ends TIMED_OUT", async () => {
  const jobs = gated();
  await using s = await serve(jobs.handler);
  const done = await s.endpoint.runSync({
    input: { n: 0 },
    policy: { executionTimeout: 50 },
  }) as Record<
    string,
    unknown
  >;
  assert.equal(done.status, "TIMED_OUT");
  assert.equal(jobs.aborted.length, 1);
});

test("dev API + runpod-sdk: the webhook receives the final status body", async () => {
  const runtime = await currentRuntime();
  const hook = deferred<unknown>();
  const receiver = await runtime.serve(async (request) => {
    hook.resolve(await request.json());
    return new Response(null, { status: 204 });
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    // Named by host, the receiver is resolved first (the runtime's resolver, as the runner's).
    await using s = await serve((job) => ({ echoed: job.input }), {
      devApi: { lookupHost: runtime.lookupHost },
    });
    const { id } = await s.endpoint.run({
      input: 5,
      webhook: `http://localhost:${receiver.port}/hook`,
    });
    const body = await hook.promise as Record<string, unknown>;
    assert.equal(body.id, id);
    assert.equal(body.status, "COMPLETED");
    assert.deepEqual(body.output, { echoed: 5 });
    assert.equal(typeof body.executionTime, "number");
  } finally {
    await receiver.close();
  }
});
