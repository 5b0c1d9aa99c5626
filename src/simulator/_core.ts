/**
 * The simulator's state and the operations the routes and the public facade share: the job
 * queue, the held long-polls, pending stop signals, faults, ledger and log.
 *
 * @module
 */

import { Fifo } from "./_fifo.ts";
import type { QueueEntry } from "./_queue_entry.ts";
import { FaultScript } from "./faults.ts";
import { Ledger } from "./ledger.ts";
import { LongPoll } from "./long_poll.ts";
import { RequestLog } from "./request_log.ts";

export type { QueueEntry };
import {
  SimulatorEvent,
  type SimulatorEventMap,
  type SimulatorEventType,
} from "./simulator_event.ts";
import type { SimulatorOptions } from "./simulator_options.ts";

/** What a held take asked for. */
export interface TakeRequest {
  /** The most jobs it accepts. */
  readonly n: number;
  /** The worker. */
  readonly workerId: string;
}

/** The simulator options with their defaults applied. */
export type SimulatorCoreOptions = Readonly<Required<Omit<SimulatorOptions, "apiKey">>> & {
  readonly apiKey: string | undefined;
};

const ENDPOINT_ID_REGEXP = /^[A-Za-z0-9_-]+$/;

interface PendingStop {
  readonly jobId: string;
  readonly workerId: string | undefined;
}

/** The shared state of one simulator. Internal: the public API is `Simulator`. */
export class SimulatorCore {
  readonly options: SimulatorCoreOptions;
  readonly ledger: Ledger = new Ledger();
  readonly log: RequestLog;
  readonly faults: FaultScript = new FaultScript();
  readonly queue: Fifo<QueueEntry> = new Fifo();
  readonly takes: LongPoll<TakeRequest, QueueEntry[]> = new LongPoll();
  readonly stops: LongPoll<string, string[]> = new LongPoll();
  readonly delays: LongPoll<undefined, never> = new LongPoll();
  closed = false;
  #target: EventTarget;
  #pendingStops: PendingStop[] = [];
  #jobSeq = 0;
  #rawSeq = 0;
  #hasMoreJobs = () => this.queue.length > 0;
  #hasMoreStops = () => this.#pendingStops.length > 0;
  #answerTake = (take: TakeRequest) => this.takeNow(take.n, take.workerId);
  #answerStop = (workerId: string) => this.takeStops(workerId);

  /**
   * @throws {TypeError} When `endpointId` has characters other than letters, digits, `-`, `_`.
   * @throws {RangeError} When `longPollMs` is negative or not a number.
   */
  constructor(target: EventTarget, options: SimulatorOptions) {
    const { endpointId = "ep", longPollMs = 1000, apiKey, recordRequests = true } = options;
    if (typeof endpointId !== "string" || !ENDPOINT_ID_REGEXP.test(endpointId)) {
      throw new TypeError(
        `'endpointId' must be letters, digits, '-' or '_': received ${String(endpointId)}`,
      );
    }
    if (typeof longPollMs !== "number" || !(longPollMs >= 0)) {
      throw new RangeError(`'longPollMs' must be a number >= 0: received ${String(longPollMs)}`);
    }
    this.#target = target;
    this.options = { endpointId, longPollMs, apiKey, recordRequests };
    this.log = new RequestLog({ recordRequests });
  }

  /** The next free generated job id: `job-1`, `job-2`, ... (ids in use are skipped). */
  nextJobId(): string {
    let id: string;
    do id = `job-${++this.#jobSeq}`; while (this.ledger.get(id) !== undefined);
    return id;
  }

  /** The next raw entry label: `raw-1`, `raw-2`, ... */
  nextRawLabel(): string {
    return `raw-${++this.#rawSeq}`;
  }

  /** Dispatches an event on the simulator. */
  emit<K extends SimulatorEventType>(type: K, detail: SimulatorEventMap[K]): void {
    this.#target.dispatchEvent(new SimulatorEvent(type, detail));
  }

  /** Queues entries, then hands them to held takes, oldest take first. */
  push(entries: readonly QueueEntry[]): void {
    const at = performance.now();
    for (const entry of entries) {
      this.queue.push(entry);
      if (entry.raw === undefined) this.ledger.recordEnqueued(entry.id, at);
      this.emit("enqueue", { id: entry.id });
    }
    if (this.takes.size > 0) this.takes.release(this.#answerTake, this.#hasMoreJobs);
  }

  /** Takes up to `n` entries off the queue for a worker, recording them as taken. */
  takeNow(n: number, workerId: string): QueueEntry[] | undefined {
    if (this.queue.length === 0) return undefined;
    const at = performance.now();
    const entries: QueueEntry[] = [];
    while (entries.length < n) {
      const entry = this.queue.shift();
      if (entry === undefined) break;
      entries.push(entry);
      if (entry.raw === undefined) this.ledger.recordTaken(entry.id, at, workerId);
      else this.ledger.recordRawTaken(entry.raw, at, workerId);
    }
    const counters = this.log.counters;
    counters.takes++;
    counters.handedOut += entries.length;
    this.emit("take", { workerId, ids: entries.map((entry) => entry.id) });
    return entries;
  }

  /** Queues a stop signal for a worker (any worker when `undefined`) and delivers it if held. */
  stop(jobId: string, workerId: string | undefined): void {
    this.#pendingStops.push({ jobId, workerId });
    if (this.stops.size > 0) this.stops.release(this.#answerStop, this.#hasMoreStops);
  }

  /** Takes the pending stop signals meant for a worker, recording them as delivered. */
  takeStops(workerId: string): string[] | undefined {
    if (this.#pendingStops.length === 0) return undefined;
    const jobIds: string[] = [];
    const rest: PendingStop[] = [];
    for (const stop of this.#pendingStops) {
      if (stop.workerId === undefined || stop.workerId === workerId) jobIds.push(stop.jobId);
      else rest.push(stop);
    }
    if (jobIds.length === 0) return undefined;
    this.#pendingStops = rest;
    for (const jobId of jobIds) this.ledger.recordStopped(jobId);
    this.log.counters.stopsDelivered += jobIds.length;
    this.emit("stop", { workerId, jobIds });
    return jobIds;
  }

  /** Waits `ms` (ends early on close or when the signal aborts). */
  async delay(ms: number, signal: AbortSignal): Promise<void> {
    if (!this.closed) await this.delays.hold(undefined, { timeoutMs: ms, signal });
  }

  /** Ends every held request at once and stops holding new ones. */
  close(): void {
    this.closed = true;
    this.takes.releaseAll();
    this.stops.releaseAll();
    this.delays.releaseAll();
  }
}
