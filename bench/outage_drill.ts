/**
 * The outage drill of issue 11, at full length and with the worker's default retry settings:
 * what an operator saw when RunPod's API went down, replayed against the simulator.
 *
 * 1. `job-done` answers 503 for 20 s while 200 jobs trickle in at 10/s, concurrency 8.
 * 2. `job-stream` answers 503 for 10 s while 100 jobs of a 3-chunk generator trickle in at
 *    10/s, concurrency 8.
 * 3. `job-done` answers 503 from 1 s to 11 s, SIGTERM at 2 s, 500 ms jobs, concurrency 8.
 *
 * Each prints the lost and duplicated results, the jobs whose chunks are missing or out of
 * order, the exit code and the worker's outage lines. The worker is a child process of the
 * runtime running the drill (about 2 minutes in all):
 *
 *   node --import tsx bench/outage_drill.ts     deno run -A bench/outage_drill.ts
 *   bun bench/outage_drill.ts                   (add a scenario number to run one)
 *
 * Timing lives here, not in the test suite, which proves the same properties in seconds with
 * a short back-off cap (`test/pull_worker_outage.test.ts`).
 *
 * @module
 */

import process from "node:process";
import type { Simulator } from "../src/simulator/mod.ts";
import { lines, type PullRun, startPull } from "../test/support/pull_harness.ts";

const TRICKLE_MS = 100; // 10 jobs/s

interface Figures {
  scenario: string;
  jobs: number;
  lost: number;
  duplicated: number;
  badStreams: number;
  exit: number | string;
  seconds: number;
  outageLines: string[];
  tail: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function trickle(sim: Simulator, jobs: { input: unknown }[]): Promise<string[]> {
  const ids: string[] = [];
  for (const job of jobs) {
    ids.push(sim.enqueue(job));
    await sleep(TRICKLE_MS);
  }
  return ids;
}

function figures(
  scenario: string,
  run: PullRun,
  ids: string[],
  exit: number | string,
  started: number,
  chunks?: unknown[],
): Figures {
  const report = run.sim.report();
  const badStreams = chunks === undefined ? 0 : ids.filter((id) => {
    const record = run.sim.ledger.get(id);
    return JSON.stringify(record?.chunks) !== JSON.stringify(chunks);
  }).length + report.chunksAfterFinal.length;
  return {
    scenario,
    jobs: ids.length,
    lost: report.lost.length,
    duplicated: report.duplicated.length,
    badStreams,
    exit,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    outageLines: lines(run, /endpoint is failing|endpoint answers again|not delivered/),
    tail: lines(run, /Worker stopped/).join(" "),
  };
}

async function jobDoneDown(): Promise<Figures> {
  await using run = await startPull({
    handler: "echo",
    env: { FIXTURE_CONCURRENCY: "8" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: 20_000, afterMs: 2000 }),
  });
  const started = performance.now();
  const ids = await trickle(run.sim, Array.from({ length: 200 }, (_, i) => ({ input: i })));
  await run.sim.waitForResults(ids.length, { timeoutMs: 120_000 }).catch(() => {});
  const exit = await run.stop();
  return figures("job-done 503 for 20 s, 200 jobs at 10/s, c=8", run, ids, exit, started);
}

async function jobStreamDown(): Promise<Figures> {
  await using run = await startPull({
    handler: "asyncGenerator",
    env: { FIXTURE_CONCURRENCY: "8" },
    setup: (sim) => sim.fault("job-stream", { status: 503 }, { forMs: 10_000, afterMs: 2000 }),
  });
  const started = performance.now();
  const jobs = Array.from({ length: 100 }, () => ({ input: { n: 3 } }));
  const ids = await trickle(run.sim, jobs);
  await run.sim.waitForResults(ids.length, { timeoutMs: 120_000 }).catch(() => {});
  const exit = await run.stop();
  const chunks = ["a0", "a1", "a2"];
  return figures(
    "job-stream 503 for 10 s, 100 jobs x 3 chunks at 10/s, c=8",
    run,
    ids,
    exit,
    started,
    chunks,
  );
}

async function acrossSigterm(): Promise<Figures> {
  await using run = await startPull({
    handler: "sleep",
    env: { FIXTURE_CONCURRENCY: "8" },
    setup: (sim) => sim.fault("job-done", { status: 503 }, { forMs: 10_000, afterMs: 1000 }),
  });
  const started = performance.now();
  const ids = run.sim.enqueueMany(Array.from({ length: 40 }, () => ({ input: { ms: 500 } })));
  await sleep(2000);
  const exit = await run.stop();
  const taken = ids.filter((id) => (run.sim.ledger.get(id)?.taken ?? 0) > 0);
  return figures(
    "job-done 503 from 1 s to 11 s, SIGTERM at 2 s, 500 ms jobs, c=8",
    run,
    taken,
    exit,
    started,
  );
}

const SCENARIOS = [jobDoneDown, jobStreamDown, acrossSigterm];
const only = process.argv[2] ? [SCENARIOS[Number(process.argv[2]) - 1]!] : SCENARIOS;
for (const scenario of only) {
  const f = await scenario();
  console.log(`\n## ${f.scenario}`);
  console.log(
    `jobs ${f.jobs}, lost ${f.lost}, duplicated ${f.duplicated}, streams incomplete or out of order ${f.badStreams}, exit ${f.exit}, ${f.seconds} s`,
  );
  for (const line of f.outageLines) console.log(`  ${line}`);
  console.log(`  ${f.tail}`);
}
