/**
 * A RunPod queue simulator: the worker-facing job API (`job-take`, `job-take-batch`,
 * `job-stop`, `job-done`, `job-stream`, `ping` under `/v2/<endpoint>/`) as a Hono app, for
 * development and as the test fixture of pull workers.
 *
 * Serve `sim.fetch` on loopback, start a worker with `sim.env(baseUrl)`, enqueue jobs, script
 * faults, wait on events, then assert on `sim.report()`: no job `lost`, none `duplicated`.
 *
 * Notes:
 * - A held long-poll whose client goes away is noticed through `Request.signal`, which aborts
 *   on disconnect under `Deno.serve`, `Bun.serve` and `@hono/node-server`; such a request never
 *   takes a job. A disconnect the server has not noticed yet when a job arrives cannot be seen:
 *   the job is recorded as taken (and shows up as `lost` unless answered), as on the platform.
 *   Deno 2.9 prints a one-time notice ("request.signal aborts on successful responses (legacy
 *   behavior)") as soon as a handler reads `request.signal`; it is harmless here, because every
 *   listener is removed before the response is returned.
 * - `{ drop: true }` answers with a body stream that errors at once. In memory, reading the body
 *   rejects. Over a socket, `@hono/node-server` and `Deno.serve` send the status line and
 *   headers, then cut the body (`fetch` resolves, `res.text()` rejects), while `Bun.serve`
 *   resets the connection (`fetch` rejects with `ECONNRESET`). Each server logs the stream
 *   error.
 * - After `close()`, long-polls answer at once (204, or a job still queued), so a worker that is
 *   still running spins: stop the worker first.
 * - With `recordRequests: false` only counters, the ledger and heartbeats are kept.
 *
 * @example A worker's view, in memory
 * ```ts
 * import { createSimulator } from "./mod.ts";
 * const sim = createSimulator({ longPollMs: 0, apiKey: "key" });
 * const env = sim.env("http://127.0.0.1:8000");
 * const take = env.RUNPOD_WEBHOOK_GET_JOB;
 * console.assert(take === "http://127.0.0.1:8000/v2/ep/job-take/$ID?gpu=SIM");
 * sim.enqueue({ id: "j1", input: 1 });
 * const res = await sim.fetch(
 *   new Request("http://sim/v2/ep/job-take/w1", { headers: { authorization: "key" } }),
 * );
 * console.assert((await res.json()).id === "j1" && sim.report().lost[0] === "j1");
 * ```
 *
 * @module
 */

export { createSimulator, Simulator } from "./simulator.ts";
export type {
  RawJobOptions,
  SimulatorJob,
  SimulatorOptions,
  StopOptions,
} from "./simulator_options.ts";
export { simulatorEnv, type SimulatorEnvOptions } from "./simulator_env.ts";
export {
  type BodyFault,
  type DelayFault,
  type DropFault,
  droppedResponse,
  type FaultOptions,
  FaultScript,
  type FaultScriptOptions,
  SIMULATOR_ROUTES,
  type SimulatorFault,
  type SimulatorRoute,
  type StatusFault,
} from "./faults.ts";
export type { BadPost, JobRecord, RawRecord, ResultRecord } from "./job_record.ts";
export { Ledger, type SimulatorReport } from "./ledger.ts";
export { type HoldOptions, LongPoll } from "./long_poll.ts";
export {
  createCounters,
  type PingRecord,
  type RecordedHeaders,
  type RecordedRequest,
  RequestLog,
  type RequestLogOptions,
  type SimulatorCounters,
  type UnhealthyReport,
} from "./request_log.ts";
export {
  SIMULATOR_EVENT_TYPES,
  SimulatorEvent,
  type SimulatorEventMap,
  type SimulatorEventType,
} from "./simulator_event.ts";
export { waitFor, type WaitForOptions } from "./wait_for.ts";
