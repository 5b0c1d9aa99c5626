/**
 * Benchmarks 1 and 2: throughput of a no-op handler at a fixed concurrency, edgepod against the
 * bare fetch loop, and (at concurrency 1) the idle gap between a job's result and the next take.
 *
 * @module
 */

import { type BenchContext, errorMessage, startOnWorkerCpu } from "./_context.ts";
import { cpuSeconds, type RuntimeName, stopProcess, unlessExited } from "./_processes.ts";
import { median } from "./_stats.ts";

/**
 * What is measured: the bare loop; edgepod at the default log level, at WARN, or (a diagnostic)
 * without its heartbeat thread (`RUNPOD_WEBHOOK_PING` unset, so no job-list messages to it).
 */
export type Variant = "bare" | "edgepod" | "edgepod WARN" | "edgepod no heartbeat";

/** The variants measured by default, in the order they run. */
export const VARIANTS: readonly Variant[] = ["bare", "edgepod", "edgepod WARN"];

/** The input of every throughput job. */
const INPUT = { prompt: "benchmark", n: 1 };
/** Takes are held this long with an empty queue (longer than any pause between phases). */
const LONG_POLL_MS = 5000;

/** Options for {@linkcode runThroughput}. */
export interface ThroughputOptions {
  /** The runtime. */
  runtime: RuntimeName;
  /** Loops of the bare loop; the value of the edgepod worker's concurrency modifier. */
  concurrency: number;
  /** Measured repetitions per variant (one process per variant). @default 3 */
  reps?: number;
  /** The wall time one repetition of the bare loop should last, in s. @default 3 */
  targetSeconds?: number;
  /** Jobs run before measuring (JIT warm-up); their rate sizes the repetitions. @default 2000 */
  warmupJobs?: number;
  /** The variants, in order; the first sizes the repetitions. @default VARIANTS */
  variants?: readonly Variant[];
}

/** One variant's measurements. */
export interface ThroughputRow {
  /** The variant. */
  variant: Variant;
  /** Jobs/s of each repetition. */
  rates: number[];
  /** Wall time of each repetition, in s. */
  windows: number[];
  /** Worker CPU time per job of each repetition, in µs. */
  cpuPerJob: number[];
  /** Worker CPU use of each repetition (1 = one full core). */
  workerCpu: number[];
  /** Simulator CPU use of each repetition. */
  simCpu: number[];
  /** At concurrency 1: every idle gap (job-done arrival to the next job-take arrival), in ms. */
  gaps: number[];
  /** Jobs handed out per take request of each repetition. */
  jobsPerTake: number[];
  /** The ledger had no lost, duplicated or unknown job. */
  ledgerOk?: boolean;
  /** Why the variant failed, if it did. */
  error?: string;
}

/** The measurements at one runtime and concurrency. */
export interface ThroughputResult {
  /** The runtime. */
  runtime: RuntimeName;
  /** The concurrency. */
  concurrency: number;
  /** Jobs per repetition (the same for every variant). */
  jobs: number;
  /** Repetitions. */
  reps: number;
  /** One row per variant. */
  rows: ThroughputRow[];
}

/**
 * Measures every variant at one runtime and concurrency. Each variant runs in a fresh process:
 * it is started, waits with its takes held, runs `warmupJobs`, then `reps` repetitions of
 * `jobs` jobs, each enqueued at once; a repetition lasts from the enqueue to the arrival of its
 * last job-done at the simulator. The job count is sized from the bare loop's warm-up rate.
 *
 * @param ctx The run's context.
 * @param options Runtime, concurrency, repetitions and sizes.
 * @returns The rows (a failed variant has `error` set).
 *
 * @example
 * ```ts ignore
 * const result = await runThroughput(ctx, { runtime: "bun", concurrency: 8 });
 * ```
 */
export async function runThroughput(
  ctx: BenchContext,
  options: ThroughputOptions,
): Promise<ThroughputResult> {
  const { runtime, concurrency } = options;
  const { reps = 3, targetSeconds = 3, warmupJobs = 2000, variants = VARIANTS } = options;
  const result: ThroughputResult = { runtime, concurrency, jobs: 0, reps, rows: [] };
  for (const variant of variants) {
    ctx.log(`throughput ${runtime} c=${concurrency} ${variant}`);
    const row: ThroughputRow = {
      variant,
      rates: [],
      windows: [],
      cpuPerJob: [],
      workerCpu: [],
      simCpu: [],
      gaps: [],
      jobsPerTake: [],
    };
    try {
      await measure(ctx, row, {
        runtime,
        concurrency,
        reps,
        warmupJobs,
        jobs: () => result.jobs,
        size: (rate) => {
          result.jobs ||= Math.max(2000, Math.round((rate * targetSeconds) / 500) * 500);
        },
      });
    } catch (error) {
      row.error = errorMessage(error);
      ctx.log(`  failed: ${row.error}`);
    }
    result.rows.push(row);
  }
  return result;
}

interface MeasureOptions {
  runtime: RuntimeName;
  concurrency: number;
  reps: number;
  warmupJobs: number;
  jobs: () => number;
  size: (warmupRate: number) => void;
}

async function measure(
  ctx: BenchContext,
  row: ThroughputRow,
  options: MeasureOptions,
): Promise<void> {
  const { sim } = ctx;
  const { runtime, concurrency } = options;
  const bare = row.variant === "bare";
  await sim.reset(LONG_POLL_MS);
  const env = sim.env(row.variant === "edgepod WARN" ? { RUNPOD_LOG_LEVEL: "WARN" } : {});
  if (row.variant === "edgepod no heartbeat") delete env.RUNPOD_WEBHOOK_PING;
  if (bare) env.BARE_CONCURRENCY = String(concurrency);
  else if (concurrency > 1) env.BENCH_CONCURRENCY = String(concurrency);
  const proc = startOnWorkerCpu(ctx, {
    runtime,
    script: bare ? "bare_loop" : "worker",
    env,
  });
  // The bare loop holds one take per loop; edgepod one (batch) take for all free slots.
  const idleTakes = bare ? concurrency : 1;
  try {
    await unlessExited(proc, sim.wait("held", idleTakes, { timeoutMs: 20_000 }));
    const w0 = await sim.enqueue(options.warmupJobs, INPUT);
    const w1 = await unlessExited(
      proc,
      sim.wait("dones", options.warmupJobs, { timeoutMs: 120_000 }),
    );
    options.size(options.warmupJobs / ((w1 - w0) / 1000));
    const jobs = options.jobs();
    let dones = options.warmupJobs;
    for (let rep = 0; rep < options.reps; rep++) {
      await unlessExited(proc, sim.wait("held", idleTakes, { timeoutMs: 10_000 }));
      const before = await sim.counts();
      const cpu0 = cpuSeconds(proc.pid);
      const sim0 = cpuSeconds(ctx.simPid);
      const t0 = await sim.enqueue(jobs, INPUT);
      await unlessExited(proc, sim.wait("dones", dones + jobs, { timeoutMs: 180_000 }));
      const cpu1 = cpuSeconds(proc.pid);
      const sim1 = cpuSeconds(ctx.simPid);
      if (concurrency === 1) {
        // The take that follows the last result (the next held long-poll).
        await sim.wait("takes", before.takes + jobs, { timeoutMs: 2000 }).catch(() => {});
      }
      const data = await sim.data({ takes: before.takes, dones });
      row.jobsPerTake.push(jobs / (data.counts.takes - before.takes));
      const end = data.dones[jobs - 1]!;
      const window = (end - t0) / 1000;
      row.rates.push(jobs / window);
      row.windows.push(window);
      row.cpuPerJob.push(((cpu1 - cpu0) / jobs) * 1e6);
      row.workerCpu.push((cpu1 - cpu0) / window);
      row.simCpu.push((sim1 - sim0) / window);
      if (concurrency === 1) row.gaps.push(...idleGaps(data.dones.slice(0, jobs), data.takes));
      dones += jobs;
    }
    const report = (await sim.data({ takes: 1e12, dones: 1e12, pings: 1e12 }, true)).report!;
    row.ledgerOk = report.lost === 0 && report.duplicated === 0 && report.unknown === 0 &&
      report.jobs === dones;
    ctx.log(
      `  ${Math.round(median(row.rates))} jobs/s (${jobs} jobs x ${options.reps}), ledger ${
        row.ledgerOk ? "clean" : JSON.stringify(report)
      }`,
    );
  } finally {
    await stopProcess(proc);
  }
}

/**
 * For each job-done arrival, the time until the next job-take arrival (both sorted), in ms.
 *
 * @param dones Job-done arrivals.
 * @param takes Job-take arrivals.
 * @returns One gap per job-done that has a following take.
 *
 * @example
 * ```ts
 * import { idleGaps } from "./run_throughput.ts";
 * console.assert(idleGaps([10, 20], [10.5, 20.25, 30]).join() === "0.5,0.25");
 * ```
 */
export function idleGaps(dones: readonly number[], takes: readonly number[]): number[] {
  const gaps: number[] = [];
  let j = 0;
  for (const done of dones) {
    while (j < takes.length && takes[j]! < done) j++;
    if (j === takes.length) break;
    gaps.push(takes[j]! - done);
  }
  return gaps;
}
