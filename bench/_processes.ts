/**
 * Starting the benchmark's processes pinned to a CPU (`taskset -c`), with their output in files,
 * and reading their CPU time and resident memory from `/proc`. Every process started here is
 * tracked, so {@linkcode killAll} can leave no orphan behind.
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { epochNow } from "./_stats.ts";

/** A runtime under test. */
export type RuntimeName = "bun" | "deno" | "node";

/** The runtimes, in report order. */
export const RUNTIMES: readonly RuntimeName[] = ["bun", "deno", "node"];

/** The repository root. */
export const REPO: string = fileURLToPath(new URL("..", import.meta.url));

/** The executables, from `node_modules/.bin` (nothing global). */
export const EXECUTABLES: Readonly<Record<RuntimeName, string>> = {
  bun: join(REPO, "node_modules/.bin/bun"),
  deno: join(REPO, "node_modules/.bin/deno"),
  node: process.execPath,
};

/** A benchmark script and how it is run. */
export interface Launch {
  /** The runtime. */
  runtime: RuntimeName;
  /** The script in `bench/`. */
  script: "worker" | "bare_loop" | "sim_server" | "push_target";
  /** On Node: compiled `dist/` JavaScript, or the TypeScript source through tsx. @default "dist" */
  node?: "dist" | "tsx";
  /** Expose V8's `gc()` (`--expose-gc`; Bun always has `Bun.gc`). @default false */
  exposeGc?: boolean;
}

/**
 * The command line of a benchmark script. Deno gets precise permissions: environment, loopback
 * network and reading the repository (thread modules) and `readDir` (the limit file).
 *
 * @param launch The script and runtime.
 * @param readDir A directory the script may read besides the repository.
 * @returns The argv, executable first.
 *
 * @example
 * ```ts
 * import { commandLine } from "./_processes.ts";
 * console.assert(commandLine({ runtime: "node", script: "worker" }, "/tmp")[1]!.endsWith("dist/bench/worker.js"));
 * ```
 */
export function commandLine(launch: Launch, readDir: string): string[] {
  const source = join(REPO, "bench", `${launch.script}.ts`);
  switch (launch.runtime) {
    case "bun":
      return [EXECUTABLES.bun, source];
    case "deno":
      return [
        EXECUTABLES.deno,
        "run",
        "--quiet",
        ...(launch.exposeGc ? ["--v8-flags=--expose-gc"] : []),
        "--allow-env",
        "--allow-net=127.0.0.1",
        `--allow-read=${REPO},${readDir}`,
        source,
      ];
    case "node": {
      const flags = launch.exposeGc ? ["--expose-gc"] : [];
      return launch.node === "tsx"
        ? [EXECUTABLES.node, ...flags, "--import", "tsx", source]
        : [EXECUTABLES.node, ...flags, join(REPO, "dist", "bench", `${launch.script}.js`)];
    }
  }
}

/** Options for {@linkcode spawnPinned}. */
export interface SpawnOptions {
  /** The CPU to pin the process (all its threads) to. */
  cpu: number;
  /** Environment variables added to the cleaned environment. @default {} */
  env?: Record<string, string>;
  /** A name for messages. */
  label: string;
  /** Where stdout goes: a file path, or `"pipe"` to read it. */
  stdout: string | "pipe";
  /** The file stderr goes to. */
  stderr: string;
}

/** A process started by {@linkcode spawnPinned}. */
export interface BenchProcess {
  /** Its name in messages. */
  readonly label: string;
  /** Its pid (the runtime's own: `taskset` execs it). */
  readonly pid: number;
  /** `performance.timeOrigin + performance.now()` just before the spawn. */
  readonly spawnedAt: number;
  /** The underlying child. */
  readonly child: ChildProcess;
  /** Resolves with the exit code or signal name. */
  readonly exited: Promise<number | string>;
  /** Whether it is still running. */
  readonly running: boolean;
  /** The stderr file. */
  readonly stderrPath: string;
  /** The stdout file (empty when stdout is a pipe). */
  readonly stdoutPath: string;
}

const live = new Set<BenchProcess>();

/**
 * Starts `argv` pinned to a CPU with a clean environment (no `RUNPOD_*`, `BENCH_*`, `BARE_*` or
 * `NODE_OPTIONS` inherited; `NO_COLOR=1`, `DENO_NO_UPDATE_CHECK=1`), stdin closed and output to
 * files.
 *
 * @param argv The command, executable first.
 * @param options CPU, environment, label and output files.
 * @returns The process.
 *
 * @example
 * ```ts ignore
 * const proc = spawnPinned(["node", "x.js"], { cpu: 1, label: "x", stdout: "/tmp/o", stderr: "/tmp/e" });
 * ```
 */
export function spawnPinned(argv: string[], options: SpawnOptions): BenchProcess {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(RUNPOD_|BENCH_|BARE_|NODE_OPTIONS$)/.test(key)) continue;
    env[key] = value;
  }
  Object.assign(env, { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" }, options.env);
  const out = options.stdout === "pipe" ? "pipe" : openSync(options.stdout, "w");
  const err = openSync(options.stderr, "w");
  const spawnedAt = epochNow();
  const child = spawn("taskset", ["-c", String(options.cpu), ...argv], {
    cwd: REPO,
    env,
    stdio: ["ignore", out, err],
  });
  if (typeof out === "number") closeSync(out);
  closeSync(err);
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => {
      running = false;
      live.delete(proc);
      resolve(code ?? signal ?? "unknown");
    });
    child.on("error", (error) => {
      running = false;
      live.delete(proc);
      resolve(`spawn error: ${error.message}`);
    });
  });
  const proc: BenchProcess = {
    label: options.label,
    pid: child.pid ?? -1,
    spawnedAt,
    child,
    exited,
    get running() {
      return running;
    },
    stderrPath: options.stderr,
    stdoutPath: options.stdout === "pipe" ? "" : options.stdout,
  };
  live.add(proc);
  return proc;
}

/** Options for {@linkcode stopProcess}. */
export interface StopOptions {
  /** The signal. @default "SIGKILL" */
  signal?: NodeJS.Signals;
  /** How long a gentler signal is given before `SIGKILL`, in ms. @default 3000 */
  graceMs?: number;
}

/**
 * Stops a process (by its pid only) and waits for it to exit; a process that ignores a gentler
 * signal gets `SIGKILL` after `graceMs`.
 *
 * @param proc The process.
 * @param options The signal and the grace time.
 * @returns Its exit code or signal name.
 *
 * @example
 * ```ts ignore
 * await stopProcess(proc, { signal: "SIGTERM" });
 * ```
 */
export async function stopProcess(
  proc: BenchProcess,
  options: StopOptions = {},
): Promise<number | string> {
  const { signal = "SIGKILL", graceMs = 3000 } = options;
  const send = (s: NodeJS.Signals) => {
    if (!proc.running) return;
    try {
      process.kill(proc.pid, s);
    } catch {
      // Already gone.
    }
  };
  send(signal);
  const timer = signal === "SIGKILL" ? undefined : setTimeout(() => send("SIGKILL"), graceMs);
  try {
    return await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends `SIGKILL` to every process started here that is still running (each by its own pid).
 *
 * @param keep A pid to spare (the simulator, when only a benchmark's process must go).
 *
 * @example
 * ```ts ignore
 * process.on("exit", () => killAll());
 * ```
 */
export function killAll(keep?: number): void {
  for (const proc of live) {
    if (proc.pid === keep) continue;
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/**
 * Rejects when `proc` exits before `promise` settles, naming the exit code and stderr's tail.
 *
 * @typeParam T The promise's value.
 * @param proc The process the promise depends on.
 * @param promise The wait.
 * @returns The promise's value.
 * @throws {Error} When the process exits first.
 *
 * @example
 * ```ts ignore
 * await unlessExited(worker, sim.wait("held", 1));
 * ```
 */
export function unlessExited<T>(proc: BenchProcess, promise: Promise<T>): Promise<T> {
  const died = proc.exited.then((code) => {
    throw new Error(`${proc.label} exited (${code}) early: ${tail(proc.stderrPath)}`);
  });
  died.catch(() => {});
  return Promise.race([promise, died]);
}

/**
 * The last characters of a file, for error messages.
 *
 * @param path The file.
 * @param chars How many. @default 400
 * @returns The text (empty if unreadable).
 *
 * @example
 * ```ts
 * import { tail } from "./_processes.ts";
 * console.assert(tail("/nonexistent") === "");
 * ```
 */
export function tail(path: string, chars = 400): string {
  try {
    return readFileSync(path, "utf8").slice(-chars).trim();
  } catch {
    return "";
  }
}

let ticksPerSecond: number | undefined;

/**
 * CPU time used so far by a process, all threads, user plus system (`/proc/<pid>/stat`).
 *
 * @param pid The process.
 * @returns Seconds, or `NaN` when unreadable.
 *
 * @example
 * ```ts
 * import process from "node:process";
 * import { cpuSeconds } from "./_processes.ts";
 * console.assert(cpuSeconds(process.pid) >= 0);
 * ```
 */
export function cpuSeconds(pid: number): number {
  ticksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return NaN;
  }
}

/**
 * Resident memory of a process (`VmRSS` in `/proc/<pid>/status`).
 *
 * @param pid The process.
 * @returns MiB, or `NaN` when unreadable.
 *
 * @example
 * ```ts
 * import process from "node:process";
 * import { residentMiB } from "./_processes.ts";
 * console.assert(residentMiB(process.pid) > 0);
 * ```
 */
export function residentMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kib === undefined ? NaN : Number(kib) / 1024;
  } catch {
    return NaN;
  }
}
