import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { deferred } from "../src/async/deferred.ts";
import { JobStoppedError, JobTimeoutError, WorkerShutdownError } from "../src/errors.ts";
import { executeJob, type ExecuteJobOptions } from "../src/execute_job.ts";
import { progressUpdate } from "../src/progress_update.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Handler, Job } from "../src/types.ts";
import { handlers } from "./fixtures/handlers.ts";

const info = {
  workerId: "worker-1",
  endpointId: "ep",
  hostname: "host-1",
  runtime: "test 1",
  version: "0.1.0",
};

function setup(extra: Partial<ExecuteJobOptions> & { handler: Handler }) {
  const lines: string[] = [];
  const logger = new RunPodLogger({ level: "DEBUG", write: (t) => lines.push(t) });
  const options: ExecuteJobOptions = { info, logger, ...extra };
  return { options, lines: () => (logger.flush(), lines.join("")) };
}

function job(input: unknown = {}): Job {
  return { id: "job-1", input };
}

/** A sink recording chunks; `gate` (if given) holds every write until resolved. */
function recordingSink(options: { gate?: Promise<void>; highWaterMark?: number } = {}) {
  const chunks: unknown[] = [];
  let closed = false;
  const sink = new WritableStream<unknown>({
    async write(chunk) {
      await options.gate;
      chunks.push(chunk);
    },
    close() {
      closed = true;
    },
  }, { highWaterMark: options.highWaterMark ?? 4 });
  return { sink, chunks, closed: () => closed };
}

const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

test("executeJob() returns a plain handler's output", async () => {
  const { options, lines } = setup({ handler: handlers.echo! });
  const done = await executeJob(job({ a: 1 }), options);
  assert.deepEqual(done.result, { output: { a: 1 } });
  assert.equal(done.body, '{"output":{"a":1}}');
  assert.equal(done.isStream, false);
  assert.equal(done.aborted, undefined);
  assert.match(lines(), /INFO   \| job-1 \| Started\.\n/);
});

test("executeJob() gives a streaming handler an empty output list without aggregation", async () => {
  const { options } = setup({ handler: handlers.asyncGenerator! });
  const done = await executeJob(job({ n: 3 }), options);
  assert.deepEqual(done.result, { output: [] });
  assert.equal(done.isStream, true);
});

test("executeJob() aggregates every chunk in order with aggregate", async () => {
  for (const name of ["syncGenerator", "asyncGenerator"]) {
    const { options } = setup({ handler: handlers[name]!, aggregate: true });
    const done = await executeJob(job({ n: 4 }), options);
    const prefix = name === "syncGenerator" ? "s" : "a";
    assert.deepEqual(done.result, { output: [0, 1, 2, 3].map((i) => `${prefix}${i}`) });
  }
});

test("executeJob() aggregates returned AsyncIterables and ReadableStreams", async () => {
  for (
    const [name, expected] of [
      ["asyncIterable", ["i0", "i1"]],
      ["readableStream", [{ part: 1 }, { part: 2 }]],
      ["asyncReturnsGenerator", ["g0", "g1"]],
    ] as const
  ) {
    const { options } = setup({ handler: handlers[name]!, aggregate: true });
    const done = await executeJob(job(), options);
    assert.deepEqual(done.result, { output: expected }, name);
    assert.equal(done.isStream, true);
  }
});

test("executeJob() sends every chunk to the sink in order and closes it", async () => {
  const { sink, chunks, closed } = recordingSink();
  const { options } = setup({ handler: handlers.asyncGenerator!, sink, aggregate: true });
  const done = await executeJob(job({ n: 5 }), options);
  assert.deepEqual(chunks, ["a0", "a1", "a2", "a3", "a4"]);
  assert.deepEqual(done.result.output, chunks);
  assert.equal(closed(), true);
});

test("executeJob() pauses the handler while the sink applies backpressure", async () => {
  const release = deferred<void>();
  const { sink, chunks } = recordingSink({ gate: release.promise, highWaterMark: 2 });
  let produced = 0;
  const { options } = setup({
    sink,
    handler: function* () {
      for (let i = 0; i < 100; i++) {
        produced++;
        yield i;
      }
    },
  });
  const running = executeJob(job(), options);
  await turn();
  // One chunk in the sink's write, two queued (the high-water mark), one read and waiting.
  assert.ok(produced <= 4, `the generator ran ahead to ${produced} while the sink was blocked`);
  release.resolve();
  await running;
  assert.equal(produced, 100);
  assert.equal(chunks.length, 100);
});

test("executeJob() fails the job on a yielded error, without streaming it, and closes the generator", async () => {
  const { sink, chunks } = recordingSink();
  let cleaned = false;
  const { options } = setup({
    sink,
    aggregate: true,
    handler: async function* () {
      try {
        yield "ok";
        yield { error: "stream said no" };
        yield "never";
      } finally {
        cleaned = true;
      }
    },
  });
  const done = await executeJob(job(), options);
  assert.deepEqual(done.result, { error: "stream said no" });
  assert.deepEqual(chunks, ["ok"]);
  assert.equal(cleaned, true);
});

test("executeJob(): a yielded refresh_worker stops the pod after the job; the key is not streamed", async () => {
  const { sink, chunks } = recordingSink();
  const { options } = setup({
    sink,
    aggregate: true,
    handler: function* () {
      yield "a";
      yield { text: "b", refresh_worker: true }; // the rest of the item is still a chunk
      yield { refresh_worker: true }; // only the request: no chunk
    },
  });
  const done = await executeJob(job(), options);
  assert.deepEqual(done.result, { output: ["a", { text: "b" }], stopPod: true });
  assert.deepEqual(chunks, ["a", { text: "b" }]);
  assert.equal(done.body, '{"output":["a",{"text":"b"}],"stopPod":true}');
  // Falsy, it asks for nothing and is dropped from the chunk as well.
  const plain = setup({
    aggregate: true,
    handler: function* () {
      yield { refresh_worker: false, n: 1 };
    },
  });
  assert.deepEqual((await executeJob(job(), plain.options)).result, { output: [{ n: 1 }] });
});

test("executeJob() reports a generator that throws after two yields, keeping streamed chunks", async () => {
  const { sink, chunks } = recordingSink();
  const { options, lines } = setup({
    handler: handlers.generatorThrowsAfterTwo!,
    sink,
    aggregate: true,
  });
  const done = await executeJob(job(), options);
  assert.deepEqual(chunks, [1, 2]);
  assert.equal(done.isStream, true);
  const report = JSON.parse(done.result.error!);
  assert.equal(report.error_type, "Error");
  assert.equal(report.error_message, "gen fail");
  assert.match(report.error_traceback, /gen fail/);
  assert.equal("output" in done.result, false);
  assert.match(lines(), /ERROR  \| job-1 \| Captured Handler Exception/);
});

test("executeJob() turns a thrown error into the full error report", async () => {
  const { options } = setup({ handler: handlers.syncThrow! });
  const done = await executeJob(job(), options);
  assert.deepEqual(Object.keys(done.result), ["error"]);
  const report = JSON.parse(done.result.error!);
  assert.deepEqual(report, {
    error_type: "TypeError",
    error_message: "bad things",
    error_traceback: report.error_traceback,
    hostname: "host-1",
    worker_id: "worker-1",
    runtime: "test 1",
    edgepod_version: "0.1.0",
  });
  assert.match(report.error_traceback, /TypeError: bad things/);
});

test("executeJob() applies RunPod's result rules to returned objects", async () => {
  const cases: [Handler, unknown][] = [
    [handlers.errorReturn!, { error: "bad" }],
    [handlers.refresh!, { output: { ok: 1 }, stopPod: true }],
    [handlers.empty!, {}],
    [() => undefined, { output: null }],
  ];
  for (const [handler, expected] of cases) {
    const { options } = setup({ handler });
    assert.deepEqual((await executeJob(job(), options)).result, expected);
  }
});

test("executeJob() fails clearly on an output JSON cannot carry", async () => {
  const { options, lines } = setup({ handler: handlers.bigint! });
  const done = await executeJob(job(), options);
  assert.match(done.result.error!, /not JSON-serialisable: output\.n is a BigInt/);
  assert.equal(JSON.parse(done.body).error, done.result.error);
  assert.match(lines(), /ERROR  \| .*BigInt/);
});

test("executeJob() fails clearly on a result over maxResultBytes", async () => {
  const { options } = setup({ handler: () => "x".repeat(1000), maxResultBytes: 100 });
  const done = await executeJob(job(), options);
  assert.match(done.result.error!, /1013 bytes, over the 100-byte limit/);
});

test("executeJob() marks every result stopPod with refreshWorker, errors included", async () => {
  for (const handler of [handlers.echo!, handlers.syncThrow!, handlers.asyncGenerator!]) {
    const { options, lines } = setup({ handler, refreshWorker: true });
    const done = await executeJob(job(), options);
    assert.equal(done.result.stopPod, true);
    assert.match(lines(), /refresh_worker flag set, stopping pod after job\./);
  }
});

test("executeJob() rejects invalid input without calling the handler", async () => {
  let called = false;
  const schema = v.object({ prompt: v.string(), n: v.pipe(v.number(), v.minValue(1)) });
  const { options } = setup({ inputSchema: schema, handler: () => (called = true) });
  const done = await executeJob(job({ n: 0 }), options);
  assert.equal(called, false);
  assert.match(done.result.error!, /Input validation failed \(2 issues\)/);
  assert.match(done.result.error!, /input\.prompt: /);
  assert.match(done.result.error!, /input\.n: /);
});

test("executeJob() hands the handler the validated input, defaults applied", async () => {
  const schema = v.object({ n: v.optional(v.number(), 7) });
  const { options } = setup({ inputSchema: schema, handler: (j) => j.input });
  const done = await executeJob(job({}), options);
  assert.deepEqual(done.result, { output: { n: 7 } });
});

test("executeJob() stops a running handler when the signal aborts", async () => {
  const controller = new AbortController();
  const started = deferred<void>();
  let seenReason: unknown;
  const { options } = setup({
    signal: controller.signal,
    handler: (_job, ctx) => {
      started.resolve();
      ctx.signal.addEventListener("abort", () => (seenReason = ctx.signal.reason));
      return new Promise(() => {}); // never settles
    },
  });
  const running = executeJob(job(), options);
  await started.promise;
  const reason = new JobStoppedError("job-1");
  controller.abort(reason);
  const done = await running;
  assert.equal(done.aborted, reason);
  assert.equal(seenReason, reason);
  assert.equal(done.result.error, "Job job-1 was stopped");
});

test("executeJob() cancels a streaming handler on abort and runs its cleanup", async () => {
  const controller = new AbortController();
  const yielded = deferred<void>();
  let cleaned = false;
  const { options } = setup({
    signal: controller.signal,
    handler: async function* (_job, ctx) {
      try {
        yield 1;
        yielded.resolve();
        // A handler that honours ctx.signal: its wait ends when the job is aborted.
        await new Promise((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
        );
      } finally {
        cleaned = true;
      }
    },
  });
  const running = executeJob(job(), options);
  await yielded.promise;
  controller.abort(new WorkerShutdownError());
  const done = await running;
  assert.ok(done.aborted instanceof WorkerShutdownError);
  assert.equal(JSON.parse(done.result.error!).error_type, "WorkerShutdownError");
  await turn();
  assert.equal(cleaned, true);
});

test("executeJob() closes a generator paused at a yield when the job is aborted", async () => {
  const controller = new AbortController();
  const release = deferred<void>();
  const { sink } = recordingSink({ gate: release.promise, highWaterMark: 1 });
  let cleaned = false;
  const { options } = setup({
    signal: controller.signal,
    sink,
    handler: function* () {
      try {
        for (let i = 0;; i++) yield i;
      } finally {
        cleaned = true;
      }
    },
  });
  const running = executeJob(job(), options);
  await turn(); // the sink is blocked, so the generator sits at a yield
  controller.abort(new JobStoppedError("job-1"));
  const done = await running;
  assert.ok(done.aborted instanceof JobStoppedError);
  assert.equal(cleaned, true);
  release.resolve();
});

test("executeJob() times a job out and reports it FAILED", async () => {
  let reason: unknown;
  const { options } = setup({
    timeoutMs: 5,
    handler: (_job, ctx) =>
      new Promise((_resolve, reject) =>
        ctx.signal.addEventListener("abort", () => reject(reason = ctx.signal.reason))
      ),
  });
  const done = await executeJob(job(), options);
  assert.ok(reason instanceof JobTimeoutError);
  assert.equal(done.result.error, "Job job-1 timed out after 5 ms");
  assert.equal(done.aborted, undefined);
});

test("executeJob() delivers ctx.progress() and progressUpdate(job) to the intake", async () => {
  const updates: unknown[] = [];
  const theJob = job();
  const { options } = setup({
    progress: (u) => Promise.resolve(void updates.push(u)),
    handler: async (j, ctx) => {
      await ctx.progress({ step: 1 });
      await progressUpdate(j, { step: 2 });
      return "done";
    },
  });
  const done = await executeJob(theJob, options);
  assert.deepEqual(updates, [{ step: 1 }, { step: 2 }]);
  assert.deepEqual(done.result, { output: "done" });
  await assert.rejects(progressUpdate(theJob, 3), TypeError);
});

test("executeJob(): a progress update the handler does not await never rejects unhandled", async () => {
  // Handlers ported from Python call progress_update() without await: neither an update for a
  // job that is not running nor one JSON cannot carry may end the process with every job in it.
  const { options, lines } = setup({
    handler: (_j, ctx) => {
      void progressUpdate({ id: "gone", input: 1 }, 1);
      void ctx.progress({ n: 1n });
      return "done";
    },
  });
  const done = await executeJob(job(), options);
  assert.deepEqual(done.result, { output: "done" });
  await new Promise((resolve) => setTimeout(resolve, 0)); // where an unhandled rejection fires
  assert.match(
    lines(),
    /WARN   \| job-1 \| Cannot log progress as it is not JSON-serialisable: n is a BigInt/,
  );
  // A caller that awaits still gets the error.
  await assert.rejects(progressUpdate({ id: "gone", input: 1 }, 1), TypeError);
});

test("executeJob() logs progress when the intake has no progress channel", async () => {
  const { options, lines } = setup({ handler: handlers.progress! });
  await executeJob(job(), options);
  assert.match(lines(), /INFO   \| job-1 \| Progress: \{"step":1\}\n/);
});

test("executeJob(): a handler may destructure ctx (signal, progress, log, ids)", async () => {
  const updates: unknown[] = [];
  const { options, lines } = setup({
    progress: (u) => Promise.resolve(void updates.push(u)),
    handler: async (_job, { signal, progress, log, jobId }) => {
      await progress("half");
      log.info(`aborted: ${signal.aborted}`);
      return jobId;
    },
  });
  const done = await executeJob(job(), options);
  assert.deepEqual(updates, ["half"]);
  assert.equal(done.result.output, "job-1");
  assert.match(lines(), /INFO   \| job-1 \| aborted: false\n/);
  // Without an intake channel, a destructured progress logs.
  const logged = setup({
    handler: async (_job, { progress }) => {
      await progress({ step: 2 });
      return 1;
    },
  });
  await executeJob(job(), logged.options);
  assert.match(logged.lines(), /Progress: \{"step":2\}/);
});

test("executeJob(): ctx survives spread, Object.create, Proxy, a replaced progress and detached log methods", async () => {
  const updates: unknown[] = [];
  const { options, lines } = setup({
    progress: (u) => Promise.resolve(void updates.push(u)),
    handler: async (_job, ctx) => {
      const spread = { ...ctx, extra: 1 };
      const copied = Object.assign({}, ctx);
      const derived = Object.create(ctx) as typeof ctx;
      const proxied = new Proxy(ctx, {});
      const seen = [spread, copied, derived, proxied].map((c) => [
        c.signal.aborted,
        c.jobId,
        typeof c.progress,
        typeof c.log.info,
      ]);
      await spread.progress("from a spread");
      await proxied.progress("through a proxy");
      const original = ctx.progress;
      ctx.progress = (u) => original({ wrapped: u }); // a handler may wrap it
      await ctx.progress("x");
      const { warn } = ctx.log;
      warn("detached warn");
      await Promise.reject(new Error("boom")).catch(ctx.log.error);
      return seen;
    },
  });
  const done = await executeJob(job(), options);
  assert.equal(done.result.error, undefined, String(done.result.error));
  const row = [false, "job-1", "function", "function"];
  assert.deepEqual(done.result.output, [row, row, row, row]);
  assert.deepEqual(updates, ["from a spread", "through a proxy", { wrapped: "x" }]);
  assert.match(lines(), /WARN   \| job-1 \| detached warn\n/);
  assert.match(lines(), /ERROR  \| job-1 \| Error: boom/);
});

test("executeJob() gives the handler its ids and a job logger", async () => {
  const { options, lines } = setup({
    handler: (_job, ctx) => {
      ctx.log.warn("careful");
      return { jobId: ctx.jobId, workerId: ctx.workerId, endpointId: ctx.endpointId };
    },
  });
  const done = await executeJob({ ...job(), batchId: "b7" }, options);
  assert.deepEqual(done.result.output, { jobId: "job-1", workerId: "worker-1", endpointId: "ep" });
  assert.match(lines(), /WARN   \| job-1 \| \[batchId=b7\] careful\n/);
});

test("executeJob() routes progressUpdate(job) for the validated copy the handler receives", async () => {
  const updates: unknown[] = [];
  const { options } = setup({
    inputSchema: v.object({ n: v.number() }),
    progress: (u) => Promise.resolve(void updates.push(u)),
    handler: async (j) => {
      await progressUpdate(j, "half");
      return j.input;
    },
  });
  const done = await executeJob(job({ n: 1 }), options);
  assert.deepEqual(done.result, { output: { n: 1 } });
  assert.deepEqual(updates, ["half"]);
});

test("abortedJob() reports a stop as executeJob() would, with the reason", async () => {
  const { abortedJob } = await import("../src/execute_job.ts");
  const { options } = setup({ handler: handlers.echo!, refreshWorker: true });
  const stop = abortedJob(new JobStoppedError("job-1"), options);
  assert.ok(stop.aborted instanceof JobStoppedError);
  assert.deepEqual(stop.result, { error: "Job job-1 was stopped", stopPod: true });
  const shutdown = abortedJob(new WorkerShutdownError(), options);
  assert.equal(JSON.parse(shutdown.result.error!).error_type, "WorkerShutdownError");
});

test("executeJob() with settleOnAbort: false waits for the handler after an abort", async () => {
  const controller = new AbortController();
  const started = deferred<void>();
  const finish = deferred<string>();
  let settled = false;
  const { options } = setup({
    signal: controller.signal,
    settleOnAbort: false,
    handler: () => (started.resolve(), finish.promise),
  });
  const running = executeJob(job(), options).then((done) => ((settled = true), done));
  await started.promise;
  controller.abort(new JobStoppedError("job-1"));
  await turn();
  assert.equal(settled, false, "settled before the handler did");
  finish.resolve("late");
  const done = await running;
  assert.ok(done.aborted instanceof JobStoppedError);
});

test("runJob() ends a plain-value job at once, and gives a promise for anything else", async () => {
  const { runJob } = await import("../src/execute_job.ts");
  const plain = runJob(job(3), setup({ handler: (j) => j.input }).options);
  assert.ok(!(plain instanceof Promise), "a plain value needs no promise");
  assert.equal(plain.body, '{"output":3}');
  const thrown = runJob(
    job(),
    setup({
      handler: () => {
        throw new RangeError("no");
      },
    }).options,
  );
  assert.ok(!(thrown instanceof Promise), "a synchronous throw ends it at once too");
  assert.equal(JSON.parse(thrown.result.error!).error_type, "RangeError");
  for (
    const handler of [async () => 1, function* () {
      yield 1;
    }, (j: Job) => j.input] as Handler[]
  ) {
    const schema = handler.length === 1 ? { inputSchema: v.number() } : {};
    const later = runJob(job(1), setup({ handler, ...schema }).options);
    assert.ok(later instanceof Promise, `${handler} with ${Object.keys(schema)} is awaited`);
    assert.equal((await later).result.error, undefined);
  }
});
