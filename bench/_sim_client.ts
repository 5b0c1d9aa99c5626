/**
 * The orchestrator's side of `bench/sim_server.ts`: its control routes, and the worker
 * environment pointing at it.
 *
 * @module
 */

import { simulatorEnv } from "../src/simulator/simulator_env.ts";

/** What `sim_server.ts` counts for `wait`. */
export type SimCount = "takes" | "dones" | "results" | "handedOut" | "held" | "pings";

/** Indexes to read the records from. */
export interface DataFrom {
  /** First job-take arrival. @default 0 */
  takes?: number;
  /** First job-done arrival. @default 0 */
  dones?: number;
  /** First ping arrival. @default 0 */
  pings?: number;
}

/** The simulator's records and state. */
export interface SimData {
  /** job-take (single and batch) arrivals, epoch ms. */
  takes: number[];
  /** job-done arrivals, epoch ms. */
  dones: number[];
  /** Ping arrivals, epoch ms. */
  pings: number[];
  /** The number of job ids each ping listed. */
  pingJobs: number[];
  /** How many takes, dones and pings were recorded in all. */
  counts: { takes: number; dones: number; pings: number };
  /** The simulator's counters. */
  counters: Record<string, unknown> & { requests: Record<string, number> };
  /** Requests held now. */
  held: { take: number; stop: number };
  /** Jobs queued. */
  queued: number;
  /** The ledger's verdict, when asked for. */
  report?: { jobs: number; lost: number; duplicated: number; unknown: number; pending: number };
}

/** Options for {@linkcode SimClient}. */
export interface SimClientOptions {
  /** Once aborted, every call rejects with its reason (a timed-out benchmark step). */
  signal?: AbortSignal;
}

/** Options for {@linkcode SimClient.wait}. */
export interface WaitOptions {
  /** The longest wait, in ms. @default 30000 */
  timeoutMs?: number;
}

/** The API key the simulator expects. */
export const SIM_API_KEY = "bench-key";

/**
 * A client of the simulator process's control routes.
 *
 * @example
 * ```ts ignore
 * const sim = new SimClient("http://127.0.0.1:8123");
 * await sim.reset(5000);
 * const at = await sim.enqueue(10, { a: 1 });
 * await sim.wait("dones", 10);
 * ```
 */
export class SimClient {
  /** The simulator's base URL. */
  readonly baseUrl: string;
  readonly #signal?: AbortSignal;

  /**
   * @param baseUrl Where `sim_server.ts` listens.
   * @param options A signal that stops every later call.
   */
  constructor(baseUrl: string, options: SimClientOptions = {}) {
    this.baseUrl = baseUrl;
    this.#signal = options.signal;
  }

  /**
   * The production environment of a worker pointed at this simulator (heartbeat included).
   *
   * @param extra Variables added or overridden.
   * @returns The environment.
   */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...simulatorEnv(this.baseUrl, { apiKey: SIM_API_KEY, podId: "bench-pod" }),
      ...extra,
    };
  }

  /**
   * Replaces the simulator with a fresh one and clears the records.
   *
   * @param longPollMs How long takes are held.
   */
  async reset(longPollMs: number): Promise<void> {
    await this.#call("POST", "/_bench/reset", { longPollMs });
  }

  /**
   * Queues jobs.
   *
   * @param count How many.
   * @param input Their input.
   * @returns When they were queued (epoch ms, at the simulator).
   */
  async enqueue(count: number, input: unknown): Promise<number> {
    return (await this.#call("POST", "/_bench/enqueue", { count, input }) as { at: number }).at;
  }

  /**
   * Waits until a count reaches `n`, in segments of at most 8 s.
   *
   * @param what The count.
   * @param n The target.
   * @param options The longest wait.
   * @returns When it was reached (epoch ms, at the simulator).
   * @throws {Error} On timeout, with the count reached.
   */
  async wait(what: SimCount, n: number, options: WaitOptions = {}): Promise<number> {
    const { timeoutMs = 30_000 } = options;
    const deadline = performance.now() + timeoutMs;
    let count = 0;
    while (performance.now() < deadline) {
      this.#signal?.throwIfAborted();
      const segment = Math.max(1, Math.min(8000, deadline - performance.now()));
      const res = await fetch(
        `${this.baseUrl}/_bench/wait?what=${what}&n=${n}&timeoutMs=${Math.round(segment)}`,
      );
      const body = await res.json() as { ok: boolean; at: number; count: number };
      if (body.ok) return body.at;
      count = body.count;
    }
    throw new Error(`Timed out after ${timeoutMs} ms waiting for ${n} ${what} (got ${count})`);
  }

  /**
   * Reads the records from the given indexes, and the ledger's verdict when asked.
   *
   * @param from The first index of each record.
   * @param report Include the ledger's verdict (O(jobs)).
   * @returns The data.
   */
  async data(from: DataFrom = {}, report = false): Promise<SimData> {
    const q = `takesFrom=${from.takes ?? 0}&donesFrom=${from.dones ?? 0}&pingsFrom=${
      from.pings ?? 0
    }${report ? "&report=1" : ""}`;
    return await this.#call("GET", `/_bench/data?${q}`) as SimData;
  }

  /**
   * The current record counts (without the records).
   *
   * @returns Counts of takes, dones and pings recorded.
   */
  async counts(): Promise<{ takes: number; dones: number; pings: number; held: number }> {
    const big = 1e12;
    const d = await this.data({ takes: big, dones: big, pings: big });
    return { ...d.counts, held: d.held.take };
  }

  async #call(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
    this.#signal?.throwIfAborted();
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}: ${JSON.stringify(json)}`);
    return json;
  }
}
