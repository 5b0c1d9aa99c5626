/**
 * The edgepod worker under test: `start()` with a handler and concurrency chosen by environment
 * variables, everything else as users get it (default log level, heartbeat, job-stop polling).
 *
 * - `BENCH_CONCURRENCY`: a constant concurrency modifier returning this number (unset: the
 *   default limit of 1, no modifier).
 * - `BENCH_CONCURRENCY_FILE`: a modifier re-reading the limit from this file on every call; the
 *   first time it returns a new value, it writes `limit <n> <epoch ms>` to stderr.
 * - `BENCH_POLL_MS`: `concurrencyPollMs`.
 *
 * The handler returns `job.input`; an input `{ "hold": true }` waits for `SIGUSR2` first, an
 * input `{ "blockMs": n }` blocks the event loop for `n` ms (a synchronous busy loop). `SIGURG`
 * runs a full garbage collection where the runtime exposes one (for memory measurements).
 *
 * Run: `bun bench/worker.ts`, `deno run -A bench/worker.ts`, `node dist/bench/worker.js`.
 *
 * @module
 */

import { readFileSync, writeSync } from "node:fs";
import process from "node:process";
import { type Job, start, type StartOptions } from "../adapters/auto.ts";
import { installGcSignal, installReleaseSignal, released, watchParent } from "./_release.ts";

interface BenchInput {
  hold?: boolean;
  blockMs?: number;
}

function handler(job: Job): unknown {
  const input = job.input as BenchInput | null;
  if (input !== null && typeof input === "object") {
    if (input.hold) return released().then(() => input);
    if (input.blockMs) {
      const end = performance.now() + input.blockMs;
      while (performance.now() < end) {
        // Blocking the event loop on purpose.
      }
    }
  }
  return input;
}

const options: StartOptions = { handler };
const constant = process.env.BENCH_CONCURRENCY;
const file = process.env.BENCH_CONCURRENCY_FILE;
if (file) {
  let last = 0;
  options.concurrencyModifier = () => {
    const value = Number(readFileSync(file, "utf8"));
    if (value !== last) {
      last = value;
      writeSync(2, `limit ${value} ${performance.timeOrigin + performance.now()}\n`);
    }
    return value;
  };
} else if (constant) {
  const value = Number(constant);
  options.concurrencyModifier = () => value;
}
if (process.env.BENCH_POLL_MS) options.concurrencyPollMs = Number(process.env.BENCH_POLL_MS);

installReleaseSignal();
installGcSignal();
watchParent();
start(options);
