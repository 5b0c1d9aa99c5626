/**
 * Benchmark 3: how fast a raised concurrency limit turns into new takes while long jobs hold
 * every slot.
 *
 * @module
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchContext, releaseUntil, sleep, startOnWorkerCpu } from "./_context.ts";
import { type RuntimeName, stopProcess, unlessExited } from "./_processes.ts";
import { epochNow } from "./_stats.ts";

/** The modifier's poll interval (`concurrencyPollMs`) in this benchmark. */
export const SCALE_POLL_MS = 5;

/** Options for {@linkcode runScaleUp}. */
export interface ScaleUpOptions {
  /** Measured rounds (after one warm-up round). @default 10 */
  rounds?: number;
}

/** One runtime's measurements, in ms, one entry per round. */
export interface ScaleUpResult {
  /** The runtime. */
  runtime: RuntimeName;
  /** From the modifier first returning 4 to the arrival of the next take at the simulator. */
  reaction: number[];
  /** From the bench writing the new limit to the arrival of the next take. */
  raiseToTake: number[];
  /** From the bench writing the new limit to the modifier first returning it. */
  raiseToModifier: number[];
  /** Why it failed, if it did. */
  error?: string;
}

/**
 * Runs the scale-up rounds on one runtime. The worker's modifier re-reads the limit from a file
 * (every `concurrencyPollMs` = 5 ms and before each take) and writes to stderr the epoch time at
 * which it first returns a new value. Each round: limit 2, two held jobs running, two more queued
 * (so no take is in flight); the bench writes 4 to the file and notes the time; the simulator
 * notes the arrival of the next take. Then the jobs are released and the limit set back to 2.
 *
 * @param ctx The run's context.
 * @param runtime The runtime.
 * @param options Rounds.
 * @returns The measurements.
 *
 * @example
 * ```ts ignore
 * const result = await runScaleUp(ctx, "deno");
 * ```
 */
export async function runScaleUp(
  ctx: BenchContext,
  runtime: RuntimeName,
  options: ScaleUpOptions = {},
): Promise<ScaleUpResult> {
  const { rounds = 10 } = options;
  const { sim } = ctx;
  const result: ScaleUpResult = {
    runtime,
    reaction: [],
    raiseToTake: [],
    raiseToModifier: [],
  };
  ctx.log(`scale-up ${runtime}`);
  const limitFile = join(ctx.tmpDir, `limit-${runtime}`);
  writeFileSync(limitFile, "2");
  await sim.reset(5000);
  const proc = startOnWorkerCpu(ctx, {
    runtime,
    script: "worker",
    env: sim.env({ BENCH_CONCURRENCY_FILE: limitFile, BENCH_POLL_MS: String(SCALE_POLL_MS) }),
  });
  const wait = <T>(promise: Promise<T>) => unlessExited(proc, promise);
  try {
    await wait(sim.wait("held", 1, { timeoutMs: 20_000 }));
    let handed = 0;
    let dones = 0;
    for (let round = 0; round <= rounds; round++) {
      await sim.enqueue(2, { hold: true });
      await wait(sim.wait("handedOut", handed += 2, { timeoutMs: 10_000 }));
      await sim.enqueue(2, { hold: true });
      // Both slots are busy and the two queued jobs wait: the worker must have no take out.
      await sleep(30);
      const before = await sim.counts();
      if (before.held !== 0) throw new Error("A take was in flight before the raise");
      writeFileSync(limitFile, "4");
      const raised = epochNow();
      await wait(sim.wait("takes", before.takes + 1, { timeoutMs: 5000 }));
      await wait(sim.wait("handedOut", handed += 2, { timeoutMs: 5000 }));
      const data = await sim.data({ takes: before.takes, dones: 1e12, pings: 1e12 });
      const take = data.takes[0]!;
      const changed = lastLimitChange(proc.stderrPath, 4);
      if (round > 0) {
        result.reaction.push(take - changed);
        result.raiseToTake.push(take - raised);
        result.raiseToModifier.push(changed - raised);
      }
      await releaseUntil(ctx, { proc, dones: dones += 4 });
      writeFileSync(limitFile, "2");
      await wait(waitForLimit(proc.stderrPath, 2, 5000));
    }
    ctx.log(`  ${result.reaction.map((r) => r.toFixed(2)).join(" ")} ms`);
  } finally {
    await stopProcess(proc);
  }
  return result;
}

/** The epoch time of the last `limit <value> <t>` line in the worker's stderr. */
function lastLimitChange(path: string, value: number): number {
  const lines = readFileSync(path, "utf8").trim().split("\n").reverse();
  for (const line of lines) {
    const [word, v, t] = line.split(" ");
    if (word === "limit" && Number(v) === value) return Number(t);
  }
  throw new Error(`The worker never reported limit ${value}`);
}

async function waitForLimit(path: string, value: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const last = readFileSync(path, "utf8").trim().split("\n").at(-1) ?? "";
    if (last.startsWith(`limit ${value} `)) return;
    await sleep(2);
  }
  throw new Error(`The worker did not return limit ${value} within ${timeoutMs} ms`);
}
