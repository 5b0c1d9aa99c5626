/**
 * The adaptive-concurrency benchmark (a section of `BENCHMARKS.md`). One run, three phases with a different knee K (and memory
 * limit M) on the simulated engine; the adaptive and engine-metrics modifiers against fixed
 * limits (the best fixed limit per phase, picked after the fact, and the constant 30). Every
 * variant runs at the same time in this process, each on its own engine, through a real
 * `ConcurrencyGate` kept saturated (`bench/closed_loop.ts`), its modifier polled every 100 ms.
 *
 * Standalone: `node --import tsx bench/run_adaptive.ts [--out file.md]` prints (or writes) the
 * section; `npm run bench -- --only adaptive` runs it within the suite.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createSimulator } from "../src/simulator/mod.ts";
import type { SimClient } from "./_sim_client.ts";
import { loadRuntime } from "../adapters/auto.ts";
import { adaptiveConcurrency } from "../src/concurrency/adaptive_concurrency.ts";
import { engineMetricsConcurrency } from "../src/concurrency/engine_metrics_concurrency.ts";
import type { ConcurrencyModifier } from "../src/concurrency_gate.ts";
import { adaptiveSection } from "./_report_adaptive.ts";
import { ClosedLoop, type JobRecord } from "./closed_loop.ts";
import { SimulatedEngine } from "./simulated_engine.ts";

/** One phase of the run. */
export interface AdaptivePhase {
  /** K. */
  knee: number;
  /** M. */
  memoryLimit: number;
}

/** The phases: a mid knee, a large one (longer batches fit), a small one (long prompts). */
export const PHASES: readonly AdaptivePhase[] = [
  { knee: 16, memoryLimit: 28 },
  { knee: 48, memoryLimit: 80 },
  { knee: 8, memoryLimit: 14 },
];
/** Seconds per phase, and of the unmeasured warm-up (phase 1's settings). */
export const PHASE_SECONDS = 20;
export const WARMUP_SECONDS = 5;
/** The engine's time per request in its batch (±20 % jitter). */
export const BASE_LATENCY_MS = 200;
/**
 * How long an out-of-memory failure takes. Long enough that the fixed limits far above M (which
 * fail most of their jobs) do not flood the one event loop every variant shares.
 */
export const OOM_LATENCY_MS = 100;
const LAG_PROBE_MS = 20;
/** Jobs queued for the real pull workers (more than both can finish). */
const REAL_JOBS = 30_000;
/** Time given to the pull workers to start before the warm-up begins. */
const WORKER_START_MS = 2000;
/** The fixed limits run alongside (the best per phase is picked from these). */
export const FIXED = [4, 8, 12, 16, 20, 24, 30, 40, 48, 56] as const;

/** One variant's figures in one phase. */
export interface PhaseFigures {
  /** Completed jobs per second. */
  throughput: number;
  /** Latency of completed jobs, ms. */
  p50: number;
  p99: number;
  /** p99 of the jobs that ended after the phase's first 2 s (the transition excluded). */
  p99Settled: number;
  /** Failed (out-of-memory) jobs in the phase, and those in its first 2 s. */
  failures: number;
  failuresAtChange: number;
  /** Seconds from the phase start to the first full second at ≥ 90 % of the best fixed. */
  recoverySeconds: number;
  /** The mean limit over the phase. */
  meanLimit: number;
}

/** One variant. */
export interface VariantResult {
  /** `adaptive`, `engine metrics`, or `fixed N`. */
  name: string;
  /** Per phase. */
  phases: PhaseFigures[];
  /** Floor probes (adaptive), or good/failed scrapes (engine metrics). */
  detail?: string;
}

/** The whole benchmark. */
export interface AdaptiveResult {
  /** The run's constants. */
  settings: {
    baseLatencyMs: number;
    oomLatencyMs: number;
    fixed: readonly number[];
    warmupSeconds: number;
    phaseSeconds: number;
  };
  /** The phases. */
  phases: readonly AdaptivePhase[];
  variants: VariantResult[];
  /** Per phase: the p99 lateness of a 20 ms timer (the event loop all variants share), ms. */
  lagP99Ms: number[];
  /** Per phase: the best fixed variant's name. */
  bestFixed: string[];
  error?: string;
}

interface Running {
  name: string;
  /** In-process variants: the loop and its engine. */
  loop?: ClosedLoop;
  engine?: SimulatedEngine;
  /** Real-worker variants: the records and limit changes read back from the worker process. */
  records?: JobRecord[];
  limits?: [number, number][];
  detail?: () => string;
}

/** The real-worker variants: edgepod's pull worker against the simulator, one process each. */
const REAL_WORKERS = [
  { name: "adaptive (pull worker)", modifier: "adaptive" },
  { name: "engine metrics (pull worker)", modifier: "metrics" },
] as const;

/**
 * Runs the benchmark in real time (about 65 s).
 *
 * @param log Progress lines.
 * @param options `workerCpus`: the CPUs of the pull-worker processes (a `taskset -c` list);
 * `sim`: the benchmark suite's simulator process (reset, then used), else one in this process.
 * @returns The figures.
 *
 * @example
 * ```ts ignore
 * const result = await runAdaptive(console.log);
 * ```
 */
export async function runAdaptive(
  log: (line: string) => void = () => {},
  options: { workerCpus?: string; sim?: SimClient } = {},
): Promise<AdaptiveResult> {
  const runtime = await loadRuntime();
  const first = PHASES[0]!;
  const engine = () =>
    new SimulatedEngine({
      knee: first.knee,
      memoryLimit: first.memoryLimit,
      baseLatencyMs: BASE_LATENCY_MS,
      oomLatencyMs: OOM_LATENCY_MS,
      seed: 7,
    });
  const variants: Running[] = [];
  const add = (
    name: string,
    modifier: ConcurrencyModifier | undefined,
    limit: number,
    e = engine(),
  ) => variants.push({ name, engine: e, loop: new ClosedLoop({ engine: e, modifier, limit }) });
  const adaptive = adaptiveConcurrency();
  add("adaptive", adaptive, 1);
  variants[0]!.detail = () => `${adaptive.state.probes} floor measurements`;
  const metricsEngine = engine();
  const server = await runtime.serve(metricsEngine.fetch, { hostname: "127.0.0.1", port: 0 });
  const metrics = engineMetricsConcurrency({
    url: `http://127.0.0.1:${server.port}/metrics`,
    logger: { warn: (m) => log(`engine metrics: ${m}`), info: (m) => log(`engine metrics: ${m}`) },
  });
  add("engine metrics", metrics, 1, metricsEngine);
  variants[1]!.detail = () => `${metrics.state.scrapes} scrapes, ${metrics.state.failures} failed`;
  for (const limit of FIXED) add(`fixed ${limit}`, undefined, limit);

  // The real pull workers, on the same schedule (absolute times, so every process agrees).
  // The suite's simulator runs in its own process; standalone, one runs here (sharing this
  // event loop with the in-process variants).
  const local = options.sim
    ? undefined
    : createSimulator({ recordRequests: false, longPollMs: 1000, apiKey: "bench-key" });
  const simServer = local
    ? await runtime.serve(local.fetch, { hostname: "127.0.0.1", port: 0 })
    : undefined;
  const simEnv = (podId: string) =>
    options.sim
      ? options.sim.env({ RUNPOD_POD_ID: podId })
      : { ...local!.env(`http://127.0.0.1:${simServer!.port}`), RUNPOD_POD_ID: podId };
  if (options.sim) {
    await options.sim.reset(1000);
    await options.sim.enqueue(REAL_JOBS, {});
  } else local!.enqueueMany(Array.from({ length: REAL_JOBS }, () => ({ input: {} })));
  const tmp = mkdtempSync(join(os.tmpdir(), "edgepod-adaptive-"));
  const startEpoch = performance.timeOrigin + performance.now() + WORKER_START_MS;
  const steps = [
    0,
    WARMUP_SECONDS,
    ...PHASES.slice(1).map((_, i) => WARMUP_SECONDS + (i + 1) * PHASE_SECONDS),
  ]
    .map((s) => startEpoch + s * 1000);
  const schedule = PHASES.map((phase, i) => ({ atEpochMs: i === 0 ? 0 : steps[i + 1]!, ...phase }));
  const workers = REAL_WORKERS.map((w, i) => {
    const out = join(tmp, `${w.modifier}.json`);
    let stderr = "";
    const command = [
      process.execPath,
      "--import",
      "tsx",
      fileURLToPath(new URL("./adaptive_worker.ts", import.meta.url)),
    ];
    // Under `npm run bench` the orchestrator is pinned to the simulator's CPU, and children
    // inherit that: the pull workers get the CPUs named instead.
    const pinned = options.workerCpus === undefined
      ? command
      : ["taskset", "-c", options.workerCpus, ...command];
    const child = spawn(
      pinned[0]!,
      pinned.slice(1),
      {
        env: {
          PATH: process.env.PATH ?? "",
          ...simEnv(`adaptive-${i}`),
          RUNPOD_LOG_LEVEL: "WARN",
          ADAPTIVE_MODIFIER: w.modifier,
          ADAPTIVE_SCHEDULE: JSON.stringify(schedule),
          ADAPTIVE_BASE_MS: String(BASE_LATENCY_MS),
          ADAPTIVE_OOM_MS: String(OOM_LATENCY_MS),
          ADAPTIVE_OUT: out,
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    child.stderr!.on("data", (chunk) => stderr = (stderr + chunk).slice(-2000));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const running: Running = { name: w.name };
    variants.push(running);
    return { w, child, exited, out, running, stderr: () => stderr };
  });

  await sleep(Math.max(0, startEpoch - (performance.timeOrigin + performance.now())));
  const t0 = performance.now();
  const boundaries: number[] = [];
  // Timer lateness of the shared event loop: every variant's latencies include it.
  const lags: [number, number][] = [];
  let expected = performance.now() + LAG_PROBE_MS;
  const lagTimer = setInterval(() => {
    const now = performance.now();
    lags.push([now, now - expected]);
    expected = now + LAG_PROBE_MS;
  }, LAG_PROBE_MS);
  // EDGEPOD_ADAPTIVE_TRACE=1 logs both modifiers' state every second (for tuning).
  const trace = process.env.EDGEPOD_ADAPTIVE_TRACE === "1"
    ? setInterval(() => {
      const at = ((performance.now() - t0) / 1000).toFixed(0);
      log(
        `${at} s adaptive ${JSON.stringify(adaptive.state)} metrics limit ${metrics.state.limit}`,
      );
    }, 1000)
    : undefined;
  const untilEpoch = (epoch: number) =>
    sleep(Math.max(0, epoch - (performance.timeOrigin + performance.now())));
  try {
    for (const v of variants) v.loop?.start();
    log(
      `adaptive: warm-up ${WARMUP_SECONDS} s, then ${PHASES.length} phases of ${PHASE_SECONDS} s`,
    );
    for (const [p, phase] of PHASES.entries()) {
      await untilEpoch(steps[p + 1] ?? startEpoch + (WARMUP_SECONDS + p * PHASE_SECONDS) * 1000);
      for (const v of variants) {
        if (!v.engine) continue;
        v.engine.knee = phase.knee;
        v.engine.memoryLimit = phase.memoryLimit;
      }
      boundaries.push(performance.now() - t0);
      log(`adaptive: phase K=${phase.knee} M=${phase.memoryLimit}`);
    }
    await untilEpoch(startEpoch + (WARMUP_SECONDS + PHASES.length * PHASE_SECONDS) * 1000);
    boundaries.push(performance.now() - t0);
  } finally {
    clearInterval(lagTimer);
    clearInterval(trace);
    for (const v of variants) v.loop?.stop();
    for (const { child } of workers) child.kill("SIGTERM");
    await Promise.all(variants.map((v) => v.loop?.done));
    await Promise.all(workers.map(async ({ exited, child }) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    }));
    await server.close();
    local?.close();
    await simServer?.close();
  }
  for (const { w, out, running, stderr } of workers) {
    try {
      const raw = JSON.parse(readFileSync(out, "utf8")) as {
        jobs: [number, number, number][];
        limits: [number, number][];
        state: { probes?: number; scrapes?: number; failures?: number };
      };
      running.records = raw.jobs.map(([epoch, latencyMs, ok]) => ({
        endedAt: epoch - performance.timeOrigin,
        latencyMs,
        ok: ok === 1,
      }));
      running.limits = raw.limits.map(([epoch, limit]) => [epoch - performance.timeOrigin, limit]);
      const what = raw.state.probes !== undefined
        ? `${raw.state.probes} floor measurements`
        : `${raw.state.scrapes} scrapes, ${raw.state.failures} failed`;
      running.detail = () => `${raw.jobs.length} jobs through the pull worker, ${what}`;
    } catch (error) {
      running.records = [];
      running.detail = () => `FAILED: no records from ${w.modifier}: ${String(error)} ${stderr()}`;
    }
  }
  rmSync(tmp, { recursive: true, force: true });

  const figures = (v: Running, p: number, bestThroughput?: number): PhaseFigures => {
    const start = t0 + boundaries[p]!;
    const end = t0 + boundaries[p + 1]!;
    const records = v.loop?.records ?? v.records ?? [];
    const inPhase = records.filter((r) => r.endedAt >= start && r.endedAt < end);
    const ok = inPhase.filter((r) => r.ok).map((r) => r.latencyMs).sort((a, b) => a - b);
    const failed = inPhase.filter((r) => !r.ok);
    return {
      throughput: ok.length / ((end - start) / 1000),
      p50: pick(ok, 0.5),
      p99: pick(ok, 0.99),
      p99Settled: pick(
        inPhase.filter((r) => r.ok && r.endedAt >= start + 2000).map((r) => r.latencyMs)
          .sort((a, b) => a - b),
        0.99,
      ),
      failures: failed.length,
      failuresAtChange: failed.filter((r) => r.endedAt < start + 2000).length,
      recoverySeconds: bestThroughput === undefined
        ? NaN
        : recovery(records, start, end, 0.9 * bestThroughput),
      meanLimit: meanLimit(v.loop?.limits ?? v.limits ?? [], start, end),
    };
  };
  // Best fixed per phase: among fixed limits with no failures after the phase's first 2 s and
  // within 3 % of the highest such throughput, the lowest p99.
  const bestFixed: string[] = [];
  const bestThroughput: number[] = [];
  PHASES.forEach((_, p) => {
    const fixed = variants.filter((v) => v.name.startsWith("fixed ")).map((v) => ({
      v,
      f: figures(v, p),
    }));
    const clean = fixed.filter((x) => x.f.failures === x.f.failuresAtChange);
    const pool = clean.length > 0 ? clean : fixed;
    const top = Math.max(...pool.map((x) => x.f.throughput));
    const best = pool.filter((x) => x.f.throughput >= 0.97 * top)
      .sort((a, b) => a.f.p99 - b.f.p99)[0]!;
    bestFixed.push(best.v.name);
    bestThroughput.push(best.f.throughput);
  });
  return {
    settings: {
      baseLatencyMs: BASE_LATENCY_MS,
      oomLatencyMs: OOM_LATENCY_MS,
      fixed: FIXED,
      warmupSeconds: WARMUP_SECONDS,
      phaseSeconds: PHASE_SECONDS,
    },
    phases: PHASES,
    lagP99Ms: PHASES.map((_, p) =>
      pick(
        lags.filter(([at]) => at >= t0 + boundaries[p]! && at < t0 + boundaries[p + 1]!)
          .map(([, lag]) => lag).sort((a, b) => a - b),
        0.99,
      )
    ),
    bestFixed,
    variants: variants.map((v) => ({
      name: v.name,
      phases: PHASES.map((_, p) => figures(v, p, bestThroughput[p])),
      detail: v.detail?.(),
    })),
  };
}

/** The first 1-s window (sliding by 100 ms) fully in the phase at ≥ `target` jobs/s. */
function recovery(records: JobRecord[], start: number, end: number, target: number): number {
  const ends = records.filter((r) => r.ok && r.endedAt >= start && r.endedAt < end).map((r) =>
    r.endedAt
  );
  let lo = 0;
  let hi = 0;
  for (let t = start; t + 1000 <= end; t += 100) {
    while (lo < ends.length && ends[lo]! < t) lo++;
    while (hi < ends.length && ends[hi]! < t + 1000) hi++;
    if (hi - lo >= target) return (t - start) / 1000;
  }
  return Infinity;
}

function meanLimit(limits: [number, number][], start: number, end: number): number {
  let area = 0;
  let current = limits[0]?.[1] ?? 0;
  let at = start;
  for (const [time, limit] of limits) {
    if (time <= start) {
      current = limit;
      continue;
    }
    if (time >= end) break;
    area += current * (time - at);
    at = time;
    current = limit;
  }
  area += current * (end - at);
  return area / (end - start);
}

function pick(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv[1]?.endsWith("run_adaptive.ts") || process.argv[1]?.endsWith("run_adaptive.js")) {
  // `--out file.md` also writes `file.md.json` (the raw result); `--from file.json` re-renders one.
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i === -1 ? undefined : process.argv[i + 1];
  };
  const from = arg("--from");
  const result = from
    ? JSON.parse(readFileSync(from, "utf8"), (_, v) => v === null ? NaN : v) as AdaptiveResult
    : await runAdaptive((line) => console.error(line));
  const text = adaptiveSection(result);
  const out = arg("--out");
  if (out) {
    writeFileSync(out, text + "\n");
    if (!from) writeFileSync(`${out}.json`, JSON.stringify(result));
  } else console.log(text);
}
