/**
 * The pool example's handler: one ledger line as each run starts, then a little simulated work.
 *
 * The ledger is how the pool test proves exactly-once (and counts at-least-once duplicates)
 * from the handler's own side, not from what the dispatcher or nginx believe happened: every run
 * appends `{"jobId", "pid", "runtime"}` and a newline to one file with a single `write(2)` on a
 * descriptor opened with `O_APPEND`, so lines from several worker processes never interleave.
 * The line is written when the run *starts*, so a run cut short (a worker killed mid-job) counts:
 * that is the side effect a real handler would have begun.
 *
 * An input `{"fail": true}` makes the run throw after its work: a FAILED result, which the
 * dispatcher must turn into a failed BullMQ job without a retry loop.
 *
 * @module
 */

import { openSync, writeSync } from "node:fs";
import process from "node:process";
import type { Job } from "../../adapters/auto.ts";

/** Options for {@linkcode createLedgerHandler}. */
export interface LedgerHandlerOptions {
  /** The ledger file; when absent no line is written. @default undefined */
  ledgerPath?: string;
  /** Simulated work per job, in milliseconds (a timer, not CPU). @default 1 */
  workMs?: number;
}

/** What a run of the ledger handler returns. */
export interface LedgerOutput {
  /** The job id the handler saw. */
  jobId: string;
  /** The worker process that ran it. */
  pid: number;
  /** `bun`, `deno` or `node`. */
  runtime: string;
}

/** The runtime this process is: `bun`, `deno` or `node`. */
export function runtimeName(): string {
  const globals = globalThis as { Bun?: unknown; Deno?: unknown };
  return globals.Bun ? "bun" : globals.Deno ? "deno" : "node";
}

/**
 * Builds the ledger handler.
 *
 * @param options Where the ledger goes and how long each job works.
 * @returns A handler for `start()`.
 * @throws {RangeError} When `workMs` is negative or not finite.
 *
 * @example One run, one line
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { createLedgerHandler } from "./ledger_handler.ts";
 * const path = `/tmp/ledger-${Date.now()}.jsonl`;
 * const handler = createLedgerHandler({ ledgerPath: path, workMs: 0 });
 * const output = await handler({ id: "j1", input: {} });
 * console.assert(output.jobId === "j1");
 * console.assert(JSON.parse(readFileSync(path, "utf8")).jobId === "j1");
 * ```
 */
export function createLedgerHandler(
  options: LedgerHandlerOptions = {},
): (job: Job) => Promise<LedgerOutput> {
  const workMs = options.workMs ?? 1;
  if (!Number.isFinite(workMs) || workMs < 0) {
    throw new RangeError(`'workMs' must be a finite number >= 0: received ${workMs}`);
  }
  const fd = options.ledgerPath === undefined ? undefined : openSync(options.ledgerPath, "a");
  const runtime = runtimeName();
  const pid = process.pid;
  return async (job) => {
    const line = { jobId: job.id, pid, runtime };
    if (fd !== undefined) writeSync(fd, JSON.stringify(line) + "\n");
    if (workMs > 0) await new Promise((resolve) => setTimeout(resolve, workMs));
    const input = job.input as { fail?: unknown } | null;
    if (input !== null && typeof input === "object" && input.fail === true) {
      throw new Error(`Job ${job.id} asked to fail`);
    }
    return line;
  };
}
