/**
 * What every benchmark gets from `run.ts`: the simulator, a scratch directory, a logger, and a
 * way to start the process under test on its own CPU.
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import {
  type BenchProcess,
  commandLine,
  type Launch,
  type RuntimeName,
  spawnPinned,
  unlessExited,
} from "./_processes.ts";
import type { SimClient } from "./_sim_client.ts";

/** The CPU of the simulator (and of the orchestrator, which mostly waits). */
export const SIM_CPU = 0;
/** The CPU of the process under test. */
export const WORKER_CPU = 1;

/** The shared state of a benchmark run. */
export interface BenchContext {
  /** The simulator. */
  sim: SimClient;
  /** The simulator process's pid (for its CPU time). */
  simPid: number;
  /** A scratch directory, removed at the end. */
  tmpDir: string;
  /** Prints a progress line. */
  log(message: string): void;
  /** Aborted when the benchmark step times out: nothing more may be started then. */
  signal?: AbortSignal;
}

let sequence = 0;

/** A benchmark script to start on the worker CPU. */
export interface WorkerLaunch extends Launch {
  /** Its environment (added to the cleaned one). */
  env: Record<string, string>;
}

/**
 * Starts a benchmark script on the worker CPU, stdout and stderr to files in the scratch
 * directory (stdout is drained by the kernel into the file, so a chatty worker never blocks).
 *
 * @param ctx The run's context.
 * @param launch The script, runtime and environment.
 * @returns The process.
 * @throws {unknown} `ctx.signal.reason` when the step was aborted.
 *
 * @example
 * ```ts ignore
 * const worker = startOnWorkerCpu(ctx, { runtime: "bun", script: "worker", env: ctx.sim.env() });
 * ```
 */
export function startOnWorkerCpu(ctx: BenchContext, launch: WorkerLaunch): BenchProcess {
  ctx.signal?.throwIfAborted();
  const label = `${launch.runtime}${launch.node === "tsx" ? "+tsx" : ""} ${launch.script}`;
  const base = join(ctx.tmpDir, `${++sequence}-${launch.runtime}-${launch.script}`);
  return spawnPinned(commandLine(launch, ctx.tmpDir), {
    cpu: WORKER_CPU,
    env: launch.env,
    label,
    stdout: `${base}.out`,
    stderr: `${base}.err`,
  });
}

/**
 * The label of a runtime's command in tables: `bun`, `deno`, `node (dist)`, `node (tsx)`.
 *
 * @param runtime The runtime.
 * @param node How Node runs it.
 * @returns The label.
 *
 * @example
 * ```ts
 * import { runtimeLabel } from "./_context.ts";
 * console.assert(runtimeLabel("node", "tsx") === "node (tsx)");
 * ```
 */
export function runtimeLabel(runtime: RuntimeName, node: "dist" | "tsx" = "dist"): string {
  return runtime === "node" ? `node (${node})` : runtime;
}

/**
 * Waits `ms` milliseconds (between phases only; never as synchronisation with the worker).
 *
 * @param ms The time.
 * @returns A promise for then.
 *
 * @example
 * ```ts
 * import { sleep } from "./_context.ts";
 * await sleep(1);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The message of anything thrown.
 *
 * @param error What was thrown.
 * @returns Its message, on one line.
 *
 * @example
 * ```ts
 * import { errorMessage } from "./_context.ts";
 * console.assert(errorMessage(new Error("a\nb")) === "a b");
 * ```
 */
export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ");
}

/** Options for {@linkcode releaseUntil}. */
export interface ReleaseOptions {
  /** The process holding jobs. */
  proc: BenchProcess;
  /** The job-done count to reach. */
  dones: number;
  /** Signals sent at most. @default 10 */
  attempts?: number;
}

/**
 * Sends `SIGUSR2` (releasing held jobs) until the simulator has `dones` results in all: a job
 * handed out just before the signal may not have reached its handler yet, and waits for the next
 * signal.
 *
 * @param ctx The run's context.
 * @param options The process and the count to reach.
 * @throws {Error} When the count is not reached.
 *
 * @example
 * ```ts ignore
 * await releaseUntil(ctx, { proc: worker, dones: 1000 });
 * ```
 */
export async function releaseUntil(ctx: BenchContext, options: ReleaseOptions): Promise<void> {
  const { proc, dones, attempts = 10 } = options;
  for (let i = 0; i < attempts; i++) {
    process.kill(proc.pid, "SIGUSR2");
    try {
      await unlessExited(proc, ctx.sim.wait("dones", dones, { timeoutMs: 1000 }));
      return;
    } catch (error) {
      if (!proc.running) throw error;
    }
  }
  throw new Error(`${proc.label}: ${dones} results not reached after ${attempts} releases`);
}
