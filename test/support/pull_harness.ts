/**
 * A RunPod queue simulator on loopback and a real pull worker process (of the runtime running
 * the tests) pointed at it.
 *
 * @module
 */

import { join } from "node:path";
import { deadline } from "../../src/async/deadline.ts";
import { type Deferred, deferred } from "../../src/async/deferred.ts";
import {
  createSimulator,
  type RecordedRequest,
  type Simulator,
  type SimulatorEvent,
  type SimulatorEventType,
} from "../../src/simulator/mod.ts";
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
  /**
   * Called with the simulator before the worker starts: script faults and queue jobs that the
   * worker's very first take must see. @default undefined
   */
  setup?: (sim: Simulator) => void;
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
  /**
   * A network partition: closes the simulator's port, so every route refuses connections,
   * until the returned function serves the simulator on the same port again.
   *
   * @returns Ends the partition.
   */
  unplug(): Promise<() => Promise<void>>;
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
  let server: Server | undefined = await runtime.serve(sim.fetch, {
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = server.port;
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    options.setup?.(sim);
  } catch (error) {
    sim.close();
    await server.close();
    throw error;
  }
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
    async unplug() {
      const open = server;
      if (open === undefined) throw new Error("The simulator is unplugged already");
      server = undefined;
      await open.close();
      return async () => {
        server = await runtime.serve(sim.fetch, { hostname: "127.0.0.1", port });
      };
    },
    async [Symbol.asyncDispose]() {
      if (!stopped) child.kill("SIGKILL");
      await child.exited.catch(() => {});
      sim.close();
      await server?.close();
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

/** Long enough for any outage test: the tests end their outages with `clearFaults()`. */
export const OPEN_ENDED = 3_600_000;
/** The worker's back-off cap in outage tests, in ms, so they prove in seconds what drills do. */
export const FAST = { deliveryRetryMaxDelayMs: 50 };

/**
 * Failed job-done attempts of a job (final results only).
 *
 * @param sim The simulator.
 * @param id The job id.
 * @returns How many of its final-result posts were answered with a fault.
 */
export function attempts(sim: Simulator, id: string): number {
  return sim.ledger.get(id)?.attempts ?? 0;
}

/**
 * Faulted job-stream posts of a job.
 *
 * @param sim The simulator.
 * @param id The job id.
 * @returns How many of its stream posts were answered with a fault.
 */
export function failedChunks(sim: Simulator, id: string): number {
  return sim.requests.filter((r) => r.route === "job-stream" && r.jobId === id && r.fault).length;
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

/**
 * Guards a wait that could otherwise hang the runner (a child that never prints a line, never
 * exits): rejects naming what was awaited once `ms` pass. A failure guard, not a synchronisation.
 *
 * @param promise What to wait for.
 * @param what Names it in the failure message.
 * @param ms The most to wait. @default 30000
 * @returns `promise`'s value.
 */
export async function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  try {
    return await deadline(promise, ms);
  } catch (error) {
    if (error instanceof DOMException && error.name === "TimeoutError") {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    throw error;
  }
}

/**
 * Waits for a line of the worker's stdout (guarded by {@linkcode within}).
 *
 * @param run The pair.
 * @param pattern The line to wait for.
 * @returns The line.
 */
export function line(run: PullRun, pattern: RegExp): Promise<string> {
  return within(run.child.waitForLine(pattern), `a worker line matching ${pattern}`);
}

/**
 * Waits for the worker to exit by itself (guarded by {@linkcode within}).
 *
 * @param run The pair.
 * @returns The exit code (or signal name).
 */
export function exitCode(run: PullRun): Promise<number | string> {
  return within(run.child.exited, "the worker to exit");
}

/**
 * The worker's stdout lines matching `pattern`. Read it after the worker exited: log lines and
 * HTTP requests travel separately, so a line may lag behind a request the simulator already saw.
 *
 * @param run The pair.
 * @param pattern The lines to keep.
 * @returns The matching lines.
 */
export function lines(run: PullRun, pattern: RegExp): string[] {
  return run.child.stdout.split("\n").filter((l) => pattern.test(l));
}

/**
 * The job-take and job-take-batch requests, in arrival order.
 *
 * @param sim The simulator.
 * @returns The take requests.
 */
export function takes(sim: Simulator): RecordedRequest[] {
  return sim.requests.filter((r) => r.route === "job-take" || r.route === "job-take-batch");
}

/**
 * Records the simulator's events of the given types from now on, in dispatch order (which is the
 * order things were delivered in).
 *
 * @param sim The simulator.
 * @param types The event types.
 * @returns The live list of events.
 */
export function recordEvents(
  sim: Simulator,
  types: readonly SimulatorEventType[],
): SimulatorEvent[] {
  const events: SimulatorEvent[] = [];
  for (const type of types) {
    sim.addEventListener(type, (event) => void events.push(event as SimulatorEvent));
  }
  return events;
}

/**
 * As {@linkcode assertNothingLost}, for runs with malformed jobs queued by `enqueueRaw`: the
 * simulator does not know a raw entry's id, so the FAILED result the worker posts for it shows
 * up as `unknown`. Each of `rawIds` must have exactly one final result, and nothing else may be
 * unknown, lost or duplicated.
 *
 * @param sim The simulator.
 * @param rawIds The ids inside raw entries that must have been answered.
 * @returns The report.
 */
export function assertNothingLostWithRaw(sim: Simulator, rawIds: readonly string[]) {
  const report = sim.report();
  const problems = {
    lost: report.lost,
    duplicated: report.duplicated,
    unknown: report.unknown.filter((id) => !rawIds.includes(id)),
    progressAfterFinal: report.progressAfterFinal,
    unanswered: rawIds.filter((id) => sim.ledger.get(id)?.results.length !== 1),
  };
  for (const [kind, ids] of Object.entries(problems)) {
    if (ids.length > 0) throw new Error(`Ledger: ${kind} jobs ${ids.join(", ")}`);
  }
  return report;
}

/** A tiny HTTP app that holds requests until the test answers them. */
export interface HeldRequests extends AsyncDisposable {
  /**
   * The URL of a named hold: an `awaitUrl` job given it runs until {@linkcode HeldRequests.release}.
   *
   * @param name The hold's name.
   * @returns Its URL.
   */
  url(name: string): string;
  /**
   * Resolves once a request for the hold arrived (the job is running), guarded by
   * {@linkcode within}.
   *
   * @param name The hold's name.
   */
  arrived(name: string): Promise<void>;
  /**
   * Answers the hold's request (now, or as soon as it arrives) with `value` as JSON.
   *
   * @param name The hold's name.
   * @param value The answer. @default { released: name }
   */
  release(name: string, value?: unknown): void;
}

/**
 * Serves {@linkcode HeldRequests} on loopback. Dispose it to answer every hold still open and
 * close the server.
 *
 * @returns The app.
 */
export async function holdRequests(): Promise<HeldRequests> {
  const runtime = await currentRuntime();
  const holds = new Map<string, { arrived: Deferred<void>; answer: Deferred<unknown> }>();
  const hold = (name: string) => {
    let entry = holds.get(name);
    if (entry === undefined) holds.set(name, entry = { arrived: deferred(), answer: deferred() });
    return entry;
  };
  const server = await runtime.serve(async (request) => {
    const entry = hold(decodeURIComponent(new URL(request.url).pathname.slice(1)));
    entry.arrived.resolve();
    return Response.json(await entry.answer.promise);
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    url: (name) => `http://127.0.0.1:${server.port}/${encodeURIComponent(name)}`,
    arrived: (name) => within(hold(name).arrived.promise, `the request of hold ${name}`),
    release: (name, value = { released: name }) => hold(name).answer.resolve(value),
    async [Symbol.asyncDispose]() {
      for (const entry of holds.values()) entry.answer.resolve(null);
      await server.close();
    },
  };
}
