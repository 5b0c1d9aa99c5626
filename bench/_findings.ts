/**
 * Notes derived from the numbers of a run, so they stay true when the report is regenerated.
 * The diagnoses they state were established by profiling (see each note).
 *
 * @module
 */

import { runtimeLabel } from "./_context.ts";
import type { BenchResults } from "./_render_report.ts";
import { LEAK_JOBS, type MemoryRow } from "./run_memory.ts";
import { type RuntimeName, RUNTIMES } from "./_processes.ts";
import { fmt, fmtInt, median } from "./_stats.ts";
import type { ThroughputResult, ThroughputRow, Variant } from "./run_throughput.ts";

function pick(t: ThroughputResult, variant: Variant): ThroughputRow | undefined {
  const row = t.rows.find((r) => r.variant === variant);
  return row && row.error === undefined && row.rates.length > 0 ? row : undefined;
}

function rate(row: ThroughputRow | undefined): number {
  return row ? median(row.rates) : NaN;
}

function cpu(row: ThroughputRow | undefined): number {
  return row ? median(row.cpuPerJob) : NaN;
}

function memoryRow(
  results: BenchResults,
  runtime: RuntimeName,
  subject: MemoryRow["subject"],
): MemoryRow | undefined {
  return results.memory.find((m) => m.runtime === runtime)?.rows.find((r) =>
    r.subject === subject && r.error === undefined
  );
}

function nodeFetch(results: BenchResults): string | undefined {
  const rows = results.throughput.filter((t) => t.runtime === "node");
  const ratios = rows.map((t) => [t.concurrency, rate(pick(t, "edgepod")) / rate(pick(t, "bare"))])
    .filter(([, r]) => !Number.isNaN(r));
  if (ratios.length === 0) return undefined;
  const bareCpu = rows.map((t) => cpu(pick(t, "bare"))).filter((v) => !Number.isNaN(v));
  return "**Node: edgepod beats the bare loop, as allowed.** On Node edgepod's client is " +
    "`node:http` with keep-alive (`adapters/_node_http_client.ts`), while the bare loop uses " +
    "`fetch` (undici), which costs " +
    `${fmt(Math.min(...bareCpu), 0)}–${fmt(Math.max(...bareCpu), 0)} µs of CPU per job here ` +
    "and saturates the worker's core, so the Node ratios (" +
    ratios.map(([c, r]) => `c=${c}: ${fmt(r! * 100, 0)} %`).join(", ") +
    ") compare two HTTP clients more than two workers. On Bun and Deno both use `fetch`.";
}

function heartbeat(results: BenchResults): string | undefined {
  const parts: string[] = [];
  const heavy: string[] = [];
  for (const t of results.throughput) {
    const info = pick(t, "edgepod");
    const quiet = pick(t, "edgepod no heartbeat");
    const bare = pick(t, "bare");
    if (!info || !quiet) continue;
    const cost = cpu(info) - cpu(quiet);
    const share = cost / cpu(info);
    if (share > 0.2 && cost > 10) heavy.push(runtimeLabel(t.runtime));
    parts.push(
      `${runtimeLabel(t.runtime)} c=${t.concurrency}: ${fmt(cost, 0)} µs/job (${
        fmt(share * 100, 0)
      } % of edgepod's CPU per job); throughput ${fmt((rate(info) / rate(bare)) * 100, 0)} % ` +
        `of the bare loop with it, ${fmt((rate(quiet) / rate(bare)) * 100, 0)} % without`,
    );
  }
  if (parts.length === 0) return undefined;
  return "**The heartbeat's cost per job (diagnostic).** The heartbeat keeps the list of " +
    "running jobs that its ping thread reports, updated as jobs start and finish. Measured by " +
    `turning it off (diagnostic rows above): ${parts.join("; ")}. Each variant runs in its own ` +
    "process, and the CPU per job of two processes running the same code differs by up to about " +
    "±15 % here, so differences of that size (negative ones included) are noise. " +
    (heavy.length
      ? `It is a performance problem on ${heavy.join(", ")} (over 20 % of the CPU per job).`
      : "No runtime shows a cost above that noise.");
}

function logLevel(results: BenchResults): string | undefined {
  const parts: string[] = [];
  for (const runtime of RUNTIMES) {
    const gains = results.throughput.filter((t) => t.runtime === runtime).map((t) => ({
      c: t.concurrency,
      gain: rate(pick(t, "edgepod WARN")) / rate(pick(t, "edgepod")) - 1,
      saved: cpu(pick(t, "edgepod")) - cpu(pick(t, "edgepod WARN")),
    })).filter((g) => !Number.isNaN(g.gain));
    if (gains.length === 0) continue;
    parts.push(
      `${runtimeLabel(runtime)} ${
        gains.map((g) => `c=${g.c} ${g.gain >= 0 ? "+" : ""}${fmt(g.gain * 100, 0)} %`).join(", ")
      } (CPU saved: ${gains.map((g) => fmt(g.saved, 0)).join(", ")} µs/job)`,
    );
  }
  if (parts.length === 0) return undefined;
  return "**Log level.** With the default INFO level each job logs `Started.` and `Finished.`; " +
    "the logger buffers lines and, under load, writes them at most once per millisecond, so " +
    "what remains per job is formatting two lines. Throughput at WARN vs INFO: " +
    `${parts.join("; ")}. Repetition spread is several per cent, so small differences are ` +
    "noise; both are reported in the tables.";
}

function leak(results: BenchResults): string | undefined {
  const parts: string[] = [];
  let worst = 0;
  for (const runtime of RUNTIMES) {
    const perJob = (row: MemoryRow | undefined) =>
      row?.idle && row.afterMore
        ? ((row.afterMore.heap - row.idle.heap) * 2 ** 20) / LEAK_JOBS
        : NaN;
    const e = perJob(memoryRow(results, runtime, "edgepod c=1"));
    const b = perJob(memoryRow(results, runtime, "bare c=1"));
    if (Number.isNaN(e)) continue;
    // The bare loop's own movement, either way, is the measurement's noise: a negative figure
    // says the heap was larger at the first sample, not that the runtime gives memory back.
    worst = Math.max(worst, e - (Number.isNaN(b) ? 0 : Math.abs(b)));
    parts.push(`${runtimeLabel(runtime)} ${fmt(e, 0)} B/job (bare loop ${fmt(b, 0)})`);
  }
  if (parts.length === 0) return undefined;
  if (worst < 64) {
    return "**No per-job leak.** JS heap retained per completed job at concurrency 1 (after a " +
      `full GC, over ${fmtInt(LEAK_JOBS)} jobs): ${
        parts.join("; ")
      }: none above its bare loop's own movement, either way, ` +
      "by 64 B. " +
      "(This check guards against the per-job leak it found in an earlier take loop, which " +
      "raced each wait against a promise settled only at shutdown.)";
  }
  const perHour = (worst * 1000 * 3600) / 2 ** 30;
  return "**Bug: memory grows with every completed job.** After a full GC the JS heap grows " +
    `linearly with completed jobs at concurrency 1: ${parts.join("; ")} (over ${
      fmtInt(LEAK_JOBS)
    } jobs); at 1,000 short jobs/s that is about ${fmt(perHour, 1)} GiB per hour. A ` +
    "heap-snapshot diff (`node --heapsnapshot-signal`) shows what is retained; a known cause " +
    "is `Promise.race` against a promise that settles only at shutdown, which leaves one " +
    "reaction per call.";
}

function coldStart(results: BenchResults): string | undefined {
  const parts: string[] = [];
  for (const runtime of RUNTIMES) {
    const find = (subject: string) =>
      results.coldStart.find((c) =>
        c.runtime === runtime && c.node === "dist" && c.subject === subject &&
        c.error === undefined && c.samples.length > 0
      );
    const bare = find("bare");
    const e = find("edgepod");
    const q = find("edgepod no heartbeat");
    if (!bare || !e || !q) continue;
    const m = (r: typeof e) => median(r!.samples);
    parts.push(
      `${runtimeLabel(runtime)} +${fmt(m(e) - m(bare), 0)} ms over the bare loop, of which ${
        fmt(m(e) - m(q), 0)
      } ms go away without the heartbeat thread`,
    );
  }
  if (parts.length === 0) return undefined;
  return "**Cold start.** edgepod's start-up over the bare loop: " + parts.join("; ") +
    " (the heartbeat's thread is a second isolate, and shares the one CPU here); the rest is " +
    "module loading and `start()` itself. On Node, the bare loop's time includes loading undici " +
    "for its first `fetch`.";
}

function memory(results: BenchResults): string | undefined {
  const parts: string[] = [];
  const pools: string[] = [];
  for (const runtime of RUNTIMES) {
    const e = memoryRow(results, runtime, "edgepod")?.idle;
    const q = memoryRow(results, runtime, "edgepod no heartbeat")?.idle;
    if (e && q) parts.push(`${runtimeLabel(runtime)} ${fmt(e.gc - q.gc, 1)} MiB`);
    const one = memoryRow(results, runtime, "bare c=1")?.idle;
    const many = memoryRow(results, runtime, "bare c=1000")?.idle;
    if (one && many) pools.push(`${runtimeLabel(runtime)} +${fmt(many.gc - one.gc, 0)} MiB`);
  }
  if (parts.length === 0) return undefined;
  return "**Memory.** The heartbeat's resident cost (idle RSS with minus without it, after GC): " +
    `${parts.join(", ")}. Idle RSS at concurrency 1000 also carries the connections left open ` +
    "by up to 1,000 concurrent requests (result posts for edgepod); the bare loop's 1,000 " +
    `loops over its single loop show that cost: ${pools.join(", ") || "not measured"}.`;
}

function bottleneck(results: BenchResults): string | undefined {
  const rows = results.throughput.filter((t) => t.concurrency > 1).flatMap((t) =>
    t.rows.filter((r) => r.error === undefined && r.rates.length > 0).map((r) => ({
      label: `${runtimeLabel(t.runtime)} c=${t.concurrency} ${r.variant}`,
      worker: median(r.workerCpu) * 100,
      sim: median(r.simCpu) * 100,
    }))
  );
  if (rows.length === 0) return undefined;
  const busySim = rows.filter((r) => r.sim >= 85);
  const worker = rows.map((r) => r.worker);
  return "**What limits throughput.** At c = 8 and 64 the measured process uses " +
    `${fmt(Math.min(...worker), 0)}–${fmt(Math.max(...worker), 0)} % of its core, so it is ` +
    "CPU-bound and the ratios compare CPU cost per job" +
    (busySim.length === 0
      ? `; the simulator stays below ${fmt(Math.max(...rows.map((r) => r.sim)), 0)} % of its core.`
      : `; the simulator also nears its limit (≥ 85 % of its core) in ${
        busySim.map((r) => `${r.label} (${fmt(r.sim, 0)} %)`).join(", ")
      }, so those rates are capped by both sides.`) +
    " At c = 1 one request is in flight at a time and both sides wait on each other, so " +
    "per-request latency dominates.";
}

/**
 * The notes for the report's "Notes" section.
 *
 * @param results What was measured.
 * @returns One Markdown paragraph per note (notes without data are left out).
 *
 * @example
 * ```ts ignore
 * results.notes = findings(results);
 * ```
 */
export function findings(results: BenchResults): string[] {
  return [
    nodeFetch(results),
    heartbeat(results),
    leak(results),
    logLevel(results),
    bottleneck(results),
    coldStart(results),
    memory(results),
  ].filter((note): note is string => note !== undefined);
}
