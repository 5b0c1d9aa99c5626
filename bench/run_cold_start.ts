/**
 * Benchmark 4: cold start, from just before the process is spawned to the arrival of its first
 * job-take at the simulator.
 *
 * @module
 */

import { type BenchContext, errorMessage, startOnWorkerCpu } from "./_context.ts";
import { type RuntimeName, stopProcess, unlessExited } from "./_processes.ts";

/** One command measured. */
export interface ColdStartCase {
  /** The runtime. */
  runtime: RuntimeName;
  /** How Node runs it. */
  node: "dist" | "tsx";
  /**
   * The bare loop (baseline), the edgepod worker, or (a diagnostic) the worker without its
   * heartbeat thread (`RUNPOD_WEBHOOK_PING` unset).
   */
  subject: "bare" | "edgepod" | "edgepod no heartbeat";
}

/** The measurements of one command. */
export interface ColdStartRow extends ColdStartCase {
  /** Each measured run, in ms. */
  samples: number[];
  /** Why it failed, if it did. */
  error?: string;
}

/** The commands, in report order: per runtime, the bare loop then the worker. */
export const COLD_START_CASES: readonly ColdStartCase[] = [
  { runtime: "bun", node: "dist", subject: "bare" },
  { runtime: "bun", node: "dist", subject: "edgepod" },
  { runtime: "bun", node: "dist", subject: "edgepod no heartbeat" },
  { runtime: "deno", node: "dist", subject: "bare" },
  { runtime: "deno", node: "dist", subject: "edgepod" },
  { runtime: "deno", node: "dist", subject: "edgepod no heartbeat" },
  { runtime: "node", node: "dist", subject: "bare" },
  { runtime: "node", node: "dist", subject: "edgepod" },
  { runtime: "node", node: "dist", subject: "edgepod no heartbeat" },
  { runtime: "node", node: "tsx", subject: "bare" },
  { runtime: "node", node: "tsx", subject: "edgepod" },
];

/** Options for {@linkcode runColdStart}. */
export interface ColdStartOptions {
  /** Measured runs per command. @default 12 */
  runs?: number;
  /** Unmeasured runs first (Deno's transpile cache, the page cache). @default 2 */
  warmups?: number;
}

/**
 * Measures every command `runs` times, round robin (so slow drift hits every command alike),
 * after `warmups` unmeasured rounds. Each run: a fresh simulator, the process spawned on the
 * worker CPU with the production environment (heartbeat on), the first take's arrival noted,
 * the process killed.
 *
 * @param ctx The run's context.
 * @param options Runs and warm-ups.
 * @returns One row per command.
 *
 * @example
 * ```ts ignore
 * const rows = await runColdStart(ctx, { runs: 12 });
 * ```
 */
export async function runColdStart(
  ctx: BenchContext,
  options: ColdStartOptions = {},
): Promise<ColdStartRow[]> {
  const { runs = 12, warmups = 2 } = options;
  const rows: ColdStartRow[] = COLD_START_CASES.map((c) => ({ ...c, samples: [] }));
  for (let round = 0; round < warmups + runs; round++) {
    ctx.log(
      `cold start round ${round + 1}/${warmups + runs}${round < warmups ? " (warm-up)" : ""}`,
    );
    for (const row of rows) {
      if (row.error !== undefined) continue;
      try {
        const ms = await once(ctx, row);
        if (round >= warmups) row.samples.push(ms);
      } catch (error) {
        row.error = errorMessage(error);
        ctx.log(`  ${row.runtime} ${row.node} ${row.subject} failed: ${row.error}`);
      }
    }
  }
  return rows;
}

async function once(ctx: BenchContext, c: ColdStartCase): Promise<number> {
  const { sim } = ctx;
  await sim.reset(5000);
  const script = c.subject === "bare" ? "bare_loop" : "worker";
  const env = sim.env({ BARE_CONCURRENCY: "1" });
  if (c.subject === "edgepod no heartbeat") delete env.RUNPOD_WEBHOOK_PING;
  const proc = startOnWorkerCpu(ctx, { runtime: c.runtime, script, node: c.node, env });
  try {
    await unlessExited(proc, sim.wait("takes", 1, { timeoutMs: 20_000 }));
    const data = await sim.data({ dones: 1e12, pings: 1e12 });
    return data.takes[0]! - proc.spawnedAt;
  } finally {
    await stopProcess(proc);
  }
}
