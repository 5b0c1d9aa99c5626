/**
 * The report's aims table and the tables of benchmarks 3 to 6.
 *
 * @module
 */

import { runtimeLabel } from "./_context.ts";
import { IN_FLIGHT, LEAK_JOBS, type RssSample } from "./run_memory.ts";
import { type RuntimeName, RUNTIMES } from "./_processes.ts";
import {
  type BenchResults,
  COLD_START_AIMS,
  gapsOf,
  mark,
  ratios,
  short,
  table,
} from "./_report_kit.ts";
import { fmt, fmtInt, median } from "./_stats.ts";

/**
 * The aims part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = aims(results);
 * ```
 */
export function aims(results: BenchResults): string {
  const cells = (f: (runtime: RuntimeName) => [boolean | undefined, string]) =>
    RUNTIMES.map((runtime) => {
      const [ok, value] = f(runtime);
      return ok === undefined ? mark(ok) : `${mark(ok)} (${value})`;
    });
  const rows: string[][] = [
    [
      "1. Throughput ≥ 80 % of the bare loop at every concurrency (default log level)",
      ...cells((rt) => {
        const all = ratios(results, rt);
        if (all.length === 0) return [undefined, "n/a"];
        return [
          all.every((r) => r.ratio >= 0.8),
          all.map((r) => `c=${r.c}: ${fmt(r.ratio * 100, 1)} %`).join(", "),
        ];
      }),
    ],
    [
      "2. Idle gap < 1 ms (median, concurrency 1)",
      ...cells((rt) => {
        const g = gapsOf(results, rt, "edgepod");
        return [g.length ? median(g) < 1 : undefined, `${fmt(median(g), 3)} ms`];
      }),
    ],
    [
      "3. New takes within 5 ms of the raised limit (slowest of all rounds)",
      ...cells((rt) => {
        const s = results.scaleUp.find((s) => s.runtime === rt && s.error === undefined);
        const max = s && s.reaction.length ? Math.max(...s.reaction) : undefined;
        return [max === undefined ? undefined : max < 5, `max ${fmt(max, 2)} ms`];
      }),
    ],
    [
      "4. Cold start (median): Bun < 80 ms, Deno < 120 ms, Node (dist) < 250 ms",
      ...cells((rt) => {
        const r = results.coldStart.find((c) =>
          c.runtime === rt && c.node === "dist" && c.subject === "edgepod" && c.error === undefined
        );
        const m = r ? median(r.samples) : undefined;
        return [m === undefined ? undefined : m < COLD_START_AIMS[rt], `${fmt(m, 0)} ms`];
      }),
    ],
    [
      "5. Largest ping gap < 1.5 s during a 5 s blocking handler",
      ...cells((rt) => {
        const p = results.pingGap.find((p) => p.runtime === rt && p.error === undefined);
        const max = p && p.blockGaps.length ? Math.max(...p.blockGaps) : undefined;
        return [max === undefined ? undefined : max < 1500, `${fmt(max, 0)} ms`];
      }),
    ],
  ];
  return table(["Aim", ...RUNTIMES], rows);
}

/**
 * The scaleUpSection part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = scaleUpSection(results);
 * ```
 */
export function scaleUpSection(results: BenchResults): string {
  const rows = results.scaleUp.map((s) =>
    s.error !== undefined ? [runtimeLabel(s.runtime), short(s.error), "", "", "", ""] : [
      runtimeLabel(s.runtime),
      String(s.reaction.length),
      `${fmt(median(s.reaction), 2)} / ${fmt(Math.max(...s.reaction), 2)}`,
      `${fmt(median(s.raiseToTake), 2)} / ${fmt(Math.max(...s.raiseToTake), 2)}`,
      `${fmt(median(s.raiseToModifier), 2)} / ${fmt(Math.max(...s.raiseToModifier), 2)}`,
      fmt(median(gapsOf(results, s.runtime, "bare")), 3),
    ]
  );
  return table([
    "runtime",
    "rounds",
    "modifier → take, median / max ms",
    "bench raise → take, median / max ms",
    "bench raise → modifier, median / max ms",
    "baseline: bare loop done → take, median ms",
  ], rows);
}

/**
 * The coldStartSection part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = coldStartSection(results);
 * ```
 */
export function coldStartSection(results: BenchResults): string {
  const rows: string[][] = [];
  for (const runtime of RUNTIMES) {
    for (const node of runtime === "node" ? ["dist", "tsx"] as const : ["dist"] as const) {
      const find = (subject: string) =>
        results.coldStart.find((c) =>
          c.runtime === runtime && c.node === node && c.subject === subject &&
          c.error === undefined && c.samples.length > 0
        );
      const all = (subject: string) =>
        results.coldStart.find((c) =>
          c.runtime === runtime && c.node === node && c.subject === subject
        );
      const cell = (subject: string) => {
        const r = all(subject);
        if (!r) return "—";
        if (r.error !== undefined) return short(r.error);
        return `${fmt(median(r.samples), 1)} (${fmt(Math.min(...r.samples), 1)}–${
          fmt(Math.max(...r.samples), 1)
        })`;
      };
      const bare = find("bare");
      const worker = find("edgepod");
      const m = worker ? median(worker.samples) : NaN;
      rows.push([
        runtimeLabel(runtime, node),
        cell("bare"),
        cell("edgepod"),
        fmt(m - (bare ? median(bare.samples) : NaN), 1),
        cell("edgepod no heartbeat"),
        node === "dist" ? `< ${COLD_START_AIMS[runtime]}` : "—",
        node === "dist" ? mark(Number.isNaN(m) ? undefined : m < COLD_START_AIMS[runtime]) : "—",
      ]);
    }
  }
  const runs = results.coldStart.find((c) => c.error === undefined)?.samples.length ?? 0;
  return [
    table([
      "command",
      "bare loop ms, median (min–max)",
      "edgepod ms, median (min–max)",
      "edgepod − bare ms",
      "diagnostic: edgepod without heartbeat ms",
      "aim ms",
      "mark",
    ], rows),
    "",
    `Median of ${runs} runs per command.`,
  ].join("\n");
}

/**
 * The pingSection part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = pingSection(results);
 * ```
 */
export function pingSection(results: BenchResults): string {
  const rows = results.pingGap.map((p) =>
    p.error !== undefined ? [runtimeLabel(p.runtime), short(p.error), "", "", "", "", ""] : [
      runtimeLabel(p.runtime),
      fmt(p.blockMs, 0),
      fmt(Math.max(...p.blockGaps), 0),
      p.blockGaps.map((g) => fmt(g, 0)).join(", "),
      `${p.pingsDuringBlock} (${p.listingJob} listing the job)`,
      fmt(Math.max(...p.idleGaps), 0),
      mark(Math.max(...p.blockGaps) < 1500),
    ]
  );
  return table([
    "runtime",
    "block seen by the simulator, ms",
    "largest gap during the block, ms",
    "gaps overlapping the block, ms",
    "pings during the block",
    "baseline: largest idle gap, ms",
    "aim < 1500 ms",
  ], rows);
}

/**
 * The memorySection part of the report.
 *
 * @param results What was measured.
 * @returns Markdown.
 *
 * @example
 * ```ts ignore
 * const text = memorySection(results);
 * ```
 */
export function memorySection(results: BenchResults): string {
  const rows: string[][] = [];
  const leaks: string[][] = [];
  const both = (x: RssSample | undefined) => x ? `${fmt(x.gc)} (${fmt(x.raw)})` : "—";
  for (const m of results.memory) {
    for (const r of m.rows) {
      if (r.error !== undefined) {
        rows.push([runtimeLabel(m.runtime), r.subject, short(r.error), "", "", "", ""]);
        continue;
      }
      if (r.afterMore) {
        const perJob = (pick: (x: RssSample) => number) =>
          r.idle && r.afterMore
            ? fmt(((pick(r.afterMore) - pick(r.idle)) * 2 ** 20) / LEAK_JOBS, 0)
            : "—";
        const main = r.subject.startsWith("edgepod");
        leaks.push([
          runtimeLabel(m.runtime),
          main ? "**edgepod c=1**" : r.subject,
          `${fmt(r.idle?.heap, 2)} → ${fmt(r.afterMore.heap, 2)}`,
          main ? `**${perJob((x) => x.heap)}**` : perJob((x) => x.heap),
          `${both(r.idle)} → ${both(r.afterMore)}`,
        ]);
        if (r.subject === "edgepod c=1") continue;
      }
      const perJob = (pick: (x: RssSample) => number) =>
        r.idle && r.inFlight ? fmt(((pick(r.inFlight) - pick(r.idle)) * 1024) / IN_FLIGHT, 1) : "—";
      const main = r.subject === "edgepod";
      rows.push([
        runtimeLabel(m.runtime),
        main ? "**edgepod**" : r.subject,
        both(r.idle),
        both(r.inFlight),
        `${perJob((x) => x.gc)} (${perJob((x) => x.raw)})`,
        r.idle ? `${fmt(r.idle.heap)} → ${r.inFlight ? fmt(r.inFlight.heap) : "—"}` : "—",
        main ? `**${perJob((x) => x.heap)}**` : perJob((x) => x.heap),
      ]);
    }
  }
  return [
    table([
      "runtime",
      "process",
      "idle RSS MiB",
      `${IN_FLIGHT} in flight RSS MiB`,
      "RSS KiB per in-flight job",
      "JS heap MiB, idle → in flight",
      "JS heap KiB per in-flight job",
    ], rows),
    "",
    "RSS cells: after a forced full GC (as found, without it, in brackets). The JS heap is " +
    "`heapUsed` right after that GC. RSS moves by several MiB with the allocator and the GC's " +
    "page release, so the RSS growth of 1,000 jobs is within its noise (it can even come out " +
    "negative); the heap growth is the precise per-job figure.",
    "",
    `What completed jobs leave behind (concurrency 1, after a 2,000-job warm-up and after ` +
    `${fmtInt(LEAK_JOBS)} more no-op jobs, each after a forced full GC):`,
    "",
    table([
      "runtime",
      "process",
      "JS heap MiB, before → after",
      "retained heap, bytes per completed job",
      "RSS MiB, before → after (as found)",
    ], leaks),
  ].join("\n");
}
