import { test } from "node:test";
import assert from "node:assert/strict";
import { deferred } from "../src/async/deferred.ts";
import { JobMirror, readJobMirror } from "../src/pull/job_mirror.ts";
import { currentRuntime } from "./support/runtime.ts";

test("JobMirror.write() replaces the list that readJobMirror() sees", () => {
  const mirror = new JobMirror();
  assert.deepEqual(readJobMirror(mirror.buffer), []);
  assert.equal(mirror.write(["sync-0f3e-e1", "job-2"]), true);
  assert.deepEqual(readJobMirror(mirror.buffer), ["sync-0f3e-e1", "job-2"]);
  mirror.write(new Set(["job-2"]));
  assert.deepEqual(readJobMirror(mirror.buffer), ["job-2"]);
  mirror.write([]);
  assert.deepEqual(readJobMirror(mirror.buffer), []);
});

test("JobMirror.write() keeps non-ASCII ids intact", () => {
  const mirror = new JobMirror();
  mirror.write(["jöb-é", "任务-1"]);
  assert.deepEqual(readJobMirror(mirror.buffer), ["jöb-é", "任务-1"]);
});

test("JobMirror.write() cuts a list over 64 KiB at an id boundary", () => {
  const mirror = new JobMirror();
  const ids = Array.from({ length: 3000 }, (_, i) => `job-${String(i).padStart(20, "0")}`);
  assert.equal(mirror.write(ids), false);
  assert.equal(mirror.truncated, true);
  const seen = readJobMirror(mirror.buffer);
  assert.ok(seen.length > 0 && seen.length < ids.length);
  assert.deepEqual(seen, ids.slice(0, seen.length));
  assert.equal(mirror.write(["small"]), true);
  assert.equal(mirror.truncated, false);
});

test("readJobMirror() in another thread sees the main thread's writes", async () => {
  const runtime = await currentRuntime();
  const mirror = new JobMirror();
  const thread = runtime.startThread(
    new URL("./fixtures/mirror_reader_thread.ts", import.meta.url),
    mirror.buffer,
  );
  let next = deferred<unknown>();
  thread.onMessage((message) => next.resolve(message));
  try {
    assert.equal(await next.promise, "ready");
    for (const list of [["a"], ["a", "b", "c"], []]) {
      mirror.write(list);
      next = deferred<unknown>();
      thread.postMessage("read");
      assert.deepEqual(await next.promise, list);
    }
  } finally {
    await thread.terminate();
  }
});
