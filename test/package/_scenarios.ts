/**
 * The two things every installed worker must do, as the package tests check them: run one job in
 * local test mode, and serve the simulator's queue as a pull worker that takes jobs, streams
 * chunks and sends pings from its heartbeat thread.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { JobRecord } from "../../src/simulator/mod.ts";
import { within } from "../support/pull_harness.ts";
import { run, type Running, serveSimulator, startProcess } from "./_support.ts";

/** The handler every consumer project installs (TypeScript; `toJavaScript` strips its types). */
export const HANDLER_TS = `import * as runpod from "edgepod";

async function* handler(
  job: runpod.Job<{ words: string[]; hold?: boolean }>,
  ctx: runpod.JobContext,
): AsyncGenerator<string> {
  for (const word of job.input.words) yield word;
  if (job.input.hold && !ctx.signal.aborted) {
    // Held until RunPod stops the job, so its pings can be seen listing it.
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  }
}

runpod.serverless.start({ handler, return_aggregate_stream: true });
`;

/**
 * The handler's plain-JavaScript twin (the same code without its type annotations).
 *
 * @param source {@linkcode HANDLER_TS}.
 * @returns JavaScript.
 */
export function toJavaScript(source: string): string {
  const js = source
    .replace("job: runpod.Job<{ words: string[]; hold?: boolean }>", "job")
    .replace("ctx: runpod.JobContext", "ctx")
    .replace("): AsyncGenerator<string> {", ") {");
  assert.doesNotMatch(js, /runpod\.Job|AsyncGenerator/, "the handler's types were not all removed");
  return js;
}

/** The job local test mode runs (`test_input.json`). */
export const TEST_INPUT = { input: { words: ["local", "test"] } };

/**
 * Runs `argv` in local test mode in `cwd` (which holds `test_input.json`) and checks the printed
 * result.
 *
 * @param argv The worker command.
 * @param cwd The project.
 * @param env Extra environment variables.
 */
export async function assertLocalTest(
  argv: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<void> {
  const done = await run(argv, { cwd, env });
  assert.equal(done.code, 0, `exit ${done.code}\n${done.stdout}\n${done.stderr}`);
  assert.match(done.stdout, /^Job result: \{"output":\["local","test"\]\}$/m, done.stdout);
}

/** The jobs a pull run feeds the worker, and the chunks each must stream. */
export interface PullJobs {
  /** A job that completes. */
  quick: { input: unknown; chunks: unknown[] };
  /**
   * A job that holds until stopped, so pings are seen listing it; without one, pings are only
   * checked to arrive.
   */
  held?: { input: unknown; chunks: unknown[] };
}

/** The jobs for {@linkcode HANDLER_TS}. */
export const CONSUMER_JOBS: PullJobs = {
  quick: { input: { words: ["streamed", "words"] }, chunks: ["streamed", "words"] },
  held: { input: { words: ["first"], hold: true }, chunks: ["first"] },
};

/** What a pull run left behind. */
export interface PullOutcome {
  /** The worker's output and exit code (after SIGTERM). */
  code: number | string;
  stdout: string;
  stderr: string;
}

function unlessExited<T>(proc: Running, promise: Promise<T>, what: string): Promise<T> {
  const died = proc.exited.then((done) => {
    throw new Error(
      `The worker exited (${done.code}) before ${what}:\n${done.stdout.slice(-3000)}\n${
        done.stderr.slice(-3000)
      }`,
    );
  });
  died.catch(() => {});
  return within(Promise.race([promise, died]), what, 60_000);
}

function record(jobs: JobRecord[], id: string): JobRecord {
  const found = jobs.find((j) => j.id === id);
  assert.ok(found, `job ${id} is not in the ledger`);
  return found;
}

/**
 * Starts `argv` as a pull worker against a fresh simulator, then checks the production path end
 * to end: a streaming job is taken, its chunks streamed and its aggregate posted; a second job
 * that holds is listed in the heartbeat thread's pings, then stopped; SIGTERM ends the worker
 * with exit 0 and a last, empty ping.
 *
 * @param argv The worker command.
 * @param cwd The project.
 * @param env Extra environment variables.
 * @param jobs The jobs to feed. @default CONSUMER_JOBS
 * @returns The worker's output.
 */
export async function assertPullWorker(
  argv: string[],
  cwd: string,
  env: Record<string, string> = {},
  jobs: PullJobs = CONSUMER_JOBS,
): Promise<PullOutcome> {
  await using served = await serveSimulator();
  const { sim, baseUrl } = served;
  sim.enqueue({ id: "quick", input: jobs.quick.input });
  const proc = startProcess(argv, {
    cwd,
    env: {
      ...sim.env(baseUrl),
      RUNPOD_POD_ID: "pod-consumer",
      RUNPOD_PING_INTERVAL: "100",
      ...env,
    },
  });
  const chunksOf = (id: string) => sim.report().jobs.find((j) => j.id === id)?.chunks ?? [];
  try {
    await unlessExited(proc, sim.waitForResults(1), "the first job's result");
    if (jobs.held) {
      sim.enqueue({ id: "held", input: jobs.held.input });
      await unlessExited(
        proc,
        sim.waitFor(() =>
          sim.pings.some((p) => p.jobIds.includes("held")) &&
          chunksOf("held").length === jobs.held!.chunks.length
        ),
        "a ping listing the held job, and its chunks",
      );
      sim.stop("held");
      // The worker's own word that it acted on the stop (a stop still in flight when SIGTERM
      // aborts the job-stop long-poll would be lost, and the job would wait out the drain).
      await unlessExited(
        proc,
        proc.waitForLine(/held.*Stopping job\./),
        "the worker stopping the job",
      );
    } else {
      await unlessExited(proc, sim.waitForPings(2), "two pings");
    }
    const pingsBefore = sim.pings.length;
    proc.kill("SIGTERM");
    const done = await within(proc.exited, "the worker to exit after SIGTERM", 60_000);
    const detail = `\n${done.stdout.slice(-3000)}\n${done.stderr.slice(-3000)}`;
    assert.equal(done.code, 0, `exit ${done.code}${detail}`);

    const report = sim.report();
    const quick = record(report.jobs, "quick");
    assert.deepEqual(quick.chunks, jobs.quick.chunks, detail);
    assert.equal(quick.results.length, 1);
    assert.deepEqual(quick.results[0]!.body, { output: jobs.quick.chunks });
    assert.equal(quick.results[0]!.isStream, true);
    if (jobs.held) {
      const held = record(report.jobs, "held");
      assert.deepEqual(held.chunks, jobs.held.chunks);
      assert.equal(held.results.length, 0, "a stopped job gets no result");
    }
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.duplicated, []);

    assert.ok(sim.pings.length > 0, `no ping arrived${detail}`);
    assert.ok(sim.pings.every((p) => p.workerId === "pod-consumer"));
    assert.ok(sim.pings.length > pingsBefore, `no last ping on shutdown${detail}`);
    assert.deepEqual(sim.pings.at(-1)!.jobIds, [], "the last ping lists no job");
    assert.equal(sim.unhealthy.length, 0);
    assert.doesNotMatch(done.stdout, /Pings will not be sent|heartbeat thread failed/i, detail);
    return { code: done.code, stdout: done.stdout, stderr: done.stderr };
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}
