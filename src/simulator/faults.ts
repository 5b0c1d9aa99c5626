/**
 * Scripted faults: what the simulator does instead of answering normally, for the next few
 * requests of one route, or for every request of a route during a time window (an outage).
 *
 * @module
 */

import { Fifo } from "./_fifo.ts";

/** The worker-facing routes of the simulator. */
export type SimulatorRoute =
  | "job-take"
  | "job-take-batch"
  | "job-stop"
  | "job-done"
  | "job-stream"
  | "ping";

/** Every {@linkcode SimulatorRoute}, in protocol order. */
export const SIMULATOR_ROUTES: readonly SimulatorRoute[] = Object.freeze([
  "job-take",
  "job-take-batch",
  "job-stop",
  "job-done",
  "job-stream",
  "ping",
]);

/** Answer with this status (for example 500, 400, 204, or 429 with a `Retry-After` header). */
export interface StatusFault {
  /** The HTTP status, 200 to 599. */
  status: number;
  /** The body text; ignored for 204, 205 and 304. @default "" */
  body?: string;
  /** Extra response headers, such as `{ "Retry-After": "1" }`. @default {} */
  headers?: Record<string, string>;
}

/**
 * Break the connection: the response's body stream errors at once, so the client sees a
 * network error. A dropped job-take consumes no job.
 */
export interface DropFault {
  /** Must be `true`. */
  drop: true;
}

/** A slow endpoint: wait, then answer normally. */
export interface DelayFault {
  /** How long to wait before handling the request, in milliseconds. */
  delayMs: number;
}

/** Answer with this body and content type, for example non-JSON text to a job-take. */
export interface BodyFault {
  /** The body text. */
  body: string;
  /** The `Content-Type` header. */
  contentType: string;
  /** The HTTP status. @default 200 */
  status?: number;
}

/** One scripted fault. */
export type SimulatorFault = StatusFault | DropFault | DelayFault | BodyFault;

/** Options for {@linkcode FaultScript.add}. */
export interface FaultOptions {
  /**
   * How many of the route's next requests get this fault; `Infinity` for all. Not with
   * `forMs`. @default 1
   */
  times?: number;
  /**
   * A time window instead of a count: every request of the route that arrives within `forMs`
   * ms (starting `afterMs` ms from now) gets this fault, like an outage of that route. A window
   * applies before counted faults, and ends by itself. @default undefined (a counted fault)
   */
  forMs?: number;
  /** With `forMs`: how long from now the window opens, in ms. @default 0 */
  afterMs?: number;
}

/** Options for {@linkcode FaultScript}. */
export interface FaultScriptOptions {
  /** The clock of time windows, in ms. @default performance.now */
  now?: () => number;
}

/** A fault in normal form: drop, delay, or a fixed response. */
export type ResolvedFault =
  | { readonly kind: "drop" }
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "respond"; readonly response: () => Response };

interface Entry {
  readonly fault: ResolvedFault;
  remaining: number;
}

interface Window {
  readonly fault: ResolvedFault;
  readonly start: number;
  readonly end: number;
}

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * Per-route queues of scripted faults. Faults of one route apply in the order they were added,
 * each to the next `times` requests of that route. A fault with `forMs` is a time window
 * instead: it applies to every request of the route while the window is open, ahead of the
 * counted ones. Looking up a route without faults is one map read.
 *
 * @example A 429 for the next job-take
 * ```ts
 * import { FaultScript } from "./faults.ts";
 * const faults = new FaultScript();
 * faults.add("job-take", { status: 429, headers: { "Retry-After": "1" } });
 * const fault = faults.next("job-take");
 * console.assert(fault?.kind === "respond" && faults.next("job-take") === undefined);
 * ```
 */
export class FaultScript {
  #queues = new Map<SimulatorRoute, Fifo<Entry>>();
  #windows = new Map<SimulatorRoute, Window[]>();
  readonly #now: () => number;

  /** @param options The clock of time windows. */
  constructor(options: FaultScriptOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Scripts a fault.
   *
   * @param route The route whose next requests fail.
   * @param fault What happens instead of the normal answer.
   * @param options How many requests it applies to, or the time window.
   * @throws {TypeError} When the route is unknown, the fault has no recognised shape, or both
   * `times` and `forMs` are given.
   * @throws {RangeError} When `times`, `forMs`, `afterMs`, `status` or `delayMs` is out of
   * range.
   */
  add(route: SimulatorRoute, fault: SimulatorFault, options: FaultOptions = {}): void {
    if (!SIMULATOR_ROUTES.includes(route)) {
      throw new TypeError(
        `'route' must be one of ${SIMULATOR_ROUTES.join(", ")}: received ${String(route)}`,
      );
    }
    if (options.forMs !== undefined || options.afterMs !== undefined) {
      this.#addWindow(route, fault, options);
      return;
    }
    const { times = 1 } = options;
    if (!(times === Infinity || (Number.isInteger(times) && times > 0))) {
      throw new RangeError(`'times' must be a positive integer or Infinity: received ${times}`);
    }
    const resolved = resolveFault(fault);
    let queue = this.#queues.get(route);
    if (queue === undefined) this.#queues.set(route, queue = new Fifo());
    queue.push({ fault: resolved, remaining: times });
  }

  /**
   * Takes the fault for the route's current request, if any.
   *
   * @param route The route of the request.
   * @returns The fault to apply, or `undefined` to answer normally.
   */
  next(route: SimulatorRoute): ResolvedFault | undefined {
    if (this.#windows.size > 0) {
      const fault = this.#windowFault(route);
      if (fault !== undefined) return fault;
    }
    const queue = this.#queues.get(route);
    const entry = queue?.peek();
    if (entry === undefined) return undefined;
    if (--entry.remaining <= 0) queue!.shift();
    return entry.fault;
  }

  /**
   * Whether a time window of the route is open now.
   *
   * @param route The route.
   * @returns `true` while a request of the route would get a window's fault.
   */
  inWindow(route: SimulatorRoute): boolean {
    const now = this.#now();
    return (this.#windows.get(route) ?? []).some((w) => w.start <= now && now < w.end);
  }

  /**
   * Counts the requests of a route that will still be faulted by counted faults (time windows
   * are not counted; see {@linkcode FaultScript.inWindow}).
   *
   * @param route The route.
   * @returns The sum of the remaining `times` (may be `Infinity`).
   */
  pending(route: SimulatorRoute): number {
    let sum = 0;
    for (const entry of this.#queues.get(route) ?? []) sum += entry.remaining;
    return sum;
  }

  /**
   * Removes the scripted faults of one route, or of all routes.
   *
   * @param route The route; all routes when omitted.
   */
  clear(route?: SimulatorRoute): void {
    if (route === undefined) {
      this.#queues.clear();
      this.#windows.clear();
    } else {
      this.#queues.delete(route);
      this.#windows.delete(route);
    }
  }

  #addWindow(route: SimulatorRoute, fault: SimulatorFault, options: FaultOptions): void {
    const { forMs, afterMs = 0, times } = options;
    if (times !== undefined) {
      throw new TypeError("'times' and 'forMs' exclude each other: give a count or a window");
    }
    if (typeof forMs !== "number" || !(forMs > 0)) {
      throw new RangeError(`'forMs' must be a number > 0: received ${String(forMs)}`);
    }
    if (typeof afterMs !== "number" || !(afterMs >= 0) || !Number.isFinite(afterMs)) {
      throw new RangeError(`'afterMs' must be a finite number >= 0: received ${String(afterMs)}`);
    }
    const resolved = resolveFault(fault);
    const start = this.#now() + afterMs;
    let windows = this.#windows.get(route);
    if (windows === undefined) this.#windows.set(route, windows = []);
    windows.push({ fault: resolved, start, end: start + forMs });
  }

  /** The fault of the route's first open window; closed windows are forgotten. */
  #windowFault(route: SimulatorRoute): ResolvedFault | undefined {
    const windows = this.#windows.get(route);
    if (windows === undefined) return undefined;
    const now = this.#now();
    const open = windows.filter((w) => now < w.end);
    if (open.length === 0) this.#windows.delete(route);
    else if (open.length < windows.length) this.#windows.set(route, open);
    return open.find((w) => w.start <= now)?.fault;
  }
}

/**
 * Builds a response whose body stream errors at once: a client reading it sees a network error.
 * Servers turn it into a broken connection (see the module notes in `mod.ts`).
 *
 * @returns The response.
 *
 * @example Reading a dropped response fails
 * ```ts
 * import { droppedResponse } from "./faults.ts";
 * const failed = await droppedResponse().text().then(() => false, () => true);
 * console.assert(failed);
 * ```
 */
export function droppedResponse(): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // Servers log this error (it is the scripted drop, not a bug) and abort the response.
      controller.error(new TypeError("Connection dropped by a scripted { drop: true } fault"));
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
}

function resolveFault(fault: SimulatorFault): ResolvedFault {
  if (typeof fault !== "object" || fault === null) {
    throw new TypeError(`'fault' must be an object: received ${String(fault)}`);
  }
  if ("drop" in fault) {
    if (fault.drop !== true) {
      throw new TypeError(`'drop' must be true: received ${String(fault.drop)}`);
    }
    return { kind: "drop" };
  }
  if ("delayMs" in fault) {
    const ms = fault.delayMs;
    if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms)) {
      throw new RangeError(`'delayMs' must be a finite number >= 0: received ${String(ms)}`);
    }
    return { kind: "delay", ms };
  }
  if ("contentType" in fault) {
    const { body, contentType, status = 200 } = fault;
    if (typeof body !== "string" || typeof contentType !== "string") {
      throw new TypeError("'body' and 'contentType' must be strings");
    }
    checkStatus(status);
    return respond(status, body, { "content-type": contentType });
  }
  if ("status" in fault) {
    const { status, body = "", headers = {} } = fault;
    checkStatus(status);
    if (typeof body !== "string") {
      throw new TypeError(`'body' must be a string: received ${typeof body}`);
    }
    return respond(status, body, headers);
  }
  throw new TypeError(
    "'fault' must have one of 'status', 'drop', 'delayMs' or 'body' and 'contentType'",
  );
}

function checkStatus(status: unknown): void {
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(`'status' must be an integer from 200 to 599: received ${String(status)}`);
  }
}

function respond(status: number, body: string, headers: Record<string, string>): ResolvedFault {
  const text = NULL_BODY_STATUSES.has(status) ? null : body;
  return { kind: "respond", response: () => new Response(text, { status, headers }) };
}
