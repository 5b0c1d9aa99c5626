/**
 * `OutageMonitor`: the operator's view of a job-done or job-stream outage (issue 11): one line
 * when it starts (route, failure, what is held), one when it ends (how long, how many posts were
 * delivered late), and sleeping retries woken as soon as the route answers. A fake clock keeps
 * the durations exact; nothing here waits on real time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { OutageMonitor } from "../src/pull/outage_monitor.ts";

function setup() {
  const lines: string[] = [];
  const logger = {
    info: (m: unknown) => void lines.push(`INFO ${m}`),
    warn: (m: unknown) => void lines.push(`WARN ${m}`),
  };
  const clock = { now: 1000 };
  const monitor = new OutageMonitor({ logger, now: () => clock.now });
  return { lines, clock, monitor };
}

test("OutageMonitor logs nothing while posts are delivered at once", () => {
  const { lines, monitor } = setup();
  for (let i = 0; i < 3; i++) {
    monitor.end(monitor.begin("job-done", "result", `j${i}`), "delivered");
  }
  assert.deepEqual(lines, []);
  assert.equal(monitor.failing("job-done"), false);
});

test("OutageMonitor logs one line when a route starts failing, naming what is held", () => {
  const { lines, monitor } = setup();
  const a = monitor.begin("job-done", "result", "job-a");
  const b = monitor.begin("job-done", "result", "job-b");
  monitor.begin("job-done", "progress", "job-c");
  monitor.begin("job-stream", "chunk", "job-d"); // another route: not held by job-done
  monitor.failed(a, "HTTP 503");
  monitor.failed(b, "HTTP 503");
  monitor.failed(a, "HTTP 503");
  assert.deepEqual(lines, [
    "WARN RunPod's job-done endpoint is failing (HTTP 503): holding 2 results and 1 progress update (jobs job-a, job-b, job-c); retrying until it answers.",
  ]);
  assert.equal(monitor.failing("job-done"), true);
  assert.equal(monitor.failing("job-stream"), false);
});

test("OutageMonitor logs one line when the route answers again, with the duration and the late posts", () => {
  const { lines, clock, monitor } = setup();
  const tickets = ["j1", "j2", "j3"].map((id) => monitor.begin("job-stream", "chunk", id));
  for (const ticket of tickets) monitor.failed(ticket, "TypeError: fetch failed");
  clock.now += 10_000;
  monitor.end(tickets[0]!, "delivered");
  assert.equal(monitor.failing("job-stream"), false, "answered: no longer failing");
  assert.equal(lines.length, 1, "the end line waits for the posts that failed meanwhile");
  clock.now += 5;
  monitor.end(tickets[1]!, "delivered");
  monitor.end(tickets[2]!, "delivered");
  assert.deepEqual(lines.slice(1), [
    "INFO RunPod's job-stream endpoint answers again after 10.0 s; 3 posts delivered late.",
  ]);
});

test("OutageMonitor treats a failure after the first answer as the same outage", () => {
  const { lines, clock, monitor } = setup();
  const a = monitor.begin("job-done", "result", "a");
  const b = monitor.begin("job-done", "result", "b");
  monitor.failed(a, "HTTP 502");
  monitor.failed(b, "HTTP 502");
  clock.now += 2000;
  monitor.end(a, "delivered"); // answers once...
  monitor.failed(b, "HTTP 502"); // ...and fails again: still down
  assert.equal(monitor.failing("job-done"), true);
  clock.now += 3000;
  monitor.end(b, "delivered");
  assert.deepEqual(lines.map((l) => l.slice(0, 4)), ["WARN", "INFO"]);
  assert.equal(
    lines[1],
    "INFO RunPod's job-done endpoint answers again after 5.0 s; 2 posts delivered late.",
  );
});

test("OutageMonitor ends an outage on a 4xx answer, which is not counted as delivered", () => {
  const { lines, monitor } = setup();
  const a = monitor.begin("job-done", "result", "a");
  monitor.failed(a, "HTTP 503");
  monitor.end(a, "refused");
  assert.match(lines.at(-1)!, /answers again after 0\.0 s; 0 posts delivered late\.$/);
});

test("OutageMonitor does not end an outage for posts that were abandoned", () => {
  const { lines, monitor } = setup();
  const a = monitor.begin("job-done", "result", "a");
  monitor.failed(a, "HTTP 503");
  monitor.end(a, "abandoned");
  assert.equal(monitor.failing("job-done"), true);
  assert.equal(lines.length, 1);
});

test("OutageMonitor.sleep() is woken when another post on the route is answered", async () => {
  const { monitor } = setup();
  const sleeper = monitor.begin("job-done", "result", "sleeper");
  const prober = monitor.begin("job-done", "result", "prober");
  monitor.failed(sleeper, "HTTP 503");
  monitor.failed(prober, "HTTP 503");
  const woken = monitor.sleep(sleeper, 3_600_000); // an hour: only the wake-up can end it
  monitor.end(prober, "delivered");
  await woken;
  monitor.end(sleeper, "delivered");
  assert.equal(monitor.failing("job-done"), false);
});

test("OutageMonitor.sleep() with early = false (a Retry-After) is not woken by another post's answer", async () => {
  const { monitor } = setup();
  const throttled = monitor.begin("job-done", "result", "throttled");
  const prober = monitor.begin("job-done", "result", "prober");
  monitor.failed(throttled, "HTTP 429");
  monitor.failed(prober, "HTTP 503");
  const controller = new AbortController();
  let woken = false;
  const sleeping = monitor.sleep(throttled, 3_600_000, controller.signal, false)
    .then(() => void (woken = true));
  monitor.end(prober, "delivered"); // wakes the early sleepers synchronously
  await new Promise((resolve) => setTimeout(resolve, 0)); // one turn: any wake-up has landed
  assert.equal(woken, false, "the server's Retry-After was cut short");
  controller.abort(new Error("shutdown"));
  await sleeping;
  assert.equal(woken, true);
});

test("OutageMonitor.sleep() ends when its signal aborts", async () => {
  const { monitor } = setup();
  const ticket = monitor.begin("job-done", "result", "a");
  monitor.failed(ticket, "HTTP 503");
  const controller = new AbortController();
  const sleeping = monitor.sleep(ticket, 3_600_000, controller.signal);
  controller.abort(new Error("shutdown"));
  await sleeping;
  const already = await monitor.sleep(ticket, 3_600_000, controller.signal);
  assert.equal(already, undefined);
});

test("OutageMonitor names at most 10 job ids in its start line", () => {
  const { lines, monitor } = setup();
  const tickets = Array.from(
    { length: 12 },
    (_, i) => monitor.begin("job-done", "result", `j${i}`),
  );
  monitor.failed(tickets[0]!, "HTTP 500");
  assert.match(lines[0]!, /holding 12 results \(jobs j0, j1, .*j9 and 2 more\)/);
});
