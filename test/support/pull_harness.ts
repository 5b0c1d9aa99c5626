/**
 * A RunPod queue simulator on loopback and a real pull worker process (of the runtime running
 * the tests) pointed at it.
 *
 * @module
 */

import { join } from "node:path";
import { createSimulator, type Simulator } from "../../src/simulator/mod.ts";
import type { SimulatorOptions } from "../../src/simulator/simulator_options.ts";
import type { Server } from "../../src/runtime.ts";
import { type Child, startChild } from "./child.ts";
import { currentRuntime, repoRoot } from "./runtime.ts";

/** Options for {@linkcode startPull}. */
export interface PullOptions {
  /** A handler name from `test/fixtures/handlers.ts`. */
  handler: string;
  /** JSON-serialisable `start()` options (merged by `test/fixtures/worker.ts`). */
  config?: Record<string, unknown>;
  /** Extra environment variables for the worker. */
  env?: Record<string, string>;
  /** Simulator options. @default { longPollMs: 200, apiKey: "test-key" } */
  sim?: SimulatorOptions;
  /** Another worker script instead of `test/fixtures/worker.ts`. */
  script?: string;
}

/** A running simulator + worker pair. */
export interface PullRun extends AsyncDisposable {
  /** The simulator (enqueue jobs, inject faults, read the ledger). */
  sim: Simulator;
  /** The worker process. */
  child: Child;
  /** The simulator's base URL. */
  baseUrl: string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | string>;
}

/**
 * Starts the simulator and a worker. Dispose it (`await using`, or call the dispose method in
 * `finally`) to kill the worker if still running and close the simulator.
 *
 * @param options Handler, config, environment, simulator options.
 * @returns The pair.
 */
export async function startPull(options: PullOptions): Promise<PullRun> {
  const runtime = await currentRuntime();
  const sim = createSimulator(options.sim ?? { longPollMs: 200, apiKey: "test-key" });
  const server: Server = await runtime.serve(sim.fetch, { hostname: "127.0.0.1", port: 0 });
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const child = startChild(options.script ?? join(repoRoot, "test/fixtures/worker.ts"), [], {
    env: {
      ...sim.env(baseUrl),
      RUNPOD_POD_ID: "pod-test",
      RUNPOD_PING_INTERVAL: "200",
      FIXTURE_HANDLER: options.handler,
      FIXTURE_CONFIG: JSON.stringify(options.config ?? {}),
      ...options.env,
    },
  });
  let stopped = false;
  return {
    sim,
    child,
    baseUrl,
    async stop() {
      stopped = true;
      child.kill("SIGTERM");
      return await child.exited;
    },
    async [Symbol.asyncDispose]() {
      if (!stopped) child.kill("SIGKILL");
      await child.exited.catch(() => {});
      sim.close();
      await server.close();
    },
  };
}

/**
 * The parsed final result bodies of a job, from the simulator's ledger.
 *
 * @param sim The simulator.
 * @param id The job id.
 * @returns Its final results, in arrival order.
 */
export function finals(sim: Simulator, id: string): { body: unknown; isStream: boolean }[] {
  const record = sim.report().jobs.find((j) => j.id === id);
  return (record?.results ?? []).map((r) => ({ body: r.body, isStream: r.isStream }));
}

/**
 * Asserts the ledger's invariants: nothing lost, nothing reported twice, nothing unknown.
 *
 * @param sim The simulator.
 * @returns The report, for further assertions.
 */
export function assertNothingLost(sim: Simulator) {
  const report = sim.report();
  const problems = {
    lost: report.lost,
    duplicated: report.duplicated,
    unknown: report.unknown,
    progressAfterFinal: report.progressAfterFinal,
  };
  for (const [kind, ids] of Object.entries(problems)) {
    if (ids.length > 0) throw new Error(`Ledger: ${kind} jobs ${ids.join(", ")}`);
  }
  return report;
}
