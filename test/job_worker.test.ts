// The shared worker lifecycle: admission, outcomes, cancel, timeout, drain, stats, feedback.

import assert from "node:assert/strict";
import { test } from "node:test";
import { deferred } from "../src/async/deferred.ts";
import { parseConfig, type StartOptions } from "../src/config.ts";
import { WorkerBusyError, WorkerDrainingError } from "../src/errors.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Handler } from "../src/types.ts";
import type { ConcurrencyObservation } from "../src/worker/concurrency_observation.ts";
import { JobWorker } from "../src/worker/job_worker.ts";
import { ResultStore } from "../src/worker/result_store.ts";
import { prometheusMetrics } from "../src/push/prometheus_metrics.ts";
import { TEST_WORKER_INFO } from "./support/http_doubles.ts";

function worker(handler: Handler, options: Partial<StartOptions> = {}, queueLimit?: number) {
  return new JobWorker({
    config: parseConfig({ handler, ...options }),
    logger: new RunPodLogger({ level: "NOTSET", write: () => {} }),
    info: TEST_WORKER_INFO,
    queueLimit,
  });
}

/** A handler whose jobs wait until released (or aborted). */
function held() {
  const release = deferred<unknown>();
  const started = deferred<void>();
  const handler: Handler = (_job, ctx) =>
    new Promise((resolve, reject) => {
      started.resolve();
      release.promise.then(resolve);
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
    });
  return { handler, release: release.resolve, started: started.promise };
}

test("JobWorker: a job's outcome carries status, timings and the encoded result", async () => {
  const w = worker((job) => ({ twice: (job.input as number) * 2 }));
  await w.start();
  const job = w.submit({ id: "a", input: 4 });
  const outcome = await job.done;
  assert.equal(outcome.status, "COMPLETED");
  assert.equal(outcome.body, '{"output":{"twice":8}}');
  assert.ok(outcome.delayTime >= 0 && outcome.executionTime >= 0);
  assert.equal(w.has("a"), false);
  assert.equal(w.stats.ended.COMPLETED, 1);
  assert.equal(w.stats.durationCount, 1);
});

test("JobWorker: deliver runs while the slot is held; the next job waits for it", async () => {
  const w = worker((job) => job.input);
  await w.start();
  const delivering = deferred<void>();
  const order: string[] = [];
  const first = w.submit({ id: "1", input: 1 }, {
    deliver: async () => {
      order.push("deliver 1");
      await delivering.promise;
      order.push("delivered 1");
    },
  });
  const second = w.submit({ id: "2", input: 2 }, { deliver: () => void order.push("deliver 2") });
  assert.equal(second.status, "IN_QUEUE");
  delivering.resolve();
  await Promise.all([first.done, second.done]);
  assert.deepEqual(order, ["deliver 1", "delivered 1", "deliver 2"]);
});

test("JobWorker: queue admission refuses past the wait queue, and while draining", async () => {
  const h = held();
  const w = worker(h.handler, {}, 1);
  await w.start();
  const running = w.submit({ id: "r", input: 0 }, { admission: "queue" });
  const waiting = w.submit({ id: "w", input: 0 }, { admission: "queue" });
  assert.throws(() => w.submit({ id: "x", input: 0 }, { admission: "queue" }), WorkerBusyError);
  assert.throws(() => w.submit({ id: "r", input: 0 }), /already held/);
  w.stop("test");
  assert.throws(() => w.submit({ id: "y", input: 0 }, { admission: "queue" }), WorkerDrainingError);
  h.release("ok");
  assert.equal((await running.done).status, "COMPLETED");
  assert.equal((await waiting.done).status, "COMPLETED");
  assert.equal(await w.drain(), true);
});

test("JobWorker: cancel gives CANCELLED, a timeout TIMED_OUT, a queued cancel never runs the handler", async () => {
  let runs = 0;
  const h = held();
  const w = worker((job, ctx) => {
    runs++;
    return h.handler(job, ctx);
  }, { executionTimeoutMs: 60_000 });
  await w.start();
  const running = w.submit({ id: "c", input: 0 });
  const queued = w.submit({ id: "q", input: 0 });
  w.cancel("q");
  assert.equal((await queued.done).status, "CANCELLED");
  await h.started;
  w.cancel("c");
  assert.equal((await running.done).status, "CANCELLED");
  assert.equal(runs, 1);
  const timed = w.submit({ id: "t", input: 0 }, { timeoutMs: 20 });
  const outcome = await timed.done;
  assert.equal(outcome.status, "TIMED_OUT");
  assert.match(outcome.result.error ?? "", /timed out after 20 ms/);
  assert.equal(w.cancel("gone"), false);
});

test("JobWorker: past the drain deadline running jobs are aborted, reported FAILED, and the drain is not clean", async () => {
  const w = worker(() => new Promise(() => {}), { drainTimeoutMs: 10 });
  await w.start();
  const job = w.submit({ id: "stuck", input: 0 });
  w.stop("test");
  assert.equal(await w.drain(), false);
  const outcome = await job.done;
  assert.equal(outcome.status, "FAILED");
  assert.match(outcome.result.error ?? "", /WorkerShutdownError/);
});

test("JobWorker: the modifier's second argument reports what ended since its last call", async () => {
  const seen: (ConcurrencyObservation | undefined)[] = [];
  const w = worker((job) => {
    if (job.input === "fail") throw new Error("x");
    return 1;
  }, {
    concurrencyModifier: (current, observed) => {
      seen.push(observed);
      return current;
    },
    concurrencyPollMs: 60_000,
  });
  await w.start();
  await w.submit({ id: "ok", input: "ok" }).done;
  await w.submit({ id: "bad", input: "fail" }).done;
  await w.gate.refresh();
  const last = seen.at(-1)!;
  assert.equal(last.completed, 1);
  assert.equal(last.failed, 1);
  assert.equal(last.latenciesMs.length, 2);
  assert.equal(last.limit, 1);
  await w.gate.refresh();
  assert.equal(seen.at(-1)!.completed, 0);
  w.stop("test");
});

test("ResultStore: bounded by entries and bytes, expires by time, and stays correct under churn", () => {
  let now = 0;
  const store = new ResultStore<string>({
    ttlMs: 100,
    maxEntries: 3,
    maxBytes: 10,
    size: (v: string) => v.length,
    now: () => now,
  });
  store.set("a", "1");
  store.set("b", "22");
  store.set("c", "333");
  store.set("d", "4444"); // 4 entries > 3: "a" goes; 2 + 3 + 4 = 9 bytes
  assert.deepEqual([...store.entries()].map(([k]) => k), ["b", "c", "d"]);
  store.set("e", "55555"); // 14 bytes > 10: the oldest go until it fits
  assert.deepEqual([...store.entries()].map(([k]) => k), ["d", "e"]);
  assert.equal(store.bytes, 9);
  assert.equal(store.maxBytes, 10);
  // Larger than maxBytes on its own: not stored, and set() says so.
  assert.equal(store.set("x", "too large for the store"), "too-large");
  assert.equal(store.get("x"), undefined);
  assert.equal(store.set("f", "6"), "kept");
  assert.equal(new ResultStore<string>({ maxEntries: 0 }).set("a", "1"), "off");
  now = 101;
  assert.equal(store.get("d"), undefined);
  for (let i = 0; i < 10_000; i++) store.set("same", "v"); // replacing one key many times
  assert.equal(store.get("same"), "v");
  assert.ok(store.size <= 3);
  const big = new ResultStore<number>({ maxEntries: 1000 });
  for (let i = 0; i < 50_000; i++) big.set(`k${i}`, i);
  assert.equal(big.size, 1000);
  assert.equal(big.get("k49999"), 49999);
  assert.equal(big.get("k48999"), undefined);
  assert.equal(big.get("k49000"), 49000);
  // A replaced or deleted entry leaves the byte count and the order at once.
  const sized = new ResultStore<string>({ maxEntries: 2, size: (v: string) => v.length });
  sized.set("a", "xx");
  sized.set("a", "yyy");
  assert.equal(sized.bytes, 3);
  assert.equal(sized.delete("a"), true);
  assert.equal(sized.bytes, 0);
  sized.set("b", "1");
  sized.set("a", "2");
  sized.set("c", "3"); // 3 entries > 2: "b", the oldest live one, goes; no husk of "a" counts
  assert.deepEqual([...sized.entries()], [["a", "2"], ["c", "3"]]);
});

test("JobWorker: a synchronous handler's outcome is delivered after submit() returns", async () => {
  const w = worker((job) => job.input);
  await w.start();
  const order: string[] = [];
  const held = w.submit({ id: "s", input: 1 }, { deliver: () => void order.push("delivered") });
  order.push("submitted");
  assert.equal(held.status, "IN_PROGRESS", "a free slot: it started inside submit()");
  const outcome = await held.done;
  assert.deepEqual(order, ["submitted", "delivered"]);
  assert.equal(outcome.body, '{"output":1}');
  assert.equal(w.size, 0);
  w.stop("test over");
  assert.ok(await w.drain());
});

test("JobWorker: a tracked task (a webhook post) still running at the drain deadline is stopped, and the drain is not clean", async () => {
  const w = worker((job) => job.input, { drainTimeoutMs: 10 });
  await w.start();
  const post = deferred<void>();
  w.forcedSignal.addEventListener("abort", () => post.resolve(), { once: true }); // as postWebhook does
  w.track(Symbol("webhook:a"), post.promise);
  w.track(Symbol("webhook:a"), Promise.resolve()); // a symbol never matches another
  assert.equal(w.has("webhook:a"), false); // and never stands in the way of a job id
  w.stop("test");
  assert.equal(await w.drain(), false);
  assert.equal(w.forcedSignal.aborted, true);
  assert.equal(w.size, 0);
});

test("JobWorker: a second signal stops tracked tasks at once, and the drain is not clean", async () => {
  const w = worker((job) => job.input, { drainTimeoutMs: 60_000 });
  await w.start();
  const post = deferred<void>();
  w.forcedSignal.addEventListener("abort", () => post.resolve(), { once: true });
  w.track(Symbol("webhook:b"), post.promise);
  w.stop("SIGTERM received");
  const drained = w.drain();
  w.stop("SIGTERM received"); // the second signal
  assert.equal(await drained, false);
});

test("JobWorker: a drain whose tasks all finish is clean", async () => {
  const w = worker((job) => job.input, { drainTimeoutMs: 60_000 });
  await w.start();
  const post = deferred<void>();
  w.track(Symbol("webhook:c"), post.promise);
  w.stop("test");
  const drained = w.drain();
  post.resolve();
  assert.equal(await drained, true);
  assert.equal(w.forcedSignal.aborted, false);
});

test("JobWorker: a stopped handler that ignores ctx.signal is counted until it returns, then named at WARN", async () => {
  let now = 0;
  const lines: string[] = [];
  const release = deferred<unknown>();
  const started = deferred<void>();
  const handler: Handler = async (job, ctx) => {
    if (job.id !== "deaf") return await held().handler(job, ctx); // stops on the signal
    started.resolve();
    return await release.promise; // never looks at ctx.signal
  };
  const w = new JobWorker({
    config: parseConfig({ handler }),
    logger: new RunPodLogger({ level: "WARN", write: (text) => lines.push(text) }),
    info: TEST_WORKER_INFO,
    now: () => now,
  });
  await w.start();
  const job = w.submit({ id: "deaf", input: 1 });
  await started.promise;
  assert.equal(w.cancel("deaf"), true);
  assert.equal((await job.done).status, "CANCELLED");
  assert.equal(w.stats.stoppedRunning, 1);
  assert.match(prometheusMetrics(w, {}), /^edgepod_stopped_handlers_running 1$/m);
  // One that stops on the signal returns at once: counted for no longer, and not named.
  const prompt = w.submit({ id: "prompt", input: 2 });
  await until(() => w.get("prompt")?.status === "IN_PROGRESS");
  w.cancel("prompt");
  await prompt.done;
  await until(() => w.stats.stoppedRunning === 1);
  now = 2500;
  release.resolve("late");
  await until(() => w.stats.stoppedRunning === 0);
  w.stop("test over");
  assert.equal(await w.drain(), true);
  const warned = lines.join("");
  assert.match(warned, /WARN +\| deaf \| The handler returned 2500 ms after the job was stopped/);
  assert.doesNotMatch(warned, /prompt/);
});

/** Waits for a condition that the worker's own promises make true (checked once per macrotask). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 0));
}
