/**
 * The report's throughput and idle-gap tables (benchmarks 1 and 2).
 *
 * @module
 */

import { runtimeLabel } from "./_context.ts";
import { RUNTIMES } from "./_processes.ts";
import { type BenchResults, gapsOf, rate, row, table } from "./_report_kit.ts";
import { fmt, fmtInt, median, percentile } from "./_stats.ts";
import type { ThroughputRow } from "./run_throughput.ts";

/**
 * The throughputSection part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = throughputSection(results);
 * ```
 */
export function throughputSection(results: BenchResults): string {
  const rows = results.throughput.map((t) => {
    const bare = row(t, "bare");
    const info = row(t, "edgepod");
    const warn = row(t, "edgepod WARN");
    const ratio = (r: ThroughputRow | undefined) => fmt((rate(r) / rate(bare)) * 100, 0) + " %";
    const cpu = (r: ThroughputRow | undefined) => r ? fmt(median(r.cpuPerJob), 0) : "n/a";
    const pct = (r: ThroughputRow | undefined, pick: (r: ThroughputRow) => number[]) =>
      r ? fmt(median(pick(r)) * 100, 0) : "n/a";
    const spread = (r: ThroughputRow | undefined) =>
      r
        ? `${fmtInt(rate(r))} (${fmtInt(Math.min(...r.rates))}–${fmtInt(Math.max(...r.rates))})`
        : "failed";
    return [
      runtimeLabel(t.runtime),
      String(t.concurrency),
      fmtInt(t.jobs),
      spread(bare),
      spread(info),
      `**${ratio(info)}**`,
      spread(warn),
      ratio(warn),
      `${cpu(bare)} / ${cpu(info)} / ${cpu(warn)}`,
      `${pct(bare, (r) => r.workerCpu)} / ${pct(info, (r) => r.workerCpu)} / ${
        pct(warn, (r) => r.workerCpu)
      }`,
      `${pct(bare, (r) => r.simCpu)} / ${pct(info, (r) => r.simCpu)} / ${
        pct(warn, (r) => r.simCpu)
      }`,
      info ? fmt(median(info.jobsPerTake), 2) : "n/a",
    ];
  });
  const ledgers = results.throughput.flatMap((t) =>
    t.rows.filter((r) => r.ledgerOk === false).map((r) =>
      `${t.runtime} c=${t.concurrency} ${r.variant}`
    )
  );
  const errors = results.throughput.flatMap((t) =>
    t.rows.filter((r) => r.error !== undefined).map((r) =>
      `- ${t.runtime} c=${t.concurrency} ${r.variant}: FAILED: ${r.error}`
    )
  );
  const reps = results.throughput[0]?.reps ?? 0;
  return [
    table([
      "runtime",
      "c",
      "jobs/rep",
      "bare jobs/s (min–max)",
      "edgepod jobs/s (min–max)",
      "edgepod / bare",
      "edgepod WARN jobs/s",
      "WARN / bare",
      "worker CPU µs/job (bare / edgepod / WARN)",
      "worker CPU % (b / e / W)",
      "simulator CPU % (b / e / W)",
      "edgepod jobs per take",
    ], rows),
    "",
    `Jobs/s are the median of ${reps} repetitions (min–max in brackets). "edgepod" runs at the ` +
    'default log level (INFO: two lines per job); "WARN" sets `RUNPOD_LOG_LEVEL=WARN`. ' +
    "CPU columns are medians over the repetitions; 100 % is one full core. " +
    (ledgers.length === 0
      ? "Every run's ledger was clean (no job lost, duplicated or unknown)."
      : `Ledger problems: ${ledgers.join(", ")}.`),
    ...(errors.length ? ["", ...errors] : []),
  ].join("\n");
}

/**
 * The heartbeatDiagnostic part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = heartbeatDiagnostic(results);
 * ```
 */
export function heartbeatDiagnostic(results: BenchResults): string {
  const rows = results.throughput.filter((t) =>
    t.rows.some((r) => r.variant === "edgepod no heartbeat")
  )
    .map((t) => {
      const bare = row(t, "bare");
      const info = row(t, "edgepod");
      const quiet = row(t, "edgepod no heartbeat");
      const cpu = (r: ThroughputRow | undefined) => r ? median(r.cpuPerJob) : NaN;
      return [
        runtimeLabel(t.runtime),
        String(t.concurrency),
        fmtInt(rate(bare)),
        fmtInt(rate(info)),
        quiet ? fmtInt(rate(quiet)) : "failed",
        `${fmt((rate(info) / rate(bare)) * 100, 0)} %`,
        `${fmt((rate(quiet) / rate(bare)) * 100, 0)} %`,
        fmt(cpu(info), 0),
        fmt(cpu(quiet), 0),
        fmt(cpu(info) - cpu(quiet), 0),
      ];
    });
  if (rows.length === 0) return "";
  return [
    "Diagnostic, same run: edgepod without its heartbeat (`RUNPOD_WEBHOOK_PING` unset: no ping " +
    "thread and no upkeep of the job list it reports). Same job count and repetitions as above.",
    "",
    table([
      "runtime",
      "c",
      "bare jobs/s",
      "edgepod jobs/s",
      "edgepod, no heartbeat jobs/s",
      "edgepod / bare",
      "no heartbeat / bare",
      "edgepod CPU µs/job",
      "no heartbeat CPU µs/job",
      "heartbeat cost µs/job",
    ], rows),
  ].join("\n");
}

/**
 * The idleGapSection part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = idleGapSection(results);
 * ```
 */
export function idleGapSection(results: BenchResults): string {
  const rows: string[][] = [];
  for (const runtime of RUNTIMES) {
    const bare = gapsOf(results, runtime, "bare");
    for (const variant of ["edgepod", "edgepod WARN"] as const) {
      const g = gapsOf(results, runtime, variant);
      rows.push([
        runtimeLabel(runtime),
        variant,
        fmtInt(g.length),
        fmt(median(g), 3),
        fmt(percentile(g, 99), 3),
        fmt(median(bare), 3),
        fmt(percentile(bare, 99), 3),
      ]);
    }
  }
  return table([
    "runtime",
    "worker",
    "jobs",
    "median ms",
    "p99 ms",
    "bare loop median ms",
    "bare loop p99 ms",
  ], rows);
}
