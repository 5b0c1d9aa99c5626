/**
 * The real-worker variant of the adaptive-concurrency benchmark: edgepod's pull worker (`start()`, production mode
 * against the RunPod queue simulator) whose handler runs on a simulated engine in this process.
 * The engine follows the same phase schedule as the in-process variants.
 *
 * Environment: `ADAPTIVE_MODIFIER` (`adaptive` or `metrics`), `ADAPTIVE_SCHEDULE` (JSON
 * `[{ atEpochMs, knee, memoryLimit }]`, the first applied at once), `ADAPTIVE_BASE_MS`,
 * `ADAPTIVE_OOM_MS`, `ADAPTIVE_OUT` (a file that receives every job's `[endEpochMs, latencyMs,
 * ok]` when the process exits), plus the simulator's `RUNPOD_*` variables.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import process from "node:process";
import {
  adaptiveConcurrency,
  engineMetricsConcurrency,
  loadRuntime,
  start,
} from "../adapters/auto.ts";
import type { ConcurrencyObservation } from "../src/worker/concurrency_observation.ts";
import { SimulatedEngine } from "./simulated_engine.ts";

interface Step {
  atEpochMs: number;
  knee: number;
  memoryLimit: number;
}

const schedule = JSON.parse(process.env.ADAPTIVE_SCHEDULE ?? "[]") as Step[];
const first = schedule[0] ?? { knee: 16, memoryLimit: 28, atEpochMs: 0 };
const engine = new SimulatedEngine({
  knee: first.knee,
  memoryLimit: first.memoryLimit,
  baseLatencyMs: Number(process.env.ADAPTIVE_BASE_MS ?? 200),
  oomLatencyMs: Number(process.env.ADAPTIVE_OOM_MS ?? 100),
  seed: 7,
});
const epochNow = () => performance.timeOrigin + performance.now();
for (const step of schedule.slice(1)) {
  setTimeout(() => {
    engine.knee = step.knee;
    engine.memoryLimit = step.memoryLimit;
  }, Math.max(0, step.atEpochMs - epochNow()));
}

const records: [number, number, number][] = [];
const limits: [number, number][] = [];
let state: unknown;
process.on("exit", () => {
  if (process.env.ADAPTIVE_OUT) {
    writeFileSync(process.env.ADAPTIVE_OUT, JSON.stringify({ jobs: records, limits, state }));
  }
});

async function handler() {
  try {
    const { latencyMs } = await engine.generate();
    records.push([epochNow(), latencyMs, 1]);
    return { ok: true };
  } catch (error) {
    records.push([epochNow(), NaN, 0]);
    throw error;
  }
}

type Modifier = ((current: number, observed?: ConcurrencyObservation) => number) & {
  readonly state: unknown;
};
let modifier: Modifier;
if (process.env.ADAPTIVE_MODIFIER === "metrics") {
  const runtime = await loadRuntime();
  const server = await runtime.serve(engine.fetch, { hostname: "127.0.0.1", port: 0 });
  modifier = engineMetricsConcurrency({ url: `http://127.0.0.1:${server.port}/metrics` });
} else {
  modifier = adaptiveConcurrency();
}

/** Records every change of limit, and the modifier's last state, for the report. */
function concurrencyModifier(current: number, observed?: ConcurrencyObservation): number {
  const limit = modifier(current, observed);
  if (limit !== limits.at(-1)?.[1]) limits.push([epochNow(), limit]);
  state = modifier.state;
  return limit;
}

start({ handler, concurrencyModifier });
