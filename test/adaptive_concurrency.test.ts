/**
 * adaptiveConcurrency(): fed observations directly (deterministic), and in a closed loop on the
 * simulated engine under a manual clock (deterministic too: no real time is involved).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  adaptiveConcurrency,
  type AdaptiveConcurrencyModifier,
} from "../src/concurrency/adaptive_concurrency.ts";
import { ConcurrencyGate } from "../src/concurrency_gate.ts";
import {
  type ConcurrencyObservation,
  ObservationWindow,
} from "../src/worker/concurrency_observation.ts";
import { ClosedLoop } from "../bench/closed_loop.ts";
import { SimulatedEngine } from "../bench/simulated_engine.ts";
import { ManualClock } from "./support/manual_clock.ts";

/** A window in which `ended` jobs of `latency` ms ended, `failed` of them failed. */
function seen(
  limit: number,
  latency: number,
  options: { ended?: number; failed?: number; running?: number; intervalMs?: number } = {},
): ConcurrencyObservation {
  const ended = options.ended ?? limit;
  const failed = options.failed ?? 0;
  return {
    intervalMs: options.intervalMs ?? 100,
    completed: ended - failed,
    failed,
    latenciesMs: Array(ended).fill(latency),
    running: options.running ?? limit,
    waiting: 0,
    limit,
  };
}

/** Calls the modifier as the gate would, feeding back what it returned. */
function drive(
  modifier: (current: number, observed?: ConcurrencyObservation) => number,
  limit: number,
  latency: number | ((limit: number) => number),
  windows: number,
  options: { failed?: (limit: number) => number; intervalMs?: number } = {},
): number {
  for (let i = 0; i < windows; i++) {
    const l = typeof latency === "number" ? latency : latency(limit);
    const ended = limit + Math.max(8, limit); // a generation to skip, then the samples
    limit = modifier(
      limit,
      seen(limit, l, {
        ended,
        failed: options.failed?.(limit) ?? 0,
        intervalMs: options.intervalMs,
      }),
    );
  }
  return limit;
}

test("adaptiveConcurrency() rejects options out of range", () => {
  assert.throws(() => adaptiveConcurrency({ min: 0 }), RangeError);
  assert.throws(
    () => adaptiveConcurrency({ min: 5, max: 4 }),
    /'max' must be an integer of at least 5/,
  );
  assert.throws(() => adaptiveConcurrency({ tolerance: -1 }), RangeError);
  assert.throws(() => adaptiveConcurrency({ quantile: 2 }), RangeError);
  assert.throws(() => adaptiveConcurrency({ backoff: 1 }), RangeError);
  assert.throws(() => adaptiveConcurrency({ initial: 1.5 }), RangeError);
});

test("adaptiveConcurrency() refuses an option that is not a number with a TypeError saying so", () => {
  // An option read from the environment is a string: the RangeError said "'max' must be an
  // integer of at least 1: received 30", which reads as nonsense.
  assert.throws(() => adaptiveConcurrency({ max: "30" as unknown as number }), {
    name: "TypeError",
    message: `'max' must be a number: received the string "30"`,
  });
  assert.throws(() => adaptiveConcurrency({ tolerance: "0.1" as unknown as number }), {
    name: "TypeError",
    message: `'tolerance' must be a number: received the string "0.1"`,
  });
  assert.throws(() => adaptiveConcurrency({ min: {} as unknown as number }), {
    name: "TypeError",
    message: `'min' must be a number: received an object`,
  });
  assert.throws(() => adaptiveConcurrency({ max: Infinity }), {
    name: "RangeError",
    message: "'max' must be an integer of at least 1: received Infinity",
  });
});

test("adaptiveConcurrency() with only a `min` above 256 takes `max` to be that `min`", () => {
  // It threw "'max' must be an integer of at least 300: received 256", for a max never given.
  const modifier = adaptiveConcurrency({ min: 300 });
  assert.equal(modifier(1), 300);
  assert.equal(adaptiveConcurrency({ min: 300, initial: 400 })(1), 300);
});

test("adaptiveConcurrency() keeps its limit when called without observations", () => {
  const modifier = adaptiveConcurrency({ initial: 6 });
  assert.equal(modifier(1), 6);
  assert.equal(modifier(6), 6);
  assert.equal(modifier.state.floorMs, undefined);
  assert.equal(modifier.state.phase, "probe");
});

test("adaptiveConcurrency() measures the floor, then grows while latency stays at it", () => {
  const modifier = adaptiveConcurrency({ initial: 4, max: 64 });
  let limit = modifier(4, seen(4, 100, { ended: 16 }));
  assert.equal(modifier.state.floorMs, 100);
  assert.equal(modifier.state.phase, "run");
  const trace = [limit];
  for (let i = 0; i < 6; i++) {
    limit = modifier(limit, seen(limit, 100, { ended: limit + Math.max(8, limit) }));
    trace.push(limit);
  }
  for (let i = 1; i < trace.length; i++) assert.ok(trace[i]! > trace[i - 1]!, `${trace}`);
  assert.ok(trace.at(-1)! <= 64);
});

test("adaptiveConcurrency() handles jobs faster than the worker's 1 ms resolution", () => {
  // The worker reports whole milliseconds: sub-millisecond jobs measure 0, and a floor of 0
  // made the gradient 0/0, so the modifier returned NaN, or fell to its minimum for good.
  for (const latency of [0, (limit: number) => (limit % 2 === 0 ? 0 : 1)]) {
    const modifier = adaptiveConcurrency({ initial: 4, max: 64, random: () => 0.5 });
    const returned: number[] = [];
    let limit = 4;
    for (let i = 0; i < 40; i++) {
      const l = typeof latency === "number" ? latency : latency(limit);
      limit = modifier(limit, seen(limit, l, { ended: limit + Math.max(8, limit) }));
      returned.push(limit);
    }
    assert.ok(returned.every((v) => Number.isInteger(v) && v >= 1), `${returned}`);
    assert.equal(limit, 64, `it grows while latency stays at the floor: ${returned}`);
    assert.equal(modifier.state.floorMs, 1);
  }
});

test("adaptiveConcurrency() does not grow when the worker does not use its limit", () => {
  const modifier = adaptiveConcurrency({ initial: 8 });
  let limit = modifier(8, seen(8, 100, { ended: 16 }));
  for (let i = 0; i < 5; i++) {
    limit = modifier(limit, seen(limit, 100, { ended: 8, running: 2 }));
  }
  assert.equal(limit, 8);
});

test("adaptiveConcurrency() backs off on a latency gradient to about (1 + tolerance) × the knee", () => {
  const modifier = adaptiveConcurrency({ initial: 4, max: 200 });
  // An engine with a knee of 20: latency 100 ms up to 20 in flight, then 100 × n / 20.
  const knee = (n: number) => 100 * Math.max(1, n / 20);
  let limit = modifier(4, seen(4, 100, { ended: 16 }));
  limit = drive(modifier, limit, knee, 60);
  assert.ok(limit >= 20 && limit <= 26, `settled at ${limit}`);
  // From far above, one window brings it near the knee (the decrease is clamped at half).
  const high = modifier(limit, seen(40, knee(40), { ended: 40 }));
  assert.ok(high <= 26, `after a 2× gradient: ${high}`);
});

test("adaptiveConcurrency() backs off on failures and caps growth until the next probe", () => {
  const modifier = adaptiveConcurrency({ initial: 10, max: 100 });
  let limit = modifier(10, seen(10, 100, { ended: 16 }));
  limit = drive(modifier, limit, 100, 6); // grows at the floor
  const before = limit;
  // Out of memory above 24: a third of the jobs fail fast.
  limit = modifier(limit, seen(limit, 100, { ended: 30, failed: 10 }));
  assert.ok(limit < before, `${before} -> ${limit}`);
  assert.ok(modifier.state.ceiling < before);
  const ceiling = modifier.state.ceiling;
  limit = drive(modifier, limit, 100, 20);
  assert.ok(limit <= ceiling, `${limit} above the ceiling ${ceiling}`);
});

test("adaptiveConcurrency() ignores a failure rate the handler has at any load", () => {
  const modifier = adaptiveConcurrency({ initial: 8, max: 100 });
  // 10 % of jobs fail during the floor measurement too (bad inputs, say).
  let limit = modifier(8, seen(8, 100, { ended: 20, failed: 2 }));
  const start = limit;
  limit = drive(modifier, limit, 100, 5, { failed: (l) => Math.floor(Math.max(8, l) / 10) });
  assert.ok(limit > start, `${start} -> ${limit}`);
});

test("adaptiveConcurrency() re-measures the floor at a lower limit, then restores it", () => {
  const modifier = adaptiveConcurrency({
    initial: 20,
    probeIntervalMs: 1000,
    probeFactor: 0.5,
    random: () => 0.5,
    max: 20,
  });
  let limit = modifier(20, seen(20, 100, { ended: 20 }));
  assert.equal(modifier.state.probes, 1);
  // Time passes at the floor: a probe starts and halves the limit.
  limit = drive(modifier, limit, 100, 2, { intervalMs: 2000 }); // 30 floors: 3 s
  assert.equal(modifier.state.phase, "probe");
  assert.equal(limit, 10);
  // Still 20 running: it waits for them to drain below the probe's limit.
  limit = modifier(limit, seen(10, 150, { ended: 10, running: 20 }));
  assert.equal(limit, 10);
  // Drained; the 10 still running are skipped; the floor has moved to 150 ms (longer prompts).
  limit = modifier(limit, seen(10, 150, { ended: 0, running: 10 }));
  limit = modifier(limit, seen(10, 150, { ended: 10 + 16, running: 10 }));
  assert.equal(modifier.state.phase, "run");
  assert.equal(modifier.state.probes, 2);
  assert.equal(modifier.state.floorMs, 150);
  assert.equal(limit, 20);
});

test("adaptiveConcurrency() re-measures a floor that latency now beats (measured in a slow moment)", () => {
  const modifier = adaptiveConcurrency({ initial: 8 });
  let limit = modifier(8, seen(8, 150, { ended: 16 }));
  assert.equal(modifier.state.floorMs, 150);
  limit = drive(modifier, limit, 100, 2); // well below the floor: probe again
  assert.equal(modifier.state.phase, "probe");
  limit = modifier(limit, seen(limit, 100, { ended: 0, running: limit }));
  limit = modifier(limit, seen(limit, 100, { ended: limit + 16, running: limit }));
  assert.equal(modifier.state.floorMs, 100);
  assert.equal(modifier.state.phase, "run");
});

test("adaptiveConcurrency() undoes a decrease that the re-measured floor explains", () => {
  const modifier = adaptiveConcurrency({ initial: 20, max: 20, random: () => 0.5 });
  let limit = modifier(20, seen(20, 100, { ended: 40 }));
  assert.equal(modifier.state.floorMs, 100);
  // Everything takes 130 ms now (the worker's event loop is slow, say): the limit falls…
  let lowest = limit;
  for (let i = 0; i < 10 && modifier.state.phase === "run"; i++) {
    limit = drive(modifier, limit, 130, 1);
    lowest = Math.min(lowest, limit);
  }
  assert.ok(lowest <= 14, `fell to ${lowest}`);
  // …until the floor is measured again, at 130 ms: the engine was never overloaded.
  assert.equal(modifier.state.phase, "probe");
  limit = modifier(limit, seen(limit, 130, { ended: 0, running: limit }));
  limit = modifier(limit, seen(limit, 130, { ended: limit + 16, running: limit }));
  assert.equal(modifier.state.floorMs, 130);
  assert.equal(limit, 20);
});

test("adaptiveConcurrency() keeps a decrease that the floor does not explain (the knee fell)", () => {
  const modifier = adaptiveConcurrency({ initial: 20, max: 20, random: () => 0.5 });
  let limit = modifier(20, seen(20, 100, { ended: 40 }));
  // Queueing: latency doubles; the limit falls until the floor is measured again.
  for (let i = 0; i < 10 && modifier.state.phase === "run"; i++) {
    limit = drive(modifier, limit, 200, 1);
  }
  assert.equal(modifier.state.phase, "probe");
  limit = modifier(limit, seen(limit, 100, { ended: 0, running: limit }));
  limit = modifier(limit, seen(limit, 100, { ended: limit + 16, running: limit }));
  assert.equal(modifier.state.floorMs, 100);
  assert.ok(limit < 10, `restored to ${limit}`);
});

test("adaptiveConcurrency() follows the simulated engine's knee as it moves, without OOM", () => {
  const clock = new ManualClock();
  const engine = new SimulatedEngine({ knee: 16, memoryLimit: 32, baseLatencyMs: 200, clock });
  const modifier = adaptiveConcurrency({ random: () => 0.5 });
  const loop = new ClosedLoop({ engine, modifier, clock });
  loop.start();
  const phase = (knee: number, memoryLimit: number) => {
    engine.knee = knee;
    engine.memoryLimit = memoryLimit;
    clock.advance(10_000);
    const sampled: number[] = []; // the limit at each second of the phase's last 10 s
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      sampled.push(loop.gate.limit);
    }
    const last = loop.records.filter((r) => r.endedAt >= clock.now() - 10_000);
    const ok = last.filter((r) => r.ok).length / 10;
    const limits = loop.limits.filter(([at]) => at >= clock.now() - 10_000).map(([, l]) => l);
    const median = sampled.sort((a, b) => a - b)[5]!;
    return { ok, failed: last.filter((r) => !r.ok).length, median, limits };
  };
  const rate = (knee: number) => knee / 0.2; // jobs/s at the knee
  for (const [knee, memory] of [[16, 32], [40, 80], [8, 16]] as const) {
    const p = phase(knee, memory);
    assert.equal(p.failed, 0, `K=${knee}: failures in the last 10 s`);
    assert.ok(p.ok >= 0.9 * rate(knee), `K=${knee}: ${p.ok} jobs/s`);
    // Near the knee: enough to fill the batch, never past memory.
    assert.ok(p.median >= knee && p.median <= 1.5 * knee, `K=${knee}: median limit ${p.median}`);
    assert.ok(p.limits.every((l) => l < memory), `K=${knee}: limits ${p.limits}`);
  }
  loop.stop();
  clock.advance(10_000);
});

test("the gate hands the worker's observation to a two-argument modifier", async () => {
  let now = 0;
  const window = new ObservationWindow(() => now);
  const calls: [number, ConcurrencyObservation | undefined][] = [];
  const gate = new ConcurrencyGate({
    limit: 2,
    modifier: (current, observed) => {
      calls.push([current, observed]);
      return 3;
    },
    observe: (state) => window.take(state),
  });
  const permit = gate.tryAcquire()!;
  window.record(120, true);
  window.record(80, false);
  now = 250;
  assert.equal(await gate.refresh(), 3);
  const [current, observed] = calls[0]!;
  assert.equal(current, 2);
  assert.deepEqual(observed, {
    intervalMs: 250,
    completed: 1,
    failed: 1,
    latenciesMs: [120, 80],
    running: 1,
    waiting: 0,
    limit: 2,
  });
  permit.release();
  // A one-argument modifier keeps working beside it.
  const plain = new ConcurrencyGate({ modifier: (current: number) => current + 1 });
  assert.equal(await plain.refresh(), 2);
});

test("adaptiveConcurrency() works as the gate's modifier with observe wired", async () => {
  let now = 0;
  const window = new ObservationWindow(() => now);
  const modifier = adaptiveConcurrency({ initial: 4, minSamples: 4 });
  const gate = new ConcurrencyGate({ limit: 1, modifier, observe: (s) => window.take(s) });
  assert.equal(await gate.refresh(), 4);
  const permits = [1, 2, 3, 4].map(() => gate.tryAcquire()!);
  for (const p of permits) {
    window.record(50, true);
    p.release();
  }
  for (let i = 0; i < 4; i++) window.record(50, true);
  now = 100;
  await gate.refresh();
  assert.equal(modifier.state.floorMs, 50);
});

/**
 * A saturated window on an engine with a knee and a memory limit (fed directly): the jobs in
 * flight, then as many again; those above `memory` fail fast as out of memory.
 */
function onEngine(limit: number, knee: number, memory: number): ConcurrencyObservation {
  const ended = limit + Math.max(8, limit);
  const failed = Math.round(ended * Math.max(0, limit - memory) / limit);
  const latency = 200 * Math.max(1, Math.min(limit, memory) / knee);
  const latenciesMs = Array.from({ length: ended }, (_, i) => (i % ended < failed ? 5 : latency));
  return {
    intervalMs: 100,
    completed: ended - failed,
    failed,
    latenciesMs,
    running: limit,
    waiting: limit,
    limit,
  };
}

test("adaptiveConcurrency() backs off when jobs fail while it measures the floor", () => {
  // The floor is measured over an idle spell (nothing ends, so the probe holds its limit), and
  // meanwhile the engine's memory shrinks (a longer prompt mix). The probe's jobs failed fast:
  // their 5 ms became the floor and their rate the handler's normal one, so no later failure
  // counted and the limit ran to `max`, failing nearly every job from then on.
  const modifier = adaptiveConcurrency({ random: () => 0.5 });
  let limit = 4;
  for (let i = 0; i < 60; i++) limit = modifier(limit, onEngine(limit, 40, 80));
  assert.ok(limit >= 40 && limit < 80, `settled at ${limit}`);
  const idle = { completed: 0, failed: 0, latenciesMs: [], running: 0, waiting: 0 };
  for (let i = 0; i < 60; i++) limit = modifier(limit, { ...idle, intervalMs: 1000, limit });
  assert.equal(modifier.state.phase, "probe");
  assert.ok(limit > 16, `probing at ${limit}`);
  const failures: number[] = [];
  for (let i = 0; i < 200; i++) {
    const observed = onEngine(limit, 8, 16);
    failures.push(observed.failed);
    limit = modifier(limit, observed);
  }
  assert.ok(limit <= 16, `limit ${limit} above the engine's memory (16)`);
  assert.deepEqual(failures.slice(-100).filter((f) => f > 0), [], "failures at the end");
  assert.ok(modifier.state.floorMs! >= 200, `floor ${modifier.state.floorMs}`);
});

test("adaptiveConcurrency() under maxConcurrency: the gate says once that it clamps", async () => {
  // The README advises maxConcurrency as a hard ceiling with either modifier. The controller
  // keeps trying one step above it (and restores its own limit after every probe), and the gate
  // logged a warning for each: dozens in five minutes, thousands a day.
  const warnings: string[] = [];
  const gate = new ConcurrencyGate({
    limit: 1,
    maxLimit: 8,
    modifier: adaptiveConcurrency({ random: () => 0.5 }),
    logger: { warn: (message: string) => warnings.push(message) },
    observe: ({ limit }) => ({ ...seen(limit, 100, { ended: limit + 8 }), waiting: 5 }),
  });
  for (let i = 0; i < 3000; i++) await gate.refresh(); // 5 minutes of 100 ms windows
  assert.equal(gate.limit, 8);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /above the ceiling maxConcurrency=8; using 8/);
});

/** Probes started, and windows spent probing, in 10 minutes of 1 s windows at the floor. */
function probing(modifier: AdaptiveConcurrencyModifier, limit: number) {
  const before = modifier.state.probes;
  let windows = 0;
  for (let i = 0; i < 600; i++) {
    limit = modifier(limit, seen(limit, 100, { ended: limit + 16, intervalMs: 1000 }));
    if (modifier.state.phase === "probe") windows++;
  }
  return { probes: modifier.state.probes - before, windows };
}

test("adaptiveConcurrency() refuses a `random` that is not a function", () => {
  assert.throws(
    () => adaptiveConcurrency({ random: 0.5 as unknown as () => number }),
    { name: "TypeError", message: /'random' must be a function .*received number/ },
  );
});

test("adaptiveConcurrency() re-measures its floor every 30 s whatever `random` returns", () => {
  // NaN made the next probe never come; a negative draw made every other window a probe.
  for (const value of [0.5, NaN, -5, 7, 1]) {
    const modifier = adaptiveConcurrency({ max: 16, random: () => value });
    const { probes, windows } = probing(modifier, modifier(4, seen(4, 100, { ended: 20 })));
    assert.ok(probes >= 15 && probes <= 25, `random() = ${value}: ${probes} probes in 10 min`);
    assert.ok(windows <= 60, `random() = ${value}: ${windows} of 600 windows probing`);
  }
});

test("adaptiveConcurrency() re-measures its floor after a window with a bad intervalMs", () => {
  // NaN stopped the probes for good, a clock an hour back for an hour; Infinity made every other
  // window a probe.
  for (const intervalMs of [NaN, -3_600_000, Infinity]) {
    const modifier = adaptiveConcurrency({ max: 16, random: () => 0.5 });
    let limit = modifier(4, seen(4, 100, { ended: 20 }));
    limit = modifier(limit, seen(limit, 100, { ended: limit + 16, intervalMs }));
    const { probes, windows } = probing(modifier, limit);
    assert.ok(probes >= 15 && probes <= 25, `intervalMs ${intervalMs}: ${probes} probes`);
    assert.ok(windows <= 60, `intervalMs ${intervalMs}: ${windows} of 600 windows probing`);
  }
});

test("adaptiveConcurrency() leaves out latencies that are not a duration", () => {
  const modifier = adaptiveConcurrency({ initial: 4, random: () => 0.5 });
  let limit = modifier(4, seen(4, 100, { ended: 20 }));
  const observed = seen(limit, 100, { ended: limit + 16 });
  // A NaN sorts nowhere: the median was NaN, and so was the limit returned.
  for (const i of [3, 5, 7]) observed.latenciesMs[limit + i] = NaN;
  observed.latenciesMs[limit] = -1;
  limit = modifier(limit, observed);
  assert.ok(Number.isInteger(limit) && limit > 4, `returned ${limit}`);
});

test("adaptiveConcurrency() holds the knee when a tenth of the jobs fail at any load", () => {
  // Bad inputs fail in 1 ms, one job in ten, whatever the load. Windows hold a dozen ends, and
  // a chance cluster of failures (5 of 12) came every minute or so: each backed the limit off and
  // capped it until the next probe, so the limit sat at a few, for a third of the throughput.
  const modifier = adaptiveConcurrency({ random: () => 0.5 });
  let seed = 7;
  const draw = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const knee = 16;
  let limit = 4;
  const limits: number[] = [];
  for (let i = 0; i < 1500; i++) {
    const ended = limit + Math.max(8, limit);
    const latenciesMs = Array.from(
      { length: ended },
      () => draw() < 0.1 ? -1 : 200 * Math.max(1, limit / knee) * (0.9 + 0.2 * draw()),
    );
    const failed = latenciesMs.filter((l) => l < 0).length;
    limit = modifier(limit, {
      intervalMs: 100,
      completed: ended - failed,
      failed,
      latenciesMs: latenciesMs.map((l) => (l < 0 ? 1 : l)),
      running: limit,
      waiting: limit,
      limit,
    });
    if (i >= 500) limits.push(limit);
  }
  limits.sort((a, b) => a - b);
  const [p10, median] = [limits[100]!, limits[500]!];
  assert.ok(median >= knee && p10 >= 0.75 * knee, `limit p10 ${p10}, median ${median}`);
});
