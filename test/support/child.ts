/**
 * Running a worker as a child process of the current runtime and watching its output.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { deferred } from "../../src/async/deferred.ts";
import { childCommand, type ChildCommandOptions } from "./runtime.ts";

/** Options for {@linkcode startChild}. */
export interface ChildOptions extends ChildCommandOptions {
  /** The working directory. */
  cwd?: string;
  /** Extra environment variables (merged over a copy without RUNPOD_* variables). */
  env?: Record<string, string>;
}

/** A running child. */
export interface Child {
  /** Everything written to stdout so far. */
  readonly stdout: string;
  /** Everything written to stderr so far. */
  readonly stderr: string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Resolves when a stdout line matches `pattern`. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Sends a signal. */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts `script` on the current runtime.
 *
 * @param script The script path.
 * @param args Its arguments.
 * @param options Working directory, environment, Deno permissions.
 * @returns The child.
 */
export function startChild(script: string, args: string[] = [], options: ChildOptions = {}): Child {
  const [exe, argv] = childCommand(script, args, options);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("RUNPOD_")) env[key] = value;
  }
  Object.assign(env, { NO_COLOR: "1" }, options.env);
  const proc = spawnProcess(exe, argv, options.cwd, env);
  let stdout = "";
  let stderr = "";
  const watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let partial = "";
  proc.onStdout((text: string) => {
    stdout += text;
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      for (let i = watchers.length - 1; i >= 0; i--) {
        if (watchers[i]!.pattern.test(line)) watchers.splice(i, 1)[0]!.resolve(line);
      }
    }
  });
  proc.onStderr((text: string) => void (stderr += text));
  const exited = deferred<number | string>();
  proc.exited.then(exited.resolve, exited.reject);
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited: exited.promise,
    waitForLine(pattern) {
      const seen = stdout.split("\n").find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      const found = deferred<string>();
      watchers.push({ pattern, resolve: found.resolve });
      return Promise.race([
        found.promise,
        exited.promise.then((code) => {
          throw new Error(
            `Child exited (${code}) before printing ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`,
          );
        }),
      ]);
    },
    kill: (signal = "SIGTERM") => proc.kill(signal),
  };
}

interface RawProcess {
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** The part of `Deno.Command` used here. */
interface DenoCommandApi {
  Command: new (exe: string, options: {
    args: string[];
    cwd?: string;
    env: Record<string, string>;
    clearEnv: boolean;
    stdin: "null";
    stdout: "piped";
    stderr: "piped";
  }) => {
    spawn(): {
      stdout: ReadableStream<Uint8Array>;
      stderr: ReadableStream<Uint8Array>;
      status: Promise<{ code: number; signal: string | null }>;
      kill(signal: string): void;
    };
  };
}

/**
 * Spawns with `node:child_process`, except on Deno, whose polyfill reports a child that trapped
 * SIGTERM and exited 0 as killed by SIGTERM (Deno 2.9.6); `Deno.Command` reports the truth.
 */
function spawnProcess(
  exe: string,
  argv: string[],
  cwd: string | undefined,
  env: Record<string, string>,
): RawProcess {
  const deno = (globalThis as { Deno?: DenoCommandApi }).Deno;
  if (deno) {
    const child = new deno.Command(exe, {
      args: argv,
      cwd,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = (stream: ReadableStream<Uint8Array>, listeners: ((text: string) => void)[]) =>
      stream.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>)
        .pipeTo(
          new WritableStream({ write: (text) => listeners.forEach((l) => l(text)) }),
        );
    const out: ((text: string) => void)[] = [];
    const err: ((text: string) => void)[] = [];
    const piped = Promise.all([pump(child.stdout, out), pump(child.stderr, err)]);
    return {
      onStdout: (l) => void out.push(l),
      onStderr: (l) => void err.push(l),
      exited: Promise.all([child.status, piped]).then(([s]) => s.signal ?? s.code),
      kill: (signal) => {
        try {
          child.kill(signal);
        } catch {
          // already exited
        }
      },
    };
  }
  const proc = spawn(exe, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  return {
    onStdout: (l) => void proc.stdout!.setEncoding("utf8").on("data", l),
    onStderr: (l) => void proc.stderr!.setEncoding("utf8").on("data", l),
    exited: new Promise((resolve, reject) => {
      proc.on("close", (code, signal) => resolve(code ?? signal ?? "unknown"));
      proc.on("error", reject);
    }),
    kill: (signal) => void proc.kill(signal),
  };
}

/** What {@linkcode runChild} returns. */
export interface ChildResult {
  /** The exit code (or signal name). */
  code: number | string;
  /** All of stdout. */
  stdout: string;
  /** All of stderr. */
  stderr: string;
}

/**
 * Runs `script` to completion on the current runtime.
 *
 * @param script The script path.
 * @param args Its arguments.
 * @param options Working directory, environment, Deno permissions.
 * @returns Its exit code and output.
 */
export async function runChild(
  script: string,
  args: string[] = [],
  options: ChildOptions = {},
): Promise<ChildResult> {
  const child = startChild(script, args, options);
  const code = await child.exited;
  return { code, stdout: child.stdout, stderr: child.stderr };
}

/**
 * The `Job result:` line's JSON from a local test run.
 *
 * @param stdout The child's stdout.
 * @returns The parsed result, or `undefined` when there is no such line.
 */
export function jobResult(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.split("\n").find((l) => l.startsWith("Job result: "));
  return line === undefined ? undefined : JSON.parse(line.slice("Job result: ".length));
}
