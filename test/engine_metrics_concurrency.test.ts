/**
 * engineMetricsConcurrency() against the simulated engine's real /metrics server on 127.0.0.1,
 * the Prometheus text parser, and the simulated engine itself (under a manual clock).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  engineMetricsConcurrency,
  type EngineMetricsConcurrencyOptions,
} from "../src/concurrency/engine_metrics_concurrency.ts";
import { metricValue, parsePrometheusText } from "../src/concurrency/prometheus_text.ts";
import type { ConcurrencyObservation } from "../src/worker/concurrency_observation.ts";
import { SimulatedEngine } from "../bench/simulated_engine.ts";
import { ManualClock } from "./support/manual_clock.ts";
import { currentRuntime } from "./support/runtime.ts";

const busy = (limit: number): ConcurrencyObservation => ({
  intervalMs: 100,
  completed: 0,
  failed: 0,
  latenciesMs: [],
  running: limit,
  waiting: 0,
  limit,
});

/** A server whose body and status the test changes. */
async function metricsServer() {
  const runtime = await currentRuntime();
  const state = { status: 200, body: "" };
  const server = await runtime.serve(
    () => new Response(state.body, { status: state.status }),
    { hostname: "127.0.0.1", port: 0 },
  );
  return { state, server, url: `http://127.0.0.1:${server.port}/metrics` };
}

function logs() {
  const lines: string[] = [];
  return {
    lines,
    logger: {
      warn: (m: unknown) => lines.push(`WARN ${m}`),
      info: (m: unknown) => lines.push(`INFO ${m}`),
    },
  };
}

test("parsePrometheusText() reads labels, escapes, special values and timestamps", () => {
  const samples = parsePrometheusText([
    "# HELP vllm:num_requests_running Number of requests.",
    "# TYPE vllm:num_requests_running gauge",
    'vllm:num_requests_running{model_name="a \\"b\\"\\\\c",engine="0"} 3.0',
    'vllm:num_requests_running{model_name="d",} 2 1700000000000',
    "up +Inf",
    "down NaN",
    "x_total 1.5e3",
    "# EOF",
    "",
  ].join("\n"));
  assert.deepEqual(samples[0], {
    name: "vllm:num_requests_running",
    labels: { model_name: 'a "b"\\c', engine: "0" },
    value: 3,
  });
  assert.equal(metricValue(samples, "vllm:num_requests_running"), 5);
  assert.equal(metricValue(samples, "vllm:num_requests_running", "max"), 3);
  assert.equal(metricValue(samples, "up"), Infinity);
  assert.ok(Number.isNaN(metricValue(samples, "down")));
  assert.equal(metricValue(samples, "x_total"), 1500);
});

test("parsePrometheusText() reads a sample with an OpenMetrics exemplar", () => {
  const samples = parsePrometheusText(
    'vllm:e2e_request_latency_seconds_bucket{le="1.0"} 12 # {trace_id="abc"} 0.5 1700000000\n' +
      "vllm:num_requests_running 3\n# EOF\n",
  );
  assert.equal(metricValue(samples, "vllm:e2e_request_latency_seconds_bucket"), 12);
  assert.equal(metricValue(samples, "vllm:num_requests_running"), 3);
});

test("parsePrometheusText() names the line and what it expected on bad input", () => {
  assert.throws(() => parsePrometheusText("ok 1\nbad{x=1} 2\n"), {
    name: "SyntaxError",
    message: /line 2: expected '="' after label x/,
  });
  assert.throws(() => parsePrometheusText("a one"), /line 1: expected a number/);
  assert.throws(() => parsePrometheusText("a 1 2 3"), /at most a timestamp/);
  assert.throws(() => parsePrometheusText(3 as unknown as string), TypeError);
});

test("parsePrometheusText() with onInvalidLine skips bad lines and names each", () => {
  const bad: SyntaxError[] = [];
  const samples = parsePrometheusText("a 1\nb{x=1} 2\nc 3\nd four\n", {
    onInvalidLine: (error) => void bad.push(error),
  });
  assert.deepEqual(samples.map((sample) => sample.name), ["a", "c"]);
  assert.deepEqual(bad.map((error) => error.message.match(/line (\d+)/)?.[1]), ["2", "4"]);
  assert.ok(bad.every((error) => error instanceof SyntaxError));
  assert.throws(
    () => parsePrometheusText("a 1", { onInvalidLine: "skip" as unknown as () => void }),
    { name: "TypeError", message: /'onInvalidLine' must be a function: received string/ },
  );
});

test("SimulatedEngine: flat throughput past the knee, latency in proportion, OOM past memory", () => {
  const clock = new ManualClock();
  const engine = new SimulatedEngine({
    knee: 4,
    memoryLimit: 10,
    baseLatencyMs: 100,
    jitter: 0,
    clock,
  });
  const outcomes: { ok: boolean; latencyMs: number }[] = [];
  for (let i = 0; i < 11; i++) engine.submit((o) => outcomes.push(o));
  assert.equal(engine.running, 4);
  assert.equal(engine.waiting, 6);
  assert.equal(engine.cacheUsage, 1);
  clock.advance(10);
  assert.deepEqual(outcomes, [{ ok: false, latencyMs: 5 }]); // the eleventh: out of memory
  clock.advance(300);
  const ok = outcomes.filter((o) => o.ok).map((o) => o.latencyMs);
  assert.deepEqual(ok, [100, 100, 100, 100, 200, 200, 200, 200, 300, 300]);
  // A larger knee admits the waiting at once.
  for (let i = 0; i < 8; i++) engine.submit(() => {});
  engine.knee = 8;
  assert.equal(engine.running, 8);
  assert.throws(() => engine.knee = 0, RangeError);
  const text = parsePrometheusText(engine.metricsText());
  assert.equal(metricValue(text, "vllm:num_requests_running"), 8);
  assert.equal(metricValue(text, "vllm:num_requests_waiting"), 0);
  assert.equal(metricValue(text, "vllm:kv_cache_usage_perc"), 0.8);
});

test("engineMetricsConcurrency() follows vLLM's gauges served over HTTP", async () => {
  const runtime = await currentRuntime();
  // A manual clock: the requests held stay held (no real timers are left behind).
  const engine = new SimulatedEngine({ knee: 4, memoryLimit: 20, clock: new ManualClock() });
  const server = await runtime.serve(engine.fetch, { hostname: "127.0.0.1", port: 0 });
  try {
    const modifier = engineMetricsConcurrency({
      url: `http://127.0.0.1:${server.port}/metrics`,
      intervalMs: 0,
    });
    assert.equal(modifier(1, busy(1)), 4); // the first scrape starts; the initial limit
    await modifier.settled();
    // An idle engine with room, the limit fully used: it grows.
    assert.equal(modifier.state.scrapes, 1);
    const grown = modifier(4, busy(4));
    assert.ok(grown > 4, `grew to ${grown}`);
    // Six requests held: four run, two wait: the batch is full, so running + 1.
    for (let i = 0; i < 6; i++) engine.submit(() => {});
    await modifier.settled();
    modifier(grown, busy(grown));
    await modifier.settled();
    assert.equal(modifier(5, busy(5)), 5);
    assert.deepEqual(modifier.state.reading, { running: 4, waiting: 2, cacheUsage: 0.3 });
  } finally {
    await server.close();
  }
});

test("engineMetricsConcurrency() keeps below the memory its requests predict", async () => {
  const { state, server, url } = await metricsServer();
  try {
    state.body = "vllm:num_requests_running 8\nvllm:num_requests_waiting 0\n" +
      'vllm:gpu_cache_usage_perc{engine="0"} 0.8\n';
    const modifier = engineMetricsConcurrency({ url, intervalMs: 0, initial: 8 });
    modifier(8, busy(8));
    await modifier.settled();
    assert.equal(modifier(8, busy(8)), 9); // 0.9 × 8 / 0.8; growth alone would give 10
  } finally {
    await server.close();
  }
});

test("engineMetricsConcurrency() keeps the last good limit on failed scrapes, logging once", async () => {
  const { state, server, url } = await metricsServer();
  const { lines, logger } = logs();
  try {
    state.body = "vllm:num_requests_running 6\nvllm:num_requests_waiting 3\n";
    const modifier = engineMetricsConcurrency({ url, intervalMs: 0, logger });
    modifier(1, busy(1));
    await modifier.settled();
    assert.equal(modifier(4, busy(4)), 7);
    state.status = 500;
    for (let i = 0; i < 3; i++) {
      await modifier.settled();
      assert.equal(modifier(7, busy(7)), 7);
    }
    state.status = 200;
    state.body = "no gauges here 1\n"; // parses, but has none of the preset's names
    await modifier.settled();
    modifier(7, busy(7));
    await modifier.settled();
    assert.equal(modifier.state.failing, true);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(
      lines[0]!,
      /^WARN Cannot scrape vLLM metrics at .*: HTTP 500; keeping concurrency 7/,
    );
    state.body = "vllm:num_requests_running 2\nvllm:num_requests_waiting 2\n";
    modifier(7, busy(7));
    await modifier.settled();
    assert.equal(modifier(7, busy(7)), 3);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^INFO Engine metrics at .* are back/);
    assert.ok(modifier.state.failures >= 4);
  } finally {
    await server.close();
  }
});

test("engineMetricsConcurrency() skips a malformed line, warning once, and still follows the gauges", async () => {
  const { state, server, url } = await metricsServer();
  const { lines, logger } = logs();
  try {
    // An engine's new metric the parser does not read, between the gauges that matter.
    state.body = "vllm:num_requests_running 6\nvllm:odd_metric{label=unquoted} 1\n" +
      "vllm:num_requests_waiting 3\n";
    const modifier = engineMetricsConcurrency({ url, intervalMs: 0, logger });
    modifier(1, busy(1));
    await modifier.settled();
    assert.equal(modifier.state.failing, false);
    assert.equal(modifier(4, busy(4)), 7); // running 6 + queue target 1: the gauges were read
    await modifier.settled();
    modifier(7, busy(7));
    await modifier.settled();
    assert.ok(modifier.state.scrapes >= 2);
    assert.equal(lines.length, 1, lines.join("\n")); // the same line again is not logged again
    assert.match(
      lines[0]!,
      /^WARN Skipped 1 line of .* that is not a valid Prometheus sample; the first: Cannot parse metrics line 2/,
    );
    // A gauge the preset needs on a malformed line: the scrape fails, and says which line.
    state.body = "vllm:num_requests_running 6\nvllm:num_requests_waiting{x} 3\n";
    modifier(7, busy(7));
    await modifier.settled();
    assert.equal(modifier.state.failing, true);
    assert.match(lines.at(-1)!, /^WARN Cannot scrape vLLM metrics .*serves none of .*line 2/);
  } finally {
    await server.close();
  }
});

test("engineMetricsConcurrency() never waits for a scrape, and abandons a slow one", async () => {
  const { lines, logger } = logs();
  let calls = 0;
  const hanging: EngineMetricsConcurrencyOptions["fetch"] = (_url, init) => {
    calls++;
    return new Promise((_, reject) => {
      init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason));
    });
  };
  const modifier = engineMetricsConcurrency({
    url: "http://127.0.0.1:9/metrics",
    fetch: hanging,
    timeoutMs: 5,
    intervalMs: 0,
    initial: 3,
    logger,
  });
  const value = modifier(1, busy(1));
  assert.equal(typeof value, "number"); // a number, not a promise: the take never waits
  assert.equal(value, 3);
  assert.equal(modifier(3, busy(3)), 3); // one scrape at a time
  assert.equal(calls, 1);
  await modifier.settled();
  assert.equal(modifier.state.failures, 1);
  assert.match(lines[0]!, /timed out/);
});

test("engineMetricsConcurrency() halves the limit at once when jobs fail", async () => {
  const { state, server, url } = await metricsServer();
  try {
    state.body = "vllm:num_requests_running 20\nvllm:num_requests_waiting 0\n";
    const modifier = engineMetricsConcurrency({ url, intervalMs: 60_000, initial: 20 });
    assert.equal(modifier(20, busy(20)), 20);
    await modifier.settled();
    assert.equal(modifier(20, busy(20)), 25); // room and demand: +25 %
    const failing = { ...busy(25), completed: 5, failed: 20, latenciesMs: Array(25).fill(5) };
    assert.equal(modifier(25, failing), 12);
    assert.equal(modifier(12, failing), 12); // once per scrape
  } finally {
    await server.close();
  }
});

test("engineMetricsConcurrency() rejects a bad URL and options out of range", () => {
  assert.throws(() => engineMetricsConcurrency({ url: "not a url" }), TypeError);
  assert.throws(() => engineMetricsConcurrency({ url: "http://x/", min: 3, max: 2 }), RangeError);
  assert.throws(() => engineMetricsConcurrency({ url: "http://x/", cacheTarget: 2 }), RangeError);
  // A timer past 2^31 - 1 ms fires at once: refused, where Infinity means no timeout.
  assert.throws(
    () => engineMetricsConcurrency({ url: "http://x/", timeoutMs: 3e9 }),
    /'timeoutMs' must be a number from 1 to 2147483647: received 3000000000/,
  );
});

test("engineMetricsConcurrency() with only a min above 256 takes max to be that min", () => {
  const modifier = engineMetricsConcurrency({ url: "http://127.0.0.1:9/metrics", min: 300 });
  assert.equal(modifier.state.limit, 300);
  assert.throws(
    () => engineMetricsConcurrency({ url: "http://x/", min: 300, max: 299 }),
    /'max' must be an integer of at least 300: received 299/,
  );
});

test("engineMetricsConcurrency() with timeoutMs: Infinity scrapes with no timeout", async () => {
  const { state, server, url } = await metricsServer();
  const { lines, logger } = logs();
  try {
    state.body = "vllm:num_requests_running 6\nvllm:num_requests_waiting 3\n";
    const modifier = engineMetricsConcurrency({ url, intervalMs: 0, timeoutMs: Infinity, logger });
    modifier(4, busy(4));
    await modifier.settled();
    assert.equal(modifier(4, busy(4)), 7, lines.join("\n"));
    assert.deepEqual(lines, []);
  } finally {
    await server.close();
  }
});
