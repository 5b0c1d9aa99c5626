/**
 * Benchmark 6: resident memory, idle after warm-up and with 1,000 jobs in flight.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import {
  type BenchContext,
  errorMessage,
  releaseUntil,
  sleep,
  startOnWorkerCpu,
} from "./_context.ts";
import { residentMiB, type RuntimeName, stopProcess, unlessExited } from "./_processes.ts";
import { median } from "./_stats.ts";

/** Jobs held in flight. */
export const IN_FLIGHT = 1000;
/** No-op jobs run first (concurrency 1000 subjects; concurrency 1 ones run 2000). */
const WARMUP_JOBS = 5000;

/** Memory in one state, in MiB. */
export interface RssSample {
  /** Resident memory: median of 5 samples 100 ms apart, as found. */
  raw: number;
  /** The same, 300 ms after a forced full garbage collection. */
  gc: number;
  /** The JavaScript heap in use right after that collection (the runtime's `heapUsed`). */
  heap: number;
}

/** Completed jobs over which retained heap is measured (concurrency 1 subjects). */
export const LEAK_JOBS = 20_000;

/** What a memory row measures. */
export type Subject =
  | "edgepod"
  | "edgepod no heartbeat"
  | "edgepod c=1"
  | "bare c=1"
  | "bare c=1000";

const SUBJECTS: readonly Subject[] = [
  "edgepod",
  "edgepod no heartbeat",
  "edgepod c=1",
  "bare c=1",
  "bare c=1000",
];

/** One process's measurements. */
export interface MemoryRow {
  /**
   * What ran: the edgepod worker (concurrency 1000), the same without its heartbeat thread (a
   * diagnostic), the edgepod worker at concurrency 1, or the bare loop with 1 or 1000 loops.
   */
  subject: Subject;
  /** Idle after the warm-up. */
  idle?: RssSample;
  /** With 1000 held jobs in flight (concurrency 1000 subjects only). */
  inFlight?: RssSample;
  /** Idle again after `LEAK_JOBS` more no-op jobs (concurrency 1 subjects only). */
  afterMore?: RssSample;
  /** Why it failed, if it did. */
  error?: string;
}

/** One runtime's measurements. */
export interface MemoryResult {
  /** The runtime. */
  runtime: RuntimeName;
  /** One row per subject. */
  rows: MemoryRow[];
}

/**
 * Measures, on one runtime, the edgepod worker at concurrency 1000 (with and without its
 * heartbeat) and the bare loop with 1000 loops: 5000 no-op jobs, 1 s of rest, idle memory; then
 * 1000 jobs whose handlers wait (for `SIGUSR2`), memory once all are handed out and 500 ms have
 * passed; then release. At concurrency 1 (edgepod and the bare loop): idle memory after 2000
 * warm-up jobs, then again after `LEAK_JOBS` more no-op jobs (what completed jobs leave behind).
 * Memory is read as found, then after a full garbage collection (`SIGURG`, see
 * `bench/worker.ts`; Node and Deno run with V8's `--expose-gc` here only).
 *
 * @param ctx The run's context.
 * @param runtime The runtime.
 * @returns The rows (a failed subject has `error` set; the others still run).
 *
 * @example
 * ```ts ignore
 * const result = await runMemory(ctx, "bun");
 * ```
 */
export async function runMemory(ctx: BenchContext, runtime: RuntimeName): Promise<MemoryResult> {
  const rows: MemoryRow[] = [];
  for (const subject of SUBJECTS) {
    ctx.log(`memory ${runtime} ${subject}`);
    const row: MemoryRow = { subject };
    try {
      await measure(ctx, runtime, row);
    } catch (error) {
      row.error = errorMessage(error);
      ctx.log(`  failed: ${row.error}`);
    }
    rows.push(row);
  }
  return { runtime, rows };
}

async function measure(ctx: BenchContext, runtime: RuntimeName, row: MemoryRow): Promise<void> {
  const { sim } = ctx;
  await sim.reset(60_000);
  const bare = row.subject.startsWith("bare");
  const single = row.subject.endsWith("c=1");
  const loops = single ? 1 : IN_FLIGHT;
  const env = sim.env(
    bare
      // Bun's fetch sends at most 256 requests at once unless told otherwise.
      ? { BARE_CONCURRENCY: String(loops), BUN_CONFIG_MAX_HTTP_REQUESTS: String(IN_FLIGHT) }
      : single
      ? {}
      : { BENCH_CONCURRENCY: String(IN_FLIGHT) },
  );
  if (row.subject === "edgepod no heartbeat") delete env.RUNPOD_WEBHOOK_PING;
  const script = bare ? "bare_loop" : "worker";
  const proc = startOnWorkerCpu(ctx, { runtime, script, exposeGc: true, env });
  const wait = <T>(promise: Promise<T>) => unlessExited(proc, promise);
  const idleTakes = bare ? loops : 1;
  try {
    await wait(sim.wait("held", idleTakes, { timeoutMs: 30_000 }));
    const warmup = single ? 2000 : WARMUP_JOBS;
    await sim.enqueue(warmup, { prompt: "warm-up" });
    await wait(sim.wait("dones", warmup, { timeoutMs: 120_000 }));
    await wait(sim.wait("held", idleTakes, { timeoutMs: 10_000 }));
    await sleep(1000);
    row.idle = await sampleRss(proc.pid, proc.stderrPath);
    if (single) {
      await sim.enqueue(LEAK_JOBS, { prompt: "more" });
      await wait(sim.wait("dones", warmup + LEAK_JOBS, { timeoutMs: 120_000 }));
      await wait(sim.wait("held", idleTakes, { timeoutMs: 10_000 }));
      await sleep(500);
      row.afterMore = await sampleRss(proc.pid, proc.stderrPath);
      return;
    }
    await sim.enqueue(IN_FLIGHT, { hold: true });
    await wait(sim.wait("handedOut", WARMUP_JOBS + IN_FLIGHT, { timeoutMs: 30_000 }));
    await sleep(500);
    row.inFlight = await sampleRss(proc.pid, proc.stderrPath);
    await releaseUntil(ctx, { proc, dones: WARMUP_JOBS + IN_FLIGHT });
  } finally {
    await stopProcess(proc);
  }
}

async function sampleRss(pid: number, stderrPath: string): Promise<RssSample> {
  const samples = async () => {
    const values: number[] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0) await sleep(100);
      values.push(residentMiB(pid));
    }
    return median(values);
  };
  const raw = await samples();
  const before = heapLines(stderrPath).length;
  process.kill(pid, "SIGURG");
  const deadline = performance.now() + 5000;
  while (heapLines(stderrPath).length === before) {
    if (performance.now() > deadline) throw new Error("The process did not report its heap");
    await sleep(10);
  }
  await sleep(300);
  const heap = Number(heapLines(stderrPath).at(-1)!.split(" ")[1]) / 2 ** 20;
  return { raw, gc: await samples(), heap };
}

function heapLines(path: string): string[] {
  return readFileSync(path, "utf8").split("\n").filter((line) => line.startsWith("heap "));
}
