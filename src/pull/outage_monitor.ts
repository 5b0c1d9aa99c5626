/**
 * Outages of RunPod's delivery routes (job-done, job-stream) as an operator sees them: one line
 * when a route starts failing, one when it answers again, and a wake-up for every post waiting to
 * retry once it does.
 *
 * @module
 */

import type { Logger } from "../types.ts";

/** The routes results, progress updates and stream chunks are posted to. */
export type DeliveryRoute = "job-done" | "job-stream";

/** What a post carries. */
export type DeliveryKind = "result" | "progress" | "chunk";

/** One post from its first attempt to its end; made by {@linkcode OutageMonitor.begin}. */
export interface DeliveryTicket {
  /** The route. */
  readonly route: DeliveryRoute;
  /** What it carries. */
  readonly kind: DeliveryKind;
  /** The job. */
  readonly jobId: string;
  /** Failed attempts so far. */
  failures: number;
}

/** How a post ended. */
export type DeliveryEnd = "delivered" | "refused" | "abandoned";

/** Options for {@linkcode OutageMonitor}. */
export interface OutageMonitorOptions {
  /** Receives the outage lines (WARN when it starts, INFO when it ends). @default none */
  logger?: Pick<Logger, "info" | "warn">;
  /** The clock, in ms. @default performance.now */
  now?: () => number;
}

interface Outage {
  /** When the first post failed. */
  since: number;
  /** The first failure, as `HTTP 503` or the network error. */
  status: string;
  /** Posts that failed during this outage and have not ended yet. */
  waiting: Set<DeliveryTicket>;
  /** Posts delivered after failing during this outage. */
  late: number;
  /** When the route answered again (the outage ends once `waiting` is empty). */
  answeredAt?: number;
  /** Sleeping retries to wake once the route answers. */
  wakers: Set<() => void>;
}

const NOUNS: Record<DeliveryKind, [string, string]> = {
  result: ["result", "results"],
  progress: ["progress update", "progress updates"],
  chunk: ["stream chunk", "stream chunks"],
};

/** The most job ids named in an outage line. */
const MAX_IDS = 10;

/**
 * Tracks the posts in flight per route, and the route's outage while its posts fail. The start
 * line names the route, the failure and what is held (the posts in flight there and their jobs);
 * the end line says how long it lasted and how many posts were delivered late. A failing attempt
 * is not logged here: the retrying caller logs it at DEBUG.
 *
 * The outage ends when the route answers one post (2xx, or a 4xx, which is an answer too): every
 * retry sleeping on that route is woken at once, and the end line is written when the last of
 * the posts that failed meanwhile has ended.
 *
 * @example An outage of job-done that one post lives through
 * ```ts
 * import { OutageMonitor } from "./outage_monitor.ts";
 * const lines: string[] = [];
 * const logger = { info: (m: unknown) => void lines.push(`INFO ${m}`), warn: (m: unknown) => void lines.push(`WARN ${m}`) };
 * let now = 0;
 * const monitor = new OutageMonitor({ logger, now: () => now });
 * const ticket = monitor.begin("job-done", "result", "job-1");
 * monitor.failed(ticket, "HTTP 503");
 * now = 20_000;
 * monitor.end(ticket, "delivered");
 * console.assert(lines[0]!.startsWith("WARN RunPod's job-done endpoint is failing (HTTP 503)"));
 * console.assert(lines[1] === "INFO RunPod's job-done endpoint answers again after 20.0 s; 1 post delivered late.");
 * ```
 */
export class OutageMonitor {
  readonly #logger?: Pick<Logger, "info" | "warn">;
  readonly #now: () => number;
  readonly #inFlight = new Set<DeliveryTicket>();
  readonly #outages = new Map<DeliveryRoute, Outage>();

  /** @param options The logger and the clock. */
  constructor(options: OutageMonitorOptions = {}) {
    this.#logger = options.logger;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Registers a post about to be sent.
   *
   * @param route Where it goes.
   * @param kind What it carries.
   * @param jobId Its job.
   * @returns Its ticket, for {@linkcode OutageMonitor.failed} and {@linkcode OutageMonitor.end}.
   */
  begin(route: DeliveryRoute, kind: DeliveryKind, jobId: string): DeliveryTicket {
    const ticket: DeliveryTicket = { route, kind, jobId, failures: 0 };
    this.#inFlight.add(ticket);
    return ticket;
  }

  /**
   * Records a failed attempt (5xx, 429 or a network error); the first one of a route opens its
   * outage and logs the start line.
   *
   * @param ticket The post.
   * @param failure What went wrong, such as `HTTP 503` or `TypeError: fetch failed`.
   */
  failed(ticket: DeliveryTicket, failure: string): void {
    ticket.failures++;
    let outage = this.#outages.get(ticket.route);
    if (outage === undefined) {
      outage = {
        since: this.#now(),
        status: failure,
        waiting: new Set(),
        late: 0,
        wakers: new Set(),
      };
      this.#outages.set(ticket.route, outage);
      this.#logger?.warn(
        `RunPod's ${ticket.route} endpoint is failing (${failure}): holding ${
          this.#held(ticket.route)
        }; retrying until it answers.`,
      );
    } else {
      outage.answeredAt = undefined; // it failed again before the waiting posts got through
    }
    outage.waiting.add(ticket);
  }

  /**
   * Records the end of a post. An answer (delivered or refused) ends its route's outage.
   *
   * @param ticket The post.
   * @param how Delivered (2xx), refused (4xx) or abandoned (retries stopped).
   */
  end(ticket: DeliveryTicket, how: DeliveryEnd): void {
    this.#inFlight.delete(ticket);
    if (this.#outages.size === 0) return;
    const outage = this.#outages.get(ticket.route);
    if (outage === undefined) return;
    if (how === "delivered" && outage.waiting.has(ticket)) outage.late++;
    outage.waiting.delete(ticket);
    if (how !== "abandoned" && outage.answeredAt === undefined) {
      outage.answeredAt = this.#now();
      for (const wake of [...outage.wakers]) wake();
    }
    if (outage.answeredAt !== undefined && outage.waiting.size === 0) {
      this.#outages.delete(ticket.route);
      const seconds = ((outage.answeredAt - outage.since) / 1000).toFixed(1);
      this.#logger?.info(
        `RunPod's ${ticket.route} endpoint answers again after ${seconds} s; ${outage.late} ${
          outage.late === 1 ? "post" : "posts"
        } delivered late.`,
      );
    }
  }

  /**
   * Whether a route is failing now.
   *
   * @param route The route.
   * @returns `true` from its first failed post until it answers again.
   */
  failing(route: DeliveryRoute): boolean {
    const outage = this.#outages.get(route);
    return outage !== undefined && outage.answeredAt === undefined;
  }

  /**
   * Waits before a retry: `ms`, or less if the post's route answers another post meanwhile
   * (unless `early` is `false`), or the signal aborts. It never rejects; the caller checks the
   * signal.
   *
   * @param ticket The waiting post.
   * @param ms The back-off.
   * @param signal Ends the wait early.
   * @param early Whether an answer to another post of the route ends the wait. `false` for a
   * wait the server asked for (`Retry-After`): a throttled post keeps to it. @default true
   */
  sleep(ticket: DeliveryTicket, ms: number, signal?: AbortSignal, early = true): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const outage = early ? this.#outages.get(ticket.route) : undefined;
      const done = () => {
        clearTimeout(timer);
        outage?.wakers.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      outage?.wakers.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** What is in flight on a route, as "3 results and 1 progress update (jobs a, b, c)". */
  #held(route: DeliveryRoute): string {
    const counts = new Map<DeliveryKind, number>();
    const jobs = new Set<string>();
    for (const ticket of this.#inFlight) {
      if (ticket.route !== route) continue;
      counts.set(ticket.kind, (counts.get(ticket.kind) ?? 0) + 1);
      jobs.add(ticket.jobId);
    }
    const parts = [...counts].map(([kind, n]) => `${n} ${NOUNS[kind][n === 1 ? 0 : 1]}`);
    const ids = [...jobs].slice(0, MAX_IDS).join(", ") +
      (jobs.size > MAX_IDS ? ` and ${jobs.size - MAX_IDS} more` : "");
    return `${parts.join(" and ")} (${jobs.size === 1 ? "job" : "jobs"} ${ids})`;
  }
}
