// The dev API's stream buffer: a reader paces the handler, and nobody reading never stalls it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../src/config.ts";
import { DevJobs } from "../src/dev_api/dev_jobs.ts";
import { StreamBuffer } from "../src/dev_api/stream_buffer.ts";
import { fetchClient } from "../src/http_client.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Handler } from "../src/types.ts";
import { JobWorker } from "../src/worker/job_worker.ts";
import { TEST_WORKER_INFO } from "./support/http_doubles.ts";

test("StreamBuffer: past its bounds a write waits for a reader, and nothing is dropped while one reads", async () => {
  const buffer = new StreamBuffer({ maxChunks: 2, readerWaitMs: 60_000 });
  const writer = buffer.sink().getWriter();
  await writer.write(1);
  await writer.write(2);
  let third = false;
  const writing = writer.write(3).then(() => (third = true));
  await Promise.resolve();
  assert.equal(third, false); // over the bound: waits
  assert.deepEqual(buffer.take(), ['{"output":1}', '{"output":2}', '{"output":3}']);
  await writing;
  assert.equal(buffer.dropped, 0);
  assert.equal(buffer.heldBytes, 0);
});

test("StreamBuffer: with no reader within readerWaitMs the oldest chunks are dropped and writes go on", async () => {
  const buffer = new StreamBuffer({ maxChunks: 2, readerWaitMs: 20 });
  const writer = buffer.sink().getWriter();
  for (let i = 1; i <= 50; i++) await writer.write(i); // would hang if nobody reading stalled it
  assert.equal(buffer.size, 2);
  assert.equal(buffer.dropped, 48);
  assert.deepEqual(buffer.take(), ['{"output":49}', '{"output":50}']); // the newest are kept
  // A reader came back: it paces the handler again.
  await writer.write(51);
  await writer.write(52);
  let paced = true;
  const writing = writer.write(53).then(() => (paced = false));
  await Promise.resolve();
  assert.equal(paced, true);
  assert.equal(buffer.take().length, 3);
  await writing;
  assert.equal(buffer.dropped, 48);
});

test("StreamBuffer: a single chunk over the byte bound is kept, never dropped", async () => {
  const buffer = new StreamBuffer({ maxBytes: 8, readerWaitMs: 20 });
  const writer = buffer.sink().getWriter();
  await writer.write("a long chunk over the bound");
  await writer.write("another one");
  assert.equal(buffer.dropped, 1);
  assert.deepEqual(buffer.take(), ['{"output":"another one"}']);
});

test("StreamBuffer: heldBytes counts what is unread, so a long stream read as it goes holds little", async () => {
  const buffer = new StreamBuffer();
  const writer = buffer.sink().getWriter();
  for (let i = 0; i < 100; i++) {
    await writer.write("x".repeat(1000));
    buffer.take();
  }
  await writer.write("last");
  assert.equal(buffer.heldBytes, '{"output":"last"}'.length);
});

test("StreamBuffer: wait() ends on a chunk, on either signal, or at its time, and each wait is woken once", async () => {
  const buffer = new StreamBuffer();
  const writer = buffer.sink().getWriter();
  const client = new AbortController();
  const shutdown = new AbortController();
  const waits = [buffer.wait(60_000, client.signal, shutdown.signal), buffer.wait(60_000)];
  await writer.write("a"); // wakes both
  await Promise.all(waits);
  buffer.take();
  const aborted = buffer.wait(60_000, client.signal, shutdown.signal);
  shutdown.abort(); // the second signal counts as much as the first
  await aborted;
  await buffer.wait(1, client.signal); // its own time
  await buffer.wait(60_000, shutdown.signal); // already aborted: at once
});

test("DevJobs: a /stream long-poll on a queued job answers IN_PROGRESS as soon as the job starts", async () => {
  const release = new Map<string, () => void>();
  const handler: Handler = (job) =>
    new Promise<void>((resolve) => release.set(job.input as string, resolve));
  const worker = new JobWorker({
    config: parseConfig({ handler, concurrencyModifier: () => 1 }),
    logger: new RunPodLogger({ level: "NOTSET", write: () => {} }),
    info: TEST_WORKER_INFO,
    queueLimit: 10,
  });
  await worker.start();
  const jobs = new DevJobs({
    worker,
    logger: new RunPodLogger({ level: "NOTSET", write: () => {} }),
    http: fetchClient,
    streamHoldMs: 3_600_000, // only the start can end this long-poll within the test's time
  });
  const first = await (jobs.run({ input: "a", bytes: 3 })).json();
  const second = await (jobs.run({ input: "b", bytes: 3 })).json();
  assert.equal(second.status, "IN_QUEUE");
  const polling = jobs.stream(second.id, new AbortController().signal); // waiting from here on
  release.get("a")!(); // the first job ends: the second gets the slot
  const answer = await (await polling).json();
  assert.deepEqual(answer, { id: second.id, status: "IN_PROGRESS", stream: [] });
  release.get("b")!();
  assert.equal((await (await jobs.status(first.id)).json()).status, "COMPLETED");
  worker.stop("test over");
  assert.ok(await worker.drain());
});
