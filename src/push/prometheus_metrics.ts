/**
 * The worker's counters in Prometheus' text exposition format, names prefixed `edgepod_`.
 *
 * @module
 */

import type { JobWorker } from "../worker/job_worker.ts";
import { DURATION_BUCKETS_S } from "../worker/worker_stats.ts";

/** Every reason an intake refuses a request, as `edgepod_rejected_total{reason}` counts it. */
export const REJECT_REASONS = [
  "unauthorized",
  "auth_unavailable",
  "too_large",
  "bad_request",
  "invalid_input",
  "busy",
  "draining",
  "not_found",
] as const;

/** Why an intake refused a request, as counted by `edgepod_rejected_total{reason}`. */
export type RejectReason = typeof REJECT_REASONS[number];

/**
 * Renders the worker's gauges and counters, plus the intake's rejections by reason.
 *
 * @param worker The worker.
 * @param rejected Rejections so far, by reason.
 * @returns The exposition text (`text/plain; version=0.0.4`).
 *
 * @example
 * ```ts ignore
 * const text = prometheusMetrics(worker, { busy: 3 });
 * console.assert(text.includes('edgepod_rejected_total{reason="busy"} 3'));
 * ```
 */
export function prometheusMetrics(
  worker: JobWorker,
  rejected: Partial<Record<RejectReason, number>>,
): string {
  const { gate, stats } = worker;
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
    lines.push(`# HELP edgepod_${name} ${help}`, `# TYPE edgepod_${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`edgepod_${name}${labels} ${format(value)}`);
  };
  metric("concurrency_limit", "gauge", "The concurrency limit in force.", [["", gate.limit]]);
  metric("jobs_running", "gauge", "Jobs holding a slot.", [["", gate.running]]);
  metric("jobs_waiting", "gauge", "Jobs waiting for a slot.", [["", gate.waiting]]);
  metric(
    "stopped_handlers_running",
    "gauge",
    "Handlers still running after their job was stopped (they ignore ctx.signal).",
    [["", stats.stoppedRunning]],
  );
  metric("jobs_accepted_total", "counter", "Jobs submitted to the worker.", [["", stats.accepted]]);
  metric("jobs_completed_total", "counter", "Jobs that ended COMPLETED.", [[
    "",
    stats.ended.COMPLETED,
  ]]);
  metric("jobs_failed_total", "counter", "Jobs that ended FAILED or TIMED_OUT.", [[
    "",
    stats.ended.FAILED + stats.ended.TIMED_OUT,
  ]]);
  metric("jobs_ended_total", "counter", "Jobs ended, by terminal status.", [
    ...Object.entries(stats.ended).map(([status, n]) =>
      [`{status="${status}"}`, n] as [string, number]
    ),
  ]);
  metric(
    "rejected_total",
    "counter",
    "Requests refused, by reason.",
    // Every reason from the start, at 0: a series that first appears at 1 reads as no increase.
    REJECT_REASONS.map((reason) => [`{reason="${reason}"}`, rejected[reason] ?? 0]),
  );
  metric(
    "job_duration_seconds",
    "histogram",
    "Execution time of ended jobs that ran (not those dropped or cancelled in the queue).",
    [
      ...DURATION_BUCKETS_S.map((le, i) =>
        [`_bucket{le="${le}"}`, stats.durationBuckets[i]!] as [string, number]
      ),
      [`_bucket{le="+Inf"}`, stats.durationCount],
      ["_sum", stats.durationSum],
      ["_count", stats.durationCount],
    ],
  );
  return lines.join("\n") + "\n";
}

function format(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : "-Inf";
}
