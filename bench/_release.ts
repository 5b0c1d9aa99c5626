/**
 * The release switch shared by the held jobs of one benchmark process: every handler (or bare
 * loop) waiting on {@linkcode released} continues when the process receives `SIGUSR2`. One signal
 * releases everything waiting at that moment; later waiters wait for the next signal.
 *
 * @module
 */

import { writeSync } from "node:fs";
import process from "node:process";
import { deferred } from "../src/async/deferred.ts";

interface DenoSignals {
  addSignalListener(signal: string, listener: () => void): void;
}

let gate = deferred<void>();

/**
 * A promise that resolves at the next `SIGUSR2`.
 *
 * @returns The promise.
 *
 * @example
 * ```ts ignore
 * await released(); // until `kill -USR2 <pid>`
 * ```
 */
export function released(): Promise<void> {
  return gate.promise;
}

/**
 * Installs the `SIGUSR2` listener (on Deno through `Deno.addSignalListener`).
 *
 * @example
 * ```ts ignore
 * installReleaseSignal();
 * ```
 */
export function installReleaseSignal(): void {
  const release = () => {
    const current = gate;
    gate = deferred<void>();
    current.resolve();
  };
  const deno = (globalThis as { Deno?: DenoSignals }).Deno;
  if (deno) deno.addSignalListener("SIGUSR2", release);
  else process.on("SIGUSR2", release);
}

/**
 * Installs a `SIGURG` listener that runs a full garbage collection when the runtime exposes one
 * (`Bun.gc`, or `gc` under `node --expose-gc` / `deno run --v8-flags=--expose-gc`), so memory is
 * measured without the garbage of earlier work, then writes `heap <heapUsed bytes>` to stderr.
 *
 * @example
 * ```ts ignore
 * installGcSignal();
 * ```
 */
export function installGcSignal(): void {
  const scope = globalThis as {
    Bun?: { gc(force: boolean): void };
    gc?: () => void;
    Deno?: DenoSignals;
  };
  const collect = () => {
    if (scope.Bun) scope.Bun.gc(true);
    else scope.gc?.();
    writeSync(2, `heap ${process.memoryUsage().heapUsed}\n`);
  };
  if (scope.Deno) scope.Deno.addSignalListener("SIGURG", collect);
  else process.on("SIGURG", collect);
}

/**
 * Exits the process when its parent goes away (the orchestrator was killed), so a benchmark
 * process never outlives the run. Checks once a second.
 *
 * @returns Stops watching.
 *
 * @example
 * ```ts ignore
 * const stop = watchParent();
 * ```
 */
export function watchParent(): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.exit(3);
  }, 1000);
  return () => clearInterval(timer);
}
