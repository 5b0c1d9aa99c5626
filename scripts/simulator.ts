/**
 * The RunPod queue simulator as a command-line dev tool: serves RunPod's worker routes on
 * loopback, prints the environment a worker needs, feeds jobs, injects faults, and on exit
 * prints the ledger's verdict (exit 1 if a job was lost or reported twice).
 *
 * Usage (any runtime):
 *   npm run simulator -- [--port 8000] [--host 127.0.0.1] [--jobs N] [--input '<json>']
 *     [--jobs-file jobs.json] [--long-poll 1000] [--api-key KEY]
 *     [--fault job-take=500x3] [--fault job-done=drop] [--fault job-stream=delay:200x5]
 *     [--fault job-done=503for20s] [--fault job-stream=dropfor10s@1s]
 *     [--until-results N] [--quiet]
 *
 * It prints `export RUNPOD_...=...` lines: paste them into another shell and start a worker
 * there (e.g. `bun examples/concurrent-handler/handler.ts`). Ctrl-C prints the ledger.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { loadRuntime } from "../adapters/auto.ts";
import {
  createSimulator,
  type FaultOptions,
  type SimulatorFault,
  type SimulatorRoute,
} from "../src/simulator/mod.ts";

interface Flags {
  port: number;
  host: string;
  jobs: number;
  input: unknown;
  jobsFile?: string;
  longPoll: number;
  apiKey?: string;
  faults: string[];
  untilResults?: number;
  quiet: boolean;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = {
    port: 8000,
    host: "127.0.0.1",
    jobs: 0,
    input: {},
    longPoll: 1000,
    faults: [],
    quiet: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new TypeError(`${arg} expects a value`);
      return next;
    };
    switch (arg) {
      case "--port":
        flags.port = Number(value());
        break;
      case "--host":
        flags.host = value();
        break;
      case "--jobs":
        flags.jobs = Number(value());
        break;
      case "--input":
        flags.input = JSON.parse(value());
        break;
      case "--jobs-file":
        flags.jobsFile = value();
        break;
      case "--long-poll":
        flags.longPoll = Number(value());
        break;
      case "--api-key":
        flags.apiKey = value();
        break;
      case "--fault":
        flags.faults.push(value());
        break;
      case "--until-results":
        flags.untilResults = Number(value());
        break;
      case "--quiet":
        flags.quiet = true;
        break;
      default:
        throw new TypeError(`Unknown option ${arg}; see the usage in scripts/simulator.ts`);
    }
  }
  return flags;
}

/**
 * `route=500x3`, `route=429`, `route=drop`, `route=delay:200x5`, or a time window (an outage):
 * `route=503for20s` (from now), `route=dropfor10s@1s` (from 1 s on), durations in `ms` or `s`.
 */
function parseFault(text: string): [SimulatorRoute, SimulatorFault, FaultOptions] {
  const match =
    /^([a-z-]+)=(drop|delay:\d+|\d{3})(?:x(\d+|inf)|for(\d+(?:\.\d+)?(?:ms|s))(?:@(\d+(?:\.\d+)?(?:ms|s)))?)?$/
      .exec(text);
  if (!match) {
    throw new TypeError(
      `--fault must look like job-take=500x3, job-done=drop, job-stream=delay:200 or job-done=503for20s@1s: received ${text}`,
    );
  }
  const [, route, kind, times, forText, afterText] = match;
  const fault: SimulatorFault = kind === "drop"
    ? { drop: true }
    : kind!.startsWith("delay:")
    ? { delayMs: Number(kind!.slice(6)) }
    : { status: Number(kind), headers: kind === "429" ? { "retry-after": "1" } : undefined };
  const options: FaultOptions = forText
    ? { forMs: duration(forText), afterMs: afterText ? duration(afterText) : 0 }
    : { times: times === "inf" ? Infinity : Number(times ?? 1) };
  return [route as SimulatorRoute, fault, options];
}

/** `20s`, `1.5s` or `300ms`, in ms. */
function duration(text: string): number {
  return text.endsWith("ms") ? Number(text.slice(0, -2)) : Number(text.slice(0, -1)) * 1000;
}

const flags = parseFlags(process.argv.slice(2));
const runtime = await loadRuntime();
const sim = createSimulator({
  longPollMs: flags.longPoll,
  apiKey: flags.apiKey,
  recordRequests: false,
});
for (const text of flags.faults) {
  const [route, fault, options] = parseFault(text);
  sim.fault(route, fault, options);
}
if (flags.jobsFile) sim.enqueueMany(JSON.parse(readFileSync(flags.jobsFile, "utf8")));
for (let i = 0; i < flags.jobs; i++) sim.enqueue({ input: flags.input });

const server = await runtime.serve(sim.fetch, { hostname: flags.host, port: flags.port });
const env = {
  ...sim.env(`http://${flags.host}:${server.port}`),
  RUNPOD_POD_ID: "local-pod",
  RUNPOD_AI_API_KEY: flags.apiKey ?? "local-key",
};
for (const [key, value] of Object.entries(env)) console.log(`export ${key}='${value}'`);
if (!flags.quiet) {
  console.error(
    `# simulator on http://${flags.host}:${server.port}, ${sim.queued} jobs queued; Ctrl-C prints the ledger`,
  );
}

let finishing = false;
async function finish(): Promise<never> {
  if (finishing) process.exit(1);
  finishing = true;
  const report = sim.report();
  const c = sim.counters;
  console.error(
    `# ${report.jobs.length} jobs, ${c.results} results, ${c.chunks} chunks, ${c.progress} progress, ` +
      `${c.pings} pings; lost ${report.lost.length}, duplicated ${report.duplicated.length}, ` +
      `unknown ${report.unknown.length}, pending ${report.pending.length}`,
  );
  for (const kind of ["lost", "duplicated", "unknown"] as const) {
    if (report[kind].length > 0) console.error(`# ${kind}: ${report[kind].join(", ")}`);
  }
  sim.close();
  await server.close();
  process.exit(report.lost.length + report.duplicated.length > 0 ? 1 : 0);
}
process.on("SIGINT", finish);
process.on("SIGTERM", finish);
if (flags.untilResults !== undefined) {
  await sim.waitFor(() => sim.counters.results >= flags.untilResults!, { timeoutMs: Infinity });
  await finish();
}
