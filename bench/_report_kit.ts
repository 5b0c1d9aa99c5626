/**
 * Shared pieces of the report: the results' shape, aims, marks and table helpers.
 *
 * @module
 */

import type { ColdStartRow } from "./run_cold_start.ts";
import type { MemoryResult } from "./run_memory.ts";
import type { PingGapResult } from "./run_ping_gap.ts";
import type { RuntimeName } from "./_processes.ts";
import type { ScaleUpResult } from "./run_scale_up.ts";
import { median } from "./_stats.ts";
import type { ThroughputResult, ThroughputRow, Variant } from "./run_throughput.ts";

/** Everything one run measured. */
export interface BenchResults {
  /** When the run started. */
  date: Date;
  /** How long it took, in s. */
  seconds: number;
  /** The command that produced it. */
  command: string;
  /** Machine facts, one per line. */
  machine: string[];
  /** Throughput (benchmarks 1 and 2). */
  throughput: ThroughputResult[];
  /** Benchmark 3. */
  scaleUp: ScaleUpResult[];
  /** Benchmark 4. */
  coldStart: ColdStartRow[];
  /** Benchmark 5. */
  pingGap: PingGapResult[];
  /** Benchmark 6. */
  memory: MemoryResult[];
  /** Failures, by benchmark. */
  failures: string[];
  /** Notes written by `run.ts` (findings). */
  notes: string[];
}

/** The cold-start aims, in ms. */
export const COLD_START_AIMS: Readonly<Record<RuntimeName, number>> = {
  bun: 80,
  deno: 120,
  node: 250,
};

/** The mark of a met aim. */
export const PASS = "✅ pass";
/** The mark of a missed aim. */
export const MISS = "❌ miss";
/**
 * The mark of an aim: met, missed, or not measured.
 *
 * @param ok Whether the aim was met; `undefined` when not measured.
 * @returns The mark.
 *
 * @example
 * ```ts
 * import { mark, PASS } from "./_report_kit.ts";
 * console.assert(mark(true) === PASS);
 * ```
 */
export const mark = (ok: boolean | undefined): string =>
  ok === undefined ? "⚠️ not measured (see Failures)" : ok ? PASS : MISS;
/**
 * An error message short enough for a table cell (the full one is under Failures).
 *
 * @param error The message.
 * @returns `FAILED: <message>`, cut at 120 characters.
 *
 * @example
 * ```ts
 * import { short } from "./_report_kit.ts";
 * console.assert(short("x") === "FAILED: x");
 * ```
 */
export const short = (error: string): string =>
  `FAILED: ${error.length > 120 ? `${error.slice(0, 120)}…` : error}`;

/**
 * A Markdown table.
 *
 * @param head The header cells.
 * @param rows The rows.
 * @returns The table's lines.
 *
 * @example
 * ```ts
 * import { table } from "./_report_kit.ts";
 * console.assert(table(["a"], [["1"]]) === "| a |\n| --- |\n| 1 |");
 * ```
 */
export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * A variant's row of a throughput result, unless it failed.
 *
 * @param result The result at one runtime and concurrency.
 * @param variant The variant.
 * @returns The row, or `undefined`.
 *
 * @example
 * ```ts ignore
 * const bare = row(result, "bare");
 * ```
 */
export function row(result: ThroughputResult, variant: Variant): ThroughputRow | undefined {
  const found = result.rows.find((r) => r.variant === variant);
  return found?.error === undefined ? found : undefined;
}

/**
 * The median jobs/s of a row.
 *
 * @param r The row.
 * @returns Jobs/s, or `NaN` without a row.
 *
 * @example
 * ```ts
 * import { rate } from "./_report_kit.ts";
 * console.assert(Number.isNaN(rate(undefined)));
 * ```
 */
export function rate(r: ThroughputRow | undefined): number {
  return r ? median(r.rates) : NaN;
}

/**
 * The edgepod / bare loop throughput ratios of a runtime (default log level), per concurrency.
 *
 * @param results What was measured.
 * @param runtime The runtime.
 * @returns One ratio per measured concurrency.
 *
 * @example
 * ```ts ignore
 * const all = ratios(results, "bun");
 * ```
 */
export function ratios(
  results: BenchResults,
  runtime: RuntimeName,
): { c: number; ratio: number }[] {
  return results.throughput.filter((t) => t.runtime === runtime).map((t) => ({
    c: t.concurrency,
    ratio: rate(row(t, "edgepod")) / rate(row(t, "bare")),
  })).filter((r) => !Number.isNaN(r.ratio));
}

/**
 * The idle gaps of a variant at concurrency 1.
 *
 * @param results What was measured.
 * @param runtime The runtime.
 * @param variant The variant.
 * @returns The gaps in ms (empty when not measured).
 *
 * @example
 * ```ts ignore
 * const gaps = gapsOf(results, "deno", "edgepod");
 * ```
 */
export function gapsOf(results: BenchResults, runtime: RuntimeName, variant: Variant): number[] {
  const t = results.throughput.find((t) => t.runtime === runtime && t.concurrency === 1);
  return (t && row(t, variant)?.gaps) ?? [];
}
