import { test } from "node:test";
import assert from "node:assert/strict";
import { deferred } from "../src/async/deferred.ts";
import type { HeartbeatData } from "../src/pull/heartbeat_thread.ts";
import { HEARTBEAT_THREAD_SOURCE } from "../src/pull/heartbeat_thread_source.ts";
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

test("the heartbeat thread's bundled source reads the main thread's mirror writes", async () => {
  const runtime = await currentRuntime();
  const mirror = new JobMirror();
  const pings: { jobs: string | null; version: string | null }[] = [];
  let waiting: { want: string | null; done: () => void } | undefined;
  const server = await runtime.serve((request) => {
    const url = new URL(request.url);
    const jobs = url.searchParams.get("job_id");
    pings.push({ jobs, version: url.searchParams.get("runpod_version") });
    if (waiting && waiting.want === jobs) waiting.done();
    return new Response(null, { status: 200 });
  });
  const thread = runtime.startThread(
    HEARTBEAT_THREAD_SOURCE,
    {
      url: `http://127.0.0.1:${server.port}/ping/pod-1`,
      apiKey: "key",
      intervalMs: 10,
      version: "9.9.9",
      mirror: mirror.buffer,
    } satisfies HeartbeatData,
  );
  const stopped = deferred<void>();
  thread.onMessage((message) => {
    if ((message as { type: string }).type === "stopped") stopped.resolve();
  });
  try {
    for (const list of [["a"], ["a", "b", "c"], []]) {
      const seen = deferred<void>();
      waiting = { want: list.length ? list.join(",") : null, done: seen.resolve };
      mirror.write(list);
      await seen.promise;
    }
    thread.postMessage({ type: "stop" });
    await stopped.promise;
    assert.ok(pings.every((ping) => ping.version === "9.9.9"));
    assert.equal(pings.at(-1)!.jobs, null);
  } finally {
    await thread.terminate();
    await server.close();
  }
});
