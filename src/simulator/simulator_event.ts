/**
 * The events a simulator dispatches on every recorded thing, so tests can wait without sleeps.
 *
 * @module
 */

import type { SimulatorRoute } from "./faults.ts";
import type { BadPost, ResultRecord } from "./job_record.ts";
import type { PingRecord, UnhealthyReport } from "./request_log.ts";

/** The `detail` of each event type. */
export interface SimulatorEventMap {
  /** A job (or raw entry, by label) was queued. */
  enqueue: { id: string };
  /** A job-take, job-take-batch or job-stop request started waiting. */
  hold: { route: SimulatorRoute; workerId: string };
  /** Jobs (or raw entries, by label) were handed to a worker. */
  take: { workerId: string; ids: string[] };
  /** Stop signals were delivered to a worker. */
  stop: { workerId: string; jobIds: string[] };
  /** A final-result post arrived (counted in `attempts`), before any fault or delivery. */
  attempt: { jobId: string; workerId: string };
  /** A final result was delivered. */
  result: { jobId: string; result: ResultRecord };
  /** A progress update was delivered. */
  progress: { jobId: string; output: unknown };
  /** A stream chunk was delivered. */
  chunk: { jobId: string; item: unknown };
  /** A healthy heartbeat arrived. */
  ping: PingRecord;
  /** An unhealthy report arrived. */
  unhealthy: UnhealthyReport;
  /** A post's body was not JSON. */
  "bad-post": BadPost;
  /** A scripted fault was applied. */
  fault: { route: SimulatorRoute; kind: "drop" | "delay" | "respond" };
  /** A request was answered (any route, any status). */
  request: { route: SimulatorRoute | "other"; status: number };
}

/** The event type names. */
export type SimulatorEventType = keyof SimulatorEventMap;

/** Every {@linkcode SimulatorEventType}. */
export const SIMULATOR_EVENT_TYPES: readonly SimulatorEventType[] = Object.freeze([
  "enqueue",
  "hold",
  "take",
  "stop",
  "attempt",
  "result",
  "progress",
  "chunk",
  "ping",
  "unhealthy",
  "bad-post",
  "fault",
  "request",
]);

/**
 * An event with a typed `detail`.
 *
 * @typeParam K The event type.
 *
 * @example Listening for results
 * ```ts
 * import { SimulatorEvent } from "./simulator_event.ts";
 * const target = new EventTarget();
 * let seen = "";
 * target.addEventListener("enqueue", (e) => {
 *   seen = (e as SimulatorEvent<"enqueue">).detail.id;
 * });
 * target.dispatchEvent(new SimulatorEvent("enqueue", { id: "job-1" }));
 * console.assert(seen === "job-1");
 * ```
 */
export class SimulatorEvent<K extends SimulatorEventType = SimulatorEventType> extends Event {
  /** What happened. */
  readonly detail: SimulatorEventMap[K];

  /**
   * Creates an event.
   *
   * @param type The event type.
   * @param detail What happened.
   */
  constructor(type: K, detail: SimulatorEventMap[K]) {
    super(type);
    this.detail = detail;
  }
}
