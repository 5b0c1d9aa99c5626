/**
 * `npm run bench`: runs every benchmark on Bun, Deno and Node in one go and writes
 * `BENCHMARKS.md`.
 *
 * Options (after `npm run bench --`): `--only throughput,scale-up,cold-start,ping-gap,memory,push,adaptive`
 * runs a subset; `--quick` uses fewer repetitions (for trying changes, not for the report);
 * `--out <file>` writes elsewhere than `BENCHMARKS.md`.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { type BenchContext, errorMessage, SIM_CPU, WORKER_CPU } from "./_context.ts";
import { runColdStart } from "./run_cold_start.ts";
import { runMemory } from "./run_memory.ts";
import { findings } from "./_findings.ts";
import { runPingGap } from "./run_ping_gap.ts";
import {
  commandLine,
  EXECUTABLES,
  killAll,
  REPO,
  RUNTIMES,
  spawnPinned,
  stopProcess,
} from "./_processes.ts";
import { type BenchResults, renderReport } from "./_render_report.ts";
import { runScaleUp } from "./run_scale_up.ts";
import { SimClient } from "./_sim_client.ts";
import { epochNow } from "./_stats.ts";
import { runThroughput, VARIANTS } from "./run_throughput.ts";
import { renderPush, runPush } from "./run_push.ts";
import { runAdaptive } from "./run_adaptive.ts";
import { adaptiveSection } from "./_report_adaptive.ts";
import { readSections, spliceSection } from "./_sections.ts";

/** The benchmarks of the main report (rewritten whole when all of them run). */
const MAIN = ["throughput", "scale-up", "cold-start", "ping-gap", "memory"] as const;

/**
 * Add-on benchmarks: each measures its own bare baseline in the same run and renders one marked
 * section of the report, refreshed alone by `--only NAME`.
 */
const ADD_ONS: Record<string, (ctx: BenchContext, quick: boolean) => Promise<string>> = {
  push: async (ctx, quick) => renderPush(await runPush(ctx, quick ? { reps: 1, seconds: 2 } : {})),
  // In the orchestrator's process (the simulator's CPU, idle by then); its two pull workers may
  // use both CPUs (one CPU cannot serve both).
  adaptive: async (ctx) =>
    adaptiveSection(
      await runAdaptive(ctx.log, { workerCpus: `${SIM_CPU},${WORKER_CPU}`, sim: ctx.sim }),
    ),
};

const BENCHMARKS = [...MAIN, ...Object.keys(ADD_ONS)] as const;

function parseArgs(argv: string[]) {
  let only: string[] = [...BENCHMARKS];
  let quick = false;
  let out = join(REPO, "BENCHMARKS.md");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--quick") quick = true;
    else if (arg === "--out") out = argv[++i] ?? out;
    else if (arg === "--only") {
      only = (argv[++i] ?? "").split(",");
      const unknown = only.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
      if (unknown.length) {
        throw new TypeError(`--only accepts ${BENCHMARKS.join(", ")}: received ${unknown}`);
      }
    } else throw new TypeError(`Unknown option ${arg}; see bench/run.ts`);
  }
  return { only, quick, out };
}

function version(exe: string, args: string[]): string {
  return execFileSync(exe, args, { encoding: "utf8" }).trim().split("\n")[0]!;
}

function machineFacts(): string[] {
  const cpus = os.cpus();
  const model = cpus[0]?.model ?? "unknown";
  return [
    `CPU: ${cpus.length} × ${model} (\`nproc --all\`: ${version("nproc", ["--all"])}); RAM ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB; ${os.type()} ${os.release()} (${os.arch()})`,
    `Runtimes: Bun ${version(EXECUTABLES.bun, ["--version"])}, ${
      version(EXECUTABLES.deno, ["--version"])
    }, Node ${process.versions.node} (all from \`node_modules\`, Node from the system)`,
    "Pinning: simulator (Bun) and orchestrator on CPU 0, the measured process on CPU 1",
    readFileSync("/proc/cpuinfo", "utf8").includes(" hypervisor")
      ? "Virtual machine (the CPU reports the `hypervisor` flag): other guests may add noise"
      : "Bare metal (no `hypervisor` CPU flag)",
  ];
}

/** Options for {@linkcode step}. */
interface StepOptions {
  /** The step's name in failures. */
  name: string;
  /** Past this, the step's processes are killed and it is recorded as failed. */
  timeoutMs: number;
  /** The simulator's pid, spared when killing. */
  keep: number;
  /** The step, given a context whose signal aborts on timeout. */
  body: (ctx: BenchContext) => Promise<void>;
}

/** Runs a benchmark step; a failure (or a hang past `timeoutMs`) is recorded, not thrown. */
async function step(
  results: BenchResults,
  ctx: BenchContext,
  options: StepOptions,
): Promise<void> {
  const { name, timeoutMs, keep, body } = options;
  const controller = new AbortController();
  const signal = controller.signal;
  // A timed-out body may still be running: its simulator client and process starts refuse.
  const stepCtx = { ...ctx, signal, sim: new SimClient(ctx.sim.baseUrl, { signal }) };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      body(stepCtx),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new Error(`Timed out after ${timeoutMs / 1000} s`);
          controller.abort(error);
          killAll(keep); // unblocks the step: its process is gone
          reject(error);
        }, timeoutMs);
      }),
    ]);
  } catch (error) {
    const message = `${name}: ${errorMessage(error)}`;
    results.failures.push(message);
    console.error(`FAILED ${message}`);
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  const { only, quick, out } = parseArgs(process.argv.slice(2));
  const started = epochNow();
  const machine = machineFacts();
  // The orchestrator shares CPU 0 with the simulator: CPU 1 is the measured process's alone.
  execFileSync("taskset", ["-a", "-p", "-c", String(SIM_CPU), String(process.pid)], {
    stdio: "ignore",
  });
  const tmpDir = mkdtempSync(join(os.tmpdir(), "edgepod-bench-"));
  const simProc = spawnPinned(
    commandLine({ runtime: "bun", script: "sim_server" }, tmpDir),
    {
      cpu: SIM_CPU,
      label: "simulator",
      stdout: "pipe",
      stderr: join(tmpDir, "sim.err"),
    },
  );
  const cleanup = () => {
    killAll();
    rmSync(tmpDir, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      cleanup();
      process.exit(130);
    });
  }
  process.on("exit", () => killAll());
  const sections = new Map<string, string>();
  const results: BenchResults = {
    date: new Date(),
    seconds: 0,
    command: "npm run bench" +
      (process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""),
    machine,
    throughput: [],
    scaleUp: [],
    coldStart: [],
    pingGap: [],
    memory: [],
    failures: [],
    notes: [],
  };
  try {
    const first = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: simProc.child.stdout! });
      lines.once("line", resolve);
      simProc.exited.then((code) => reject(new Error(`The simulator exited (${code})`)));
    });
    const { port } = JSON.parse(first) as { port: number };
    const ctx: BenchContext = {
      sim: new SimClient(`http://127.0.0.1:${port}`),
      simPid: simProc.pid,
      tmpDir,
      log: (message) => console.log(`[${((epochNow() - started) / 1000).toFixed(0)} s] ${message}`),
    };
    const keep = simProc.pid;
    if (only.includes("throughput")) {
      for (const runtime of RUNTIMES) {
        for (const concurrency of [1, 8, 64]) {
          await step(results, ctx, {
            name: `throughput ${runtime} c=${concurrency}`,
            timeoutMs: 240_000,
            keep,
            body: async (ctx) => {
              // At c=8, a diagnostic variant without the heartbeat thread isolates its cost.
              const variants = concurrency === 8
                ? [...VARIANTS, "edgepod no heartbeat" as const]
                : VARIANTS;
              results.throughput.push(
                await runThroughput(ctx, {
                  runtime,
                  concurrency,
                  variants,
                  ...(quick ? { reps: 1, targetSeconds: 1 } : {}),
                }),
              );
            },
          });
        }
      }
    }
    if (only.includes("scale-up")) {
      for (const runtime of RUNTIMES) {
        await step(results, ctx, {
          name: `scale-up ${runtime}`,
          timeoutMs: 60_000,
          keep,
          body: async (ctx) => {
            try {
              results.scaleUp.push(await runScaleUp(ctx, runtime, quick ? { rounds: 3 } : {}));
            } catch (error) {
              results.scaleUp.push({
                runtime,
                reaction: [],
                raiseToTake: [],
                raiseToModifier: [],
                error: errorMessage(error),
              });
              throw error;
            }
          },
        });
      }
    }
    if (only.includes("cold-start")) {
      await step(results, ctx, {
        name: "cold start",
        timeoutMs: 240_000,
        keep,
        body: async (ctx) => {
          results.coldStart = await runColdStart(ctx, quick ? { runs: 3, warmups: 1 } : {});
          for (const row of results.coldStart) {
            if (row.error) {
              results.failures.push(
                `cold start ${row.runtime} ${row.node} ${row.subject}: ${row.error}`,
              );
            }
          }
        },
      });
    }
    if (only.includes("ping-gap")) {
      for (const runtime of RUNTIMES) {
        await step(results, ctx, {
          name: `ping gap ${runtime}`,
          timeoutMs: 60_000,
          keep,
          body: async (ctx) => {
            try {
              results.pingGap.push(await runPingGap(ctx, runtime));
            } catch (error) {
              results.pingGap.push({
                runtime,
                idleGaps: [],
                blockGaps: [],
                pingsDuringBlock: 0,
                listingJob: 0,
                blockMs: NaN,
                error: errorMessage(error),
              });
              throw error;
            }
          },
        });
      }
    }
    if (only.includes("memory")) {
      for (const runtime of RUNTIMES) {
        await step(results, ctx, {
          name: `memory ${runtime}`,
          timeoutMs: 180_000,
          keep,
          body: async (ctx) => {
            const result = await runMemory(ctx, runtime);
            results.memory.push(result);
            for (const row of result.rows) {
              if (row.error) {
                results.failures.push(`memory ${runtime} ${row.subject}: ${row.error}`);
              }
            }
          },
        });
      }
    }
    for (const [name, run] of Object.entries(ADD_ONS)) {
      if (!only.includes(name)) continue;
      await step(results, ctx, {
        name,
        timeoutMs: 600_000,
        keep,
        body: async (ctx) => void sections.set(name, await run(ctx, quick)),
      });
    }
    for (
      const failure of results.throughput.flatMap((t) =>
        t.rows.filter((r) => r.error).map((r) =>
          `throughput ${t.runtime} c=${t.concurrency} ${r.variant}: ${r.error}`
        )
      )
    ) results.failures.push(failure);
    results.notes = findings(results);
  } catch (error) {
    results.failures.push(`run: ${errorMessage(error)}`);
    console.error(error);
  } finally {
    await stopProcess(simProc, { signal: "SIGTERM" });
    cleanup();
  }
  results.seconds = (epochNow() - started) / 1000;
  // The main report is rewritten only when all of it ran; add-on sections are spliced in.
  const previous = existsSync(out) ? readFileSync(out, "utf8") : "";
  let report = MAIN.every((name) => only.includes(name)) ? renderReport(results) : previous;
  for (const [name, content] of [...readSections(previous), ...sections]) {
    report = spliceSection(report, name, content);
  }
  writeFileSync(out, report);
  console.log(
    `Wrote ${out} (${results.seconds.toFixed(0)} s, ${results.failures.length} failures)`,
  );
  return results.failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
