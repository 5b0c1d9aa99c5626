/**
 * Benchmark 5: heartbeats while a synchronous handler blocks the worker's event loop.
 *
 * @module
 */

import { type BenchContext, startOnWorkerCpu } from "./_context.ts";
import { type RuntimeName, stopProcess, unlessExited } from "./_processes.ts";

/** The ping interval set for this benchmark (`RUNPOD_PING_INTERVAL`), in ms. */
export const PING_INTERVAL_MS = 1000;
/** How long the handler blocks, in ms. */
export const BLOCK_MS = 5000;

/** One runtime's measurements. */
export interface PingGapResult {
  /** The runtime. */
  runtime: RuntimeName;
  /** The gaps between consecutive pings while idle before the job, in ms (the baseline). */
  idleGaps: number[];
  /** The gaps between consecutive pings overlapping the block, in ms. */
  blockGaps: number[];
  /** Pings that arrived during the block. */
  pingsDuringBlock: number;
  /** Of those, how many listed the blocking job. */
  listingJob: number;
  /** How long the block lasted as seen by the simulator (job handed out to result), in ms. */
  blockMs: number;
  /** Why it failed, if it did. */
  error?: string;
}

/**
 * Starts a worker with `RUNPOD_PING_INTERVAL=1000`, records about four idle pings (the
 * baseline), then runs one job whose synchronous handler busy-loops for 5 s, and records the
 * pings that arrive from the job's hand-out to its result.
 *
 * @param ctx The run's context.
 * @param runtime The runtime.
 * @returns The gaps.
 *
 * @example
 * ```ts ignore
 * const result = await runPingGap(ctx, "node");
 * ```
 */
export async function runPingGap(ctx: BenchContext, runtime: RuntimeName): Promise<PingGapResult> {
  const { sim } = ctx;
  ctx.log(`ping gap ${runtime}`);
  await sim.reset(5000);
  const proc = startOnWorkerCpu(ctx, {
    runtime,
    script: "worker",
    env: sim.env({ RUNPOD_PING_INTERVAL: String(PING_INTERVAL_MS) }),
  });
  const wait = <T>(promise: Promise<T>) => unlessExited(proc, promise);
  try {
    await wait(sim.wait("held", 1, { timeoutMs: 20_000 }));
    await wait(sim.wait("pings", 4, { timeoutMs: 10_000 }));
    const start = await sim.enqueue(1, { blockMs: BLOCK_MS });
    const end = await wait(sim.wait("dones", 1, { timeoutMs: BLOCK_MS + 20_000 }));
    const after = (await sim.counts()).pings;
    await wait(sim.wait("pings", after + 1, { timeoutMs: 3 * PING_INTERVAL_MS }));
    const data = await sim.data();
    const done = data.dones[0] ?? end;
    const pings = data.pings;
    const idleGaps: number[] = [];
    const blockGaps: number[] = [];
    let pingsDuringBlock = 0;
    let listingJob = 0;
    for (let i = 0; i < pings.length; i++) {
      const at = pings[i]!;
      if (at > start && at < done) {
        pingsDuringBlock++;
        if (data.pingJobs[i]! > 0) listingJob++;
      }
      if (i === 0) continue;
      const prev = pings[i - 1]!;
      if (at <= start) idleGaps.push(at - prev);
      else if (prev < done) blockGaps.push(at - prev);
    }
    const result = {
      runtime,
      idleGaps,
      blockGaps,
      pingsDuringBlock,
      listingJob,
      blockMs: done - start,
    };
    ctx.log(`  block gaps ${blockGaps.map((g) => g.toFixed(0)).join(" ")} ms`);
    return result;
  } finally {
    await stopProcess(proc);
  }
}
