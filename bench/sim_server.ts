/**
 * The benchmark's RunPod queue simulator process (run on Bun, pinned to its own CPU): the
 * simulator's routes, wrapped to record the arrival time (epoch ms, `performance.timeOrigin +
 * performance.now()`) of every job-take, job-done and ping, plus control routes for
 * `bench/run.ts`:
 *
 * - `POST /_bench/reset {longPollMs}`: a fresh simulator and empty records;
 * - `POST /_bench/enqueue {count, input}`: queues `count` jobs; answers `{at}` (after queueing);
 * - `GET /_bench/wait?what=takes|dones|results|handedOut|held|pings&n=N&timeoutMs=T`: answers
 *   once the count reaches `n` (`{ok, at}`), or 408 on timeout;
 * - `GET /_bench/data?takesFrom=&donesFrom=&pingsFrom=&report=1`: the records from those
 *   indexes, counters and (with `report=1`) the ledger's verdict.
 *
 * Prints `{"port": N}` on stdout once listening. Run: `bun bench/sim_server.ts`.
 *
 * @module
 */

import process from "node:process";
import { loadRuntime } from "../adapters/auto.ts";
import { createSimulator, type Simulator } from "../src/simulator/mod.ts";
import { watchParent } from "./_release.ts";

/** The API key the benchmark workers send (the simulator checks it, as RunPod does). */
const API_KEY = "bench-key";

interface Records {
  takes: number[];
  dones: number[];
  pings: number[];
}

const now = () => performance.timeOrigin + performance.now();
let sim: Simulator = createSimulator({ longPollMs: 5000, apiKey: API_KEY, recordRequests: false });
let records: Records = { takes: [], dones: [], pings: [] };

function count(what: string): number {
  switch (what) {
    case "takes":
      return records.takes.length;
    case "dones":
      return records.dones.length;
    case "results":
      return sim.ledger.jobsWithResult;
    case "handedOut":
      return sim.counters.handedOut;
    case "held":
      return sim.held.take;
    case "pings":
      return records.pings.length;
    default:
      throw new TypeError(`Unknown count '${what}'`);
  }
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function control(request: Request, url: URL): Promise<Response> {
  const q = url.searchParams;
  switch (url.pathname) {
    case "/_bench/reset": {
      const { longPollMs = 5000 } = await request.json() as { longPollMs?: number };
      sim.close();
      sim = createSimulator({ longPollMs, apiKey: API_KEY, recordRequests: false });
      records = { takes: [], dones: [], pings: [] };
      return json({ ok: true });
    }
    case "/_bench/enqueue": {
      const { count: n, input } = await request.json() as { count: number; input: unknown };
      sim.enqueueMany(Array.from({ length: n }, () => ({ input })));
      return json({ ok: true, at: now() });
    }
    case "/_bench/wait": {
      const what = q.get("what") ?? "";
      const n = Number(q.get("n"));
      const timeoutMs = Number(q.get("timeoutMs") ?? 30_000);
      try {
        await sim.waitFor(() => count(what) >= n, { timeoutMs, description: `${n} ${what}` });
        return json({ ok: true, at: now(), count: count(what) });
      } catch (error) {
        return json({ ok: false, error: String(error), count: count(what) }, 408);
      }
    }
    case "/_bench/data": {
      const from = (name: string) => Number(q.get(name) ?? 0);
      const report = q.get("report") ? sim.report() : undefined;
      return json({
        takes: records.takes.slice(from("takesFrom")),
        dones: records.dones.slice(from("donesFrom")),
        pings: records.pings.slice(from("pingsFrom")),
        pingJobs: sim.pings.slice(from("pingsFrom")).map((p) => p.jobIds.length),
        counts: {
          takes: records.takes.length,
          dones: records.dones.length,
          pings: records.pings.length,
        },
        counters: sim.counters,
        held: sim.held,
        queued: sim.queued,
        report: report && {
          jobs: report.jobs.length,
          lost: report.lost.length,
          duplicated: report.duplicated.length,
          unknown: report.unknown.length,
          pending: report.pending.length,
        },
      });
    }
    default:
      return json({ ok: false, error: `No control route ${url.pathname}` }, 404);
  }
}

function serve(request: Request): Promise<Response> | Response {
  const url = request.url;
  const at = now();
  if (url.includes("/job-take")) records.takes.push(at);
  else if (url.includes("/job-done/")) records.dones.push(at);
  else if (url.includes("/ping/")) records.pings.push(at);
  else if (url.includes("/_bench/")) return control(request, new URL(url));
  return sim.fetch(request);
}

interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    idleTimeout: number;
    fetch: (request: Request) => Response | Promise<Response>;
  }): { port: number; stop(closeActive?: boolean): Promise<void> | void };
}

const runtime = await loadRuntime();
const bun = (globalThis as { Bun?: BunServe }).Bun;
// Bun.serve cuts requests idle for 10 s by default; long-polls and waits may last longer.
const server = bun
  ? (() => {
    const s = bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: serve });
    return { port: s.port, close: async () => void await s.stop(true) };
  })()
  : await runtime.serve(serve, { hostname: "127.0.0.1", port: 0 });
watchParent();
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    sim.close();
    void server.close().finally(() => process.exit(0));
  });
}
console.log(JSON.stringify({ port: server.port, runtime: `${runtime.name} ${runtime.version}` }));
