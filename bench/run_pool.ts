/**
 * Benchmark 7, the pool pipeline: jobs/s from BullMQ through the example dispatcher and nginx to
 * two edgepod push workers (Bun and Deno, a no-op handler), against the same dispatcher and the
 * same nginx config forwarding to two bare Hono routes (Bun and Deno) that answer like a
 * completed job: the ceiling the pipeline puts on any worker. Both variants run in one run,
 * alternating repetitions, on one Redis.
 *
 * Alone: `node --import tsx bench/run_pool.ts [--quick]` prints the report section.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  freePort,
  type NginxService,
  REPO,
  type Service,
  startNginx,
  startPushWorker,
  startRedis,
  startService,
  waitFor,
} from "../examples/bullmq-push/local_services.ts";
import { runBurst, upstreamStatuses } from "../examples/bullmq-push/run_burst.ts";
import { table } from "./_report_kit.ts";
import { fmt, fmtInt, median } from "./_stats.ts";

/** A variant: edgepod push workers, or the bare Hono ceiling. */
export type PoolVariant = "edgepod" | "bare Hono";

/** The processes whose CPU is reported. */
export const POOL_COMPONENTS = ["dispatcher", "redis", "nginx", "upstreams"] as const;
type Component = typeof POOL_COMPONENTS[number];

/** One variant's measurements. */
export interface PoolRow {
  /** The variant. */
  variant: PoolVariant;
  /** jobs/s of each repetition. */
  rates: number[];
  /** CPU µs per job of each component, per repetition. */
  cpuPerJob: Record<Component, number[]>;
  /** 429s nginx logged from the upstreams over all repetitions. */
  upstream429: number;
  /** Why it failed, if it did. */
  error?: string;
}

/** The benchmark's result. */
export interface PoolBenchResult {
  /** Jobs per repetition. */
  jobs: number;
  /** Repetitions per variant. */
  reps: number;
  /** The dispatcher's concurrency. */
  concurrency: number;
  /** Each push worker's concurrency (its wait queue is as long). */
  workerConcurrency: number;
  /** The rows, edgepod first. */
  rows: PoolRow[];
  /** When the run started (the section is refreshed alone, so it carries its own date). */
  measuredAt?: Date;
}

/** Options for {@linkcode runPool}. */
export interface PoolBenchOptions {
  /** Jobs per repetition. @default 10_000 */
  jobs?: number;
  /** Repetitions per variant. @default 3 */
  reps?: number;
  /** The dispatcher's concurrency. @default 64 */
  concurrency?: number;
  /** Each push worker's concurrency and wait queue. @default 64 */
  workerConcurrency?: number;
}

const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

function withChildren(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return [pid, ...children.split(/\s+/).filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

function bareServer(runtime: "bun" | "deno", port: number, logFile: string): Service {
  const script = join(REPO, "bench", "pool_bare_server.ts");
  const bin = join(REPO, "node_modules", ".bin", runtime);
  const argv = runtime === "bun"
    ? [bin, script, "--port", String(port)]
    : [bin, "run", "--allow-net=127.0.0.1", script, "--port", String(port)];
  return startService(`bare ${runtime}`, argv, { logFile });
}

interface Stack {
  variant: PoolVariant;
  upstreams: Service[];
  nginx: NginxService;
}

async function startStack(
  variant: PoolVariant,
  dir: string,
  workerConcurrency: number,
): Promise<Stack> {
  const ports = [await freePort(), await freePort()];
  const runtimes = ["bun", "deno"] as const;
  const slug = variant === "edgepod" ? "edgepod" : "bare";
  const upstreams: Service[] = [];
  for (const [i, runtime] of runtimes.entries()) {
    const logFile = join(dir, `${slug}-${runtime}.log`);
    if (variant === "edgepod") {
      upstreams.push(
        await startPushWorker({
          runtime,
          port: ports[i]!,
          logFile,
          env: {
            POOL_WORK_MS: "0",
            POOL_CONCURRENCY: String(workerConcurrency),
            EDGEPOD_PUSH_QUEUE: String(workerConcurrency),
            RUNPOD_LOG_LEVEL: "WARN",
          },
        }),
      );
    } else {
      const service = bareServer(runtime, ports[i]!, logFile);
      upstreams.push(service);
      await waitFor(service.name, async () => {
        const response = await fetch(`http://127.0.0.1:${ports[i]}/ping`);
        await response.body?.cancel();
        return response.ok;
      }, { service });
    }
  }
  const nginx = await startNginx(
    join(dir, `${slug}-nginx`),
    ports.map((port) => `127.0.0.1:${port}`),
  );
  return { variant, upstreams, nginx };
}

function affinity(): string {
  const out = execFileSync("taskset", ["-c", "-p", String(process.pid)], { encoding: "utf8" });
  return out.trim().split(": ").at(-1)!;
}

function setAffinity(cpus: string): void {
  execFileSync("taskset", ["-a", "-c", "-p", cpus, String(process.pid)], { stdio: "ignore" });
}

/**
 * Runs the benchmark.
 *
 * @param ctx A scratch directory and a progress log.
 * @param options Sizes.
 * @returns The measurements.
 */
export async function runPool(
  ctx: { tmpDir: string; log(message: string): void },
  options: PoolBenchOptions = {},
): Promise<PoolBenchResult> {
  const jobs = options.jobs ?? 10_000;
  const reps = options.reps ?? 3;
  const concurrency = options.concurrency ?? 64;
  const workerConcurrency = options.workerConcurrency ?? 64;
  const dir = join(ctx.tmpDir, "pool");
  mkdirSync(dir, { recursive: true });
  // bench/run.ts pins itself (and so its children) to one CPU; this pipeline is several
  // processes that share the machine, so it runs unpinned and restores the pinning after.
  const pinned = affinity();
  setAffinity(`0-${os.cpus().length - 1}`);
  const services: Service[] = [];
  const result: PoolBenchResult = {
    jobs,
    reps,
    concurrency,
    workerConcurrency,
    rows: [],
    measuredAt: new Date(),
  };
  try {
    const redis = await startRedis(join(dir, "redis"));
    services.push(redis);
    const stacks: Stack[] = [];
    for (const variant of ["edgepod", "bare Hono"] as const) {
      const stack = await startStack(variant, dir, workerConcurrency);
      services.push(...stack.upstreams, stack.nginx);
      stacks.push(stack);
      result.rows.push({
        variant,
        rates: [],
        cpuPerJob: { dispatcher: [], redis: [], nginx: [], upstreams: [] },
        upstream429: 0,
      });
    }
    let burst = 0;
    const once = async (stack: Stack, count: number) => {
      const pids: Record<Component, () => number[]> = {
        dispatcher: () => [],
        redis: () => [redis.child.pid!],
        nginx: () => withChildren(stack.nginx.child.pid!),
        upstreams: () => stack.upstreams.map((s) => s.child.pid!),
      };
      const sample = () => {
        const self = process.cpuUsage();
        return Object.fromEntries(POOL_COMPONENTS.map((c) => [
          c,
          c === "dispatcher"
            ? (self.user + self.system) / 1e6
            : pids[c]().reduce((sum, pid) => sum + cpuSeconds(pid), 0),
        ])) as Record<Component, number>;
      };
      const before = sample();
      const run = await runBurst({
        redisPort: redis.port,
        queueName: `bench${burst++}`,
        poolUrl: stack.nginx.url,
        jobs: count,
        concurrency,
      });
      const after = sample();
      if (run.counts.completed !== count) {
        throw new Error(`${stack.variant}: ${run.counts.completed} of ${count} jobs completed`);
      }
      return {
        rate: count / (run.elapsedMs / 1000),
        cpu: Object.fromEntries(
          POOL_COMPONENTS.map((c) => [c, ((after[c] - before[c]) * 1e6) / count]),
        ) as Record<Component, number>,
      };
    };
    for (const stack of stacks) {
      ctx.log(`pool ${stack.variant}: warm-up`);
      await once(stack, Math.min(2000, jobs));
    }
    for (let rep = 0; rep < reps; rep++) {
      for (const [i, stack] of stacks.entries()) {
        const { rate, cpu } = await once(stack, jobs);
        const row = result.rows[i]!;
        row.rates.push(rate);
        for (const c of POOL_COMPONENTS) row.cpuPerJob[c].push(cpu[c]);
        ctx.log(`pool ${stack.variant} rep ${rep + 1}/${reps}: ${fmtInt(rate)} jobs/s`);
      }
    }
    for (const [i, stack] of stacks.entries()) {
      result.rows[i]!.upstream429 = upstreamStatuses(stack.nginx.accessLog).get("429") ?? 0;
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    for (const row of result.rows) row.error ??= message;
    if (result.rows.length === 0) {
      result.rows.push({
        variant: "edgepod",
        rates: [],
        cpuPerJob: { dispatcher: [], redis: [], nginx: [], upstreams: [] },
        upstream429: 0,
        error: message,
      });
    }
  } finally {
    await Promise.all(
      services.reverse().map((s) => s.stop(s.name === "nginx" ? "SIGQUIT" : "SIGTERM")),
    );
    setAffinity(pinned);
  }
  return result;
}

const METHOD = "Method (`bench/run_pool.ts`): one Redis (`redis-server`, no persistence), the " +
  "example dispatcher (`examples/bullmq-push`, a BullMQ Worker at concurrency 64 in the " +
  "orchestrator's Node process, posting with `node:http` keep-alive) and nginx (one worker " +
  "process, the example's `nginx.conf.template`) in front of two upstreams on Bun and Deno. " +
  "edgepod: push workers (`examples/bullmq-push/handler.ts`, no-op handler, concurrency 64, wait " +
  "queue 64, log level WARN). Ceiling: `bench/pool_bare_server.ts`, a bare Hono `POST /jobs` " +
  "route that answers like a completed job, behind an nginx from the same template. After a " +
  "2,000-job warm-up of each, repetitions alternate; each enqueues all its jobs at once " +
  "(`addBulk`) and lasts until the dispatcher has settled the last one. Nothing is pinned (five " +
  "processes share both CPUs); CPU per job is from `/proc/<pid>/stat` (nginx: master and " +
  "workers; upstreams: both processes) and `process.cpuUsage()` for the dispatcher.";

/**
 * The report section: heading, method, table and what the numbers say.
 *
 * @param result The measurements.
 * @returns Markdown.
 *
 * @example
 * ```ts
 * import { renderPool } from "./run_pool.ts";
 * const md = renderPool({ jobs: 1, reps: 1, concurrency: 1, workerConcurrency: 1, rows: [] });
 * console.assert(md.startsWith("## A pool behind nginx"));
 * ```
 */
export function renderPool(result: PoolBenchResult): string {
  const ceiling = result.rows.find((r) => r.variant === "bare Hono" && !r.error);
  const edgepod = result.rows.find((r) => r.variant === "edgepod" && !r.error);
  const ceilingRate = ceiling ? median(ceiling.rates) : NaN;
  const rows = result.rows.map((row) => {
    if (row.error) return [row.variant, fmtInt(result.jobs), `failed: ${row.error}`, "", "", ""];
    const rate = median(row.rates);
    return [
      row.variant,
      fmtInt(result.jobs),
      `${fmtInt(rate)} (${fmtInt(Math.min(...row.rates))}–${fmtInt(Math.max(...row.rates))})`,
      row.variant === "bare Hono" ? "100 %" : `**${fmt((rate / ceilingRate) * 100, 0)} %**`,
      POOL_COMPONENTS.map((c) => fmtInt(median(row.cpuPerJob[c]))).join(" / "),
      fmtInt(row.upstream429),
    ];
  });
  const cpu = (row: PoolRow | undefined, c: Component) => row ? median(row.cpuPerJob[c]) : NaN;
  const findings = ceiling && edgepod
    ? [
      "",
      `The pipeline's ceiling is set by the dispatcher (${
        fmtInt(cpu(ceiling, "dispatcher"))
      } µs of CPU per job in BullMQ, ioredis and \`node:http\`) and Redis (${
        fmtInt(cpu(ceiling, "redis"))
      } µs per job in BullMQ's Lua scripts) more than by nginx (${
        fmtInt(cpu(ceiling, "nginx"))
      } µs). The edgepod push workers spend ${
        fmt(cpu(edgepod, "upstreams") / cpu(ceiling, "upstreams"), 1)
      } × the bare route's CPU per job (\`upstreams\`): that is the push intake's own cost, and ` +
      "the gap between the two rows.",
    ]
    : [];
  const when = result.measuredAt
    ? [
      `Measured on ${result.measuredAt.toISOString()} by \`npm run bench -- --only pool\` ` +
      `(${os.cpus().length} CPUs, load average ${fmt(os.loadavg()[0], 1)} at the end).`,
      "",
    ]
    : [];
  return [
    "## A pool behind nginx, fed by BullMQ",
    "",
    ...when,
    METHOD,
    "",
    table([
      "variant",
      "jobs/rep",
      "jobs/s, median of reps (min–max)",
      "/ ceiling",
      "CPU µs/job: dispatcher / redis / nginx / upstreams",
      "upstream 429s",
    ], rows),
    ...findings,
    "",
  ].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const tmpDir = mkdtempSync(join(os.tmpdir(), "edgepod-pool-bench-"));
  try {
    const quick = process.argv.includes("--quick");
    const result = await runPool(
      { tmpDir, log: (message) => console.error(message) },
      quick ? { jobs: 3000, reps: 1 } : {},
    );
    console.log(JSON.stringify(result));
    console.log(renderPool(result));
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}
