/**
 * The adaptive-concurrency section of `BENCHMARKS.md`.
 *
 * @module
 */

import type { AdaptiveResult, PhaseFigures } from "./run_adaptive.ts";
import { MISS, PASS, table } from "./_report_kit.ts";

/**
 * Renders the adaptive-concurrency section.
 *
 * @param result What was measured.
 * @returns The Markdown section.
 *
 * @example
 * ```ts ignore
 * console.log(adaptiveSection(await runAdaptive()));
 * ```
 */
export function adaptiveSection(result: AdaptiveResult): string {
  const { baseLatencyMs, oomLatencyMs, fixed, warmupSeconds, phaseSeconds } = result.settings;
  const MODIFIERS = result.variants.map((v) => v.name).filter((n) => !n.startsWith("fixed "));
  const lines = [
    "## Adaptive concurrency (simulated engine)",
    "",
    "Method: `bench/run_adaptive.ts`. Every variant runs at the same time in one Node process, " +
    "each on its own simulated engine (`bench/simulated_engine.ts`: up to K requests in its " +
    `batch for ${baseLatencyMs} ms ± 20 % each, the rest in its queue, so throughput is flat ` +
    "above K while latency grows as n / K; admitting a request while it holds M fails it as out " +
    `of memory after ${oomLatencyMs} ms). Each variant's jobs go through a real \`ConcurrencyGate\` whose ` +
    "`observe` option reads an `ObservationWindow` fed by every job's end, kept saturated " +
    "(`bench/closed_loop.ts`), with its modifier polled every 100 ms. `adaptive` is " +
    "`adaptiveConcurrency()` and `engine metrics` is `engineMetricsConcurrency()` scraping its " +
    "engine's vLLM-shaped `/metrics` over HTTP on 127.0.0.1, both with default options. The two " +
    '"(pull worker)" variants run the same modifiers inside edgepod\'s real pull worker ' +
    "(`bench/adaptive_worker.ts`, Node with tsx, one process each, not pinned to a CPU, " +
    "`start()` in production mode) " +
    "against the RunPod queue simulator (`src/simulator`; under `npm run bench` the suite's own " +
    "simulator process, standalone one in the orchestrator; its queue kept full), so their " +
    "observations come from the shared `JobWorker`; their engine lives in " +
    "the worker process and follows the same schedule (absolute times). Fixed " +
    `limits ${fixed.join(", ")} run alongside. After a ${warmupSeconds} s warm-up (phase 1's ` +
    `settings, not measured), three phases of ${phaseSeconds} s each change K and M on every ` +
    "engine at once. Per phase: completed jobs/s, p50/p99 latency of completed jobs, failed " +
    "jobs (and those in the first 2 s of the phase), the time-weighted mean limit, and recovery: " +
    "the start of the first full second (sliding by 100 ms) at ≥ 90 % of the best fixed limit's " +
    "throughput. The best fixed limit of a phase is picked after the fact: among fixed limits " +
    "without failures after the phase's first 2 s, within 3 % of the highest throughput among " +
    "them, the one with the lowest p99.",
    "",
  ];
  if (result.error) {
    lines.push(`FAILED: ${result.error}`, "");
    return lines.join("\n");
  }
  const get = (name: string) => result.variants.find((v) => v.name === name);
  const best = (p: number) => get(result.bestFixed[p]!)!.phases[p]!;
  const phaseName = (p: number) =>
    `phase ${p + 1} (K=${result.phases[p]!.knee}, M=${result.phases[p]!.memoryLimit})`;

  const aimRows: string[][] = [];
  const misses: string[] = []; // only counted: whyMissed() explains each
  const aim = (label: string, check: (m: string) => { ok: boolean; text: string }) => {
    aimRows.push([
      label,
      ...MODIFIERS.map((m) => {
        const { ok, text } = check(m);
        if (!ok) misses.push(`${m}, ${label.toLowerCase()}: ${text}`);
        return `${ok ? PASS : MISS} (${text})`;
      }),
    ]);
  };
  const perPhase = (m: string, f: (mine: PhaseFigures, b: PhaseFigures, p: number) => string) =>
    result.phases.map((_, p) => f(get(m)!.phases[p]!, best(p), p));
  aim("Throughput ≥ 95 % of the best fixed limit in every phase", (m) => {
    const ratios = perPhase(m, (mine, b) => String(mine.throughput / b.throughput));
    return {
      ok: ratios.every((r) => Number(r) >= 0.95),
      text: ratios.map((r, p) => `${p + 1}: ${(100 * Number(r)).toFixed(1)} %`).join(", "),
    };
  });
  aim("p99 ≤ 1.5 × the best fixed limit's", (m) => {
    const ratios = perPhase(m, (mine, b) => String(mine.p99 / b.p99));
    const settled = perPhase(m, (mine, b) => String(mine.p99Settled / b.p99Settled));
    return {
      ok: ratios.every((r) => Number(r) <= 1.5),
      text: ratios.map((r, p) => `${p + 1}: ${Number(r).toFixed(2)}×`).join(", ") +
        `; after each phase's first 2 s: ${
          settled.map((r, p) => `${p + 1}: ${Number(r).toFixed(2)}×`).join(", ")
        }`,
    };
  });
  aim("No failures from overshooting M", (m) => {
    const v = get(m)!;
    const later = v.phases.reduce((s, f) => s + f.failures - f.failuresAtChange, 0);
    const atChange = v.phases.reduce((s, f) => s + f.failuresAtChange, 0);
    return {
      ok: later === 0,
      text: `${later} from its own overshoot; ${atChange} in the first 2 s after M fell`,
    };
  });
  aim("Above 90 % of the new best within 5 s of a change of K", (m) => {
    const times = perPhase(m, (mine) => String(mine.recoverySeconds)).slice(1);
    return {
      ok: times.every((t) => Number(t) <= 5),
      text: times.map((t, i) =>
        `${i + 2}: ${Number.isFinite(Number(t)) ? `${Number(t).toFixed(1)} s` : "never"}`
      ).join(", "),
    };
  });
  lines.push(table(["Aim", ...MODIFIERS], aimRows), "");

  for (let p = 0; p < result.phases.length; p++) {
    const b = best(p);
    lines.push(`### ${phaseName(p)}: best fixed is ${result.bestFixed[p]}`, "");
    const names = [...MODIFIERS, result.bestFixed[p]!, "fixed 30"];
    const shown = [...new Set(names)].concat(
      result.variants.map((v) => v.name).filter((n) => !names.includes(n)),
    );
    lines.push(
      table(
        [
          "variant",
          "jobs/s",
          "of best",
          "p50 ms",
          "p99 ms",
          "p99 after 2 s",
          "failures (first 2 s)",
          "mean limit",
          "recovery s",
        ],
        shown.map((name) => {
          const f = get(name)!.phases[p]!;
          return [
            result.bestFixed[p] === name ? `**${name}** (best)` : name,
            f.throughput.toFixed(1),
            `${(100 * f.throughput / b.throughput).toFixed(1)} %`,
            f.p50.toFixed(0),
            Number.isNaN(f.p99) ? "—" : f.p99.toFixed(0),
            Number.isNaN(f.p99Settled) ? "—" : f.p99Settled.toFixed(0),
            `${f.failures} (${f.failuresAtChange})`,
            Number.isNaN(f.meanLimit) ? "—" : f.meanLimit.toFixed(1),
            p === 0
              ? "—"
              : Number.isFinite(f.recoverySeconds)
              ? f.recoverySeconds.toFixed(1)
              : "never",
          ];
        }),
      ),
      "",
    );
  }
  const details = result.variants.filter((v) => v.detail).map((v) => `${v.name}: ${v.detail}`);
  lines.push(`Counters: ${details.join("; ")}.`, "");
  lines.push(
    "Event-loop lateness (p99 of a 20 ms timer, per phase; it adds to every variant's " +
      `latency): ${result.lagP99Ms.map((l) => `${l.toFixed(1)} ms`).join(", ")}.`,
    "",
  );
  if (misses.length === 0) lines.push("Every aim was met in this run.", "");
  else lines.push("Why the aims missed in this run were missed:", "", ...whyMissed(result), "");
  return lines.join("\n");
}

/** One line per missed aim and phase: by how much, and the figures that say why. */
function whyMissed(result: AdaptiveResult): string[] {
  const out: string[] = [];
  const lagNote = (p: number) =>
    result.lagP99Ms[p]! > 50
      ? ` The event loop was late by up to ${
        result.lagP99Ms[p]!.toFixed(0)
      } ms (p99) in that phase: the machine was loaded. Lateness delays every job, starves the ` +
        "pull-worker processes, and the adaptive modifier reads it as engine load."
      : "";
  for (const v of result.variants.filter((v) => !v.name.startsWith("fixed "))) {
    v.phases.forEach((f, p) => {
      const b = result.variants.find((x) => x.name === result.bestFixed[p])!.phases[p]!;
      const k = result.phases[p]!.knee;
      const limit = Number.isNaN(f.meanLimit)
        ? ""
        : ` Its mean limit was ${f.meanLimit.toFixed(1)} for K=${k}.`;
      const share = f.throughput / b.throughput;
      if (share < 0.95) {
        const ramp = p > 0 && f.recoverySeconds > 2
          ? ` After the change it took ${
            f.recoverySeconds.toFixed(1)
          } s to reach 90 % (the limit grows by at most a third per window of about one latency).`
          : "";
        const atKnee = !Number.isNaN(f.meanLimit) && f.meanLimit >= 0.95 * k;
        const below = !atKnee
          ? ""
          : v.name.endsWith("(pull worker)")
          ? " With a mean limit at or above K, the engine still had fewer than K requests: the " +
            "worker process did not keep it fed (a slot stays held while its result is posted " +
            "and the next job is taken, round trips that stretch on a loaded machine)."
          : " With a mean limit at or above K, the loss is the time spent below it: the ramp " +
            "after a change, dips on noisy windows, and floor measurements (each holds two " +
            "thirds of the limit for about two latencies).";
        out.push(
          `- ${v.name}, phase ${p + 1}: throughput ${
            (100 * share).toFixed(1)
          } % of the best fixed, ${
            (95 - 100 * share).toFixed(1)
          } points short.${limit}${ramp}${below}${lagNote(p)}`,
        );
      }
      const ratio = f.p99 / b.p99;
      if (ratio > 1.5) {
        const settled = f.p99Settled / b.p99Settled;
        const cause = settled <= 1.5
          ? ` After the phase's first 2 s it is ${
            settled.toFixed(2)
          }×: the miss is the transition, jobs admitted under the previous phase's limit that waited in the engine's queue when K fell (the best fixed limit was already at the new K).`
          : ` After the first 2 s it is still ${
            settled.toFixed(2)
          }×: above the knee latency grows as limit / K.`;
        out.push(
          `- ${v.name}, phase ${p + 1}: p99 ${ratio.toFixed(2)}× the best fixed limit's, ${
            ((ratio - 1.5) * 100 / 1.5).toFixed(0)
          } % over the aim.${cause}${limit}${lagNote(p)}`,
        );
      }
      if (f.failures > f.failuresAtChange) {
        out.push(
          `- ${v.name}, phase ${p + 1}: ${
            f.failures - f.failuresAtChange
          } out-of-memory failures after the phase's first 2 s: its limit went above M=${
            result.phases[p]!.memoryLimit
          } (each such episode backs it off: the adaptive modifier also caps it until its next floor measurement, the metrics one halves it).${limit}`,
        );
      }
      if (p > 0 && f.recoverySeconds > 5) {
        out.push(
          `- ${v.name}, phase ${p + 1}: ${
            Number.isFinite(f.recoverySeconds)
              ? `${f.recoverySeconds.toFixed(1)} s`
              : "never (within the phase)"
          } to reach 90 % of the new best, against 5 s.${limit}${lagNote(p)}`,
        );
      }
    });
  }
  return out;
}
