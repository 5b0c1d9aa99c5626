/**
 * The worker: one lifecycle shared by every intake (pull, push, dev API). It owns the gate and
 * the modifier polling, the registry of jobs it holds, one `AbortController` per job, timeouts,
 * the drain on shutdown and `refreshWorker`, and the counters that metrics and health read.
 * Intakes only move jobs in and results out.
 *
 * @module
 */

import { type Deferred, deferred } from "../async/deferred.ts";
import { ConcurrencyGate, type Permit } from "../concurrency_gate.ts";
import type { WorkerConfig } from "../config.ts";
import {
  JobStoppedError,
  JobTimeoutError,
  WorkerBusyError,
  WorkerDrainingError,
  WorkerShutdownError,
} from "../errors.ts";
import { abortedJob, type ExecutedJob, runJob } from "../execute_job.ts";
import type { WorkerInfo } from "../job_result.ts";
import type { RunPodLogger } from "../run_pod_logger.ts";
import type { ShutdownSignal } from "../runtime.ts";
import type { Job } from "../types.ts";
import { ObservationWindow } from "./concurrency_observation.ts";
import { type JobStatus, jobStatus } from "./job_status.ts";
import { WorkerStats } from "./worker_stats.ts";

/** After the drain deadline, how long aborted jobs' results may take to be delivered. */
export const REPORT_GRACE_MS = 5000;

/** Options for {@linkcode JobWorker}. */
export interface JobWorkerOptions {
  /** The validated configuration (handler, modifier, timeouts, drain deadline, ...). */
  config: WorkerConfig;
  /** The logger. */
  logger: RunPodLogger;
  /** Who runs jobs. */
  info: WorkerInfo;
  /**
   * How many jobs may wait for a slot when submitted with `admission: "queue"` (push and dev
   * intakes); past it {@linkcode JobWorker.submit} throws {@linkcode WorkerBusyError}.
   * @default the current limit
   */
  queueLimit?: number;
  /** The clock, in ms. @default performance.now */
  now?: () => number;
}

/** Options for {@linkcode JobWorker.submit}. */
export interface SubmitOptions {
  /** A slot the intake already holds (the pull intake reserves slots before it takes). */
  permit?: Permit;
  /**
   * `"queue"`: refuse with {@linkcode WorkerDrainingError} while draining and with
   * {@linkcode WorkerBusyError} when every slot is taken and the wait queue is full. Without it
   * the job is always accepted (a pull job already taken from RunPod must run).
   */
  admission?: "queue";
  /** Where a streaming handler's chunks go; made only if the handler streams. */
  sink?: () => WritableStream<unknown>;
  /** Called when the job gets its slot, just before its handler (it is `IN_PROGRESS` now). */
  onStart?: () => void;
  /** Delivers `ctx.progress()` updates. @default logs them */
  progress?: (update: unknown) => Promise<void>;
  /** This job's execution timeout in ms. @default config.executionTimeoutMs */
  timeoutMs?: number;
  /**
   * The intake already checked `job.input` against `inputSchema` (push answers `422` before it
   * submits), so the worker does not check it again. @default false
   */
  inputValidated?: boolean;
  /** Aggregate a streaming handler's chunks into `output`. @default config.returnAggregateStream */
  aggregate?: boolean;
  /**
   * Delivers the final outcome while the job still holds its slot (so a slow result endpoint
   * slows intake instead of piling up results). Its failure is logged; the job is settled anyway.
   */
  deliver?: (outcome: JobOutcome) => Promise<void> | void;
}

/** How a job ended, as every intake reports it. */
export interface JobOutcome extends ExecutedJob {
  /** The job's id. */
  id: string;
  /** RunPod's terminal status. */
  status: Exclude<JobStatus, "IN_QUEUE" | "IN_PROGRESS">;
  /** ms from submission to the start of the handler. */
  delayTime: number;
  /** ms the handler ran (0 if it never started). */
  executionTime: number;
}

/** A job the worker holds, from submission until its outcome is delivered. */
export interface HeldJob {
  /** The job as submitted. */
  readonly job: Job;
  /** `IN_QUEUE` while it waits for a slot, then `IN_PROGRESS`. */
  readonly status: "IN_QUEUE" | "IN_PROGRESS";
  /** ms from submission to the start (so far, while queued). */
  readonly delayTime: number;
  /** ms it has run (0 while queued). */
  readonly executionTime: number;
  /** Resolves with the outcome once it is delivered. Never rejects. */
  readonly done: Promise<JobOutcome>;
  /** Aborts the job: its `ctx.signal` aborts with `reason` and it is settled at once. */
  abort(reason: unknown): void;
}

/**
 * One worker lifecycle for every intake. Intakes call {@linkcode JobWorker.submit} and deliver
 * the outcome; the worker runs the job through the gate, times it out, cancels it, drains it on
 * shutdown and counts it.
 *
 * @example Two jobs through one worker
 * ```ts
 * import { JobWorker } from "./job_worker.ts";
 * import { parseConfig } from "../config.ts";
 * import { RunPodLogger } from "../run_pod_logger.ts";
 * const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: "r", version: "0" };
 * const worker = new JobWorker({
 *   config: parseConfig({ handler: (job: { input: unknown }) => job.input }),
 *   logger: new RunPodLogger({ level: "NOTSET" }),
 *   info,
 * });
 * const a = worker.submit({ id: "a", input: 1 });
 * const b = worker.submit({ id: "b", input: 2 });
 * console.assert((await a.done).body === '{"output":1}' && (await b.done).status === "COMPLETED");
 * worker.stop("done");
 * console.assert(await worker.drain());
 * ```
 */
export class JobWorker {
  /** The gate: the one source of truth for occupancy. */
  readonly gate: ConcurrencyGate;
  /** Counters for metrics and health. */
  readonly stats: WorkerStats;
  readonly #config: WorkerConfig;
  readonly #logger: RunPodLogger;
  readonly #info: WorkerInfo;
  readonly #now: () => number;
  readonly #queueLimit?: number;
  readonly #held = new Map<string, HeldEntry>();
  readonly #tasks = new Map<string | symbol, Promise<void>>();
  /** Resolved when nothing is held any more; made only while the drain waits for that. */
  #idle?: Deferred<void>;
  /** Aborting an entry settles it at once, whatever its handler does with the signal. */
  readonly #abort = (entry: HeldEntry, reason: unknown) => {
    if (entry.started) {
      // Its slot goes back now; its handler is on its own until it returns (see #lateReturn).
      entry.stoppedAt = this.#now();
      this.stats.stoppedRunning++;
    }
    this.#settle(entry, this.#abortedOutcome(reason));
  };
  readonly #shutdown = new AbortController();
  /** Aborted when the drain gives up (its deadline, or a second signal). */
  readonly #forced = new AbortController();
  /** Jobs and tasks the worker gave up on (aborted at the drain's end or on a second signal). */
  #cutShort = 0;
  readonly #stopped = deferred<string>();
  readonly #window: ObservationWindow;
  #poll?: ReturnType<typeof setInterval>;
  #ready = false;
  #reason = "";

  /**
   * Creates a worker; it takes no job until an intake submits one.
   *
   * @param options Configuration, logger, identity and the wait-queue bound.
   * @throws {RangeError} When `queueLimit` is not a non-negative integer.
   */
  constructor(options: JobWorkerOptions) {
    const { config, logger, info } = options;
    if (
      options.queueLimit !== undefined &&
      !(Number.isInteger(options.queueLimit) && options.queueLimit >= 0)
    ) {
      throw new RangeError(
        `'queueLimit' must be a non-negative integer: received ${options.queueLimit}`,
      );
    }
    this.#config = config;
    this.#logger = logger;
    this.#info = info;
    this.#now = options.now ?? (() => performance.now());
    this.#queueLimit = options.queueLimit;
    this.#window = new ObservationWindow(this.#now);
    this.stats = new WorkerStats();
    this.gate = new ConcurrencyGate({
      limit: 1,
      maxLimit: config.maxConcurrency,
      modifier: config.concurrencyModifier,
      observe: (state) => this.#window.take(state),
      logger,
    });
  }

  /** Aborts when shutdown begins: intakes stop taking and abort their long-polls. */
  get signal(): AbortSignal {
    return this.#shutdown.signal;
  }

  /**
   * Aborts when the worker stops waiting for its work: the drain deadline passed, or a second
   * signal came. Tracked tasks (webhook posts) listen to it, so they cannot hold the exit.
   */
  get forcedSignal(): AbortSignal {
    return this.#forced.signal;
  }

  /** Resolves with the reason once shutdown begins. */
  get stopped(): Promise<string> {
    return this.#stopped.promise;
  }

  /** `initializing` until {@linkcode JobWorker.start}, `ready`, then `draining` once stopping. */
  get state(): "initializing" | "ready" | "draining" {
    if (this.#shutdown.signal.aborted) return "draining";
    return this.#ready ? "ready" : "initializing";
  }

  /** How many jobs (and tracked tasks) the worker holds. */
  get size(): number {
    return this.#held.size + this.#tasks.size;
  }

  /** The wait-queue bound for `admission: "queue"`: the option, else the current limit. */
  get queueLimit(): number {
    return this.#queueLimit ?? this.gate.limit;
  }

  /**
   * Reads the modifier once, then re-reads it every `concurrencyPollMs`; the worker is ready.
   *
   * @returns The limit in force.
   */
  async start(): Promise<number> {
    const limit = await this.gate.refresh();
    if (this.#config.concurrencyModifier && !this.#shutdown.signal.aborted) {
      this.#poll = setInterval(() => void this.gate.refresh(), this.#config.concurrencyPollMs);
    }
    this.#ready = true;
    return limit;
  }

  /**
   * Stops on SIGTERM and SIGINT; a second signal skips the rest of the drain.
   *
   * @param onSignal The runtime's `onSignal`.
   * @returns A function that removes the listeners.
   */
  listen(onSignal: (signal: ShutdownSignal, listener: () => void) => () => void): () => void {
    const removers = (["SIGTERM", "SIGINT"] as const).map((signal) =>
      onSignal(signal, () => this.stop(`${signal} received`))
    );
    return () => removers.forEach((remove) => remove());
  }

  /** Whether the worker holds a job (or task) with this id. */
  has(id: string): boolean {
    return this.#held.has(id) || this.#tasks.has(id);
  }

  /** The held job with this id, if any. */
  get(id: string): HeldJob | undefined {
    return this.#held.get(id);
  }

  /**
   * Runs a job through the gate. The returned handle's `done` resolves once the outcome is
   * delivered; every submitted job gets exactly one outcome.
   *
   * @param job The job.
   * @param options Slot, admission rule, sink, progress, timeout and delivery.
   * @returns The held job.
   * @throws {WorkerDrainingError} With `admission: "queue"` while draining.
   * @throws {WorkerBusyError} With `admission: "queue"` when slots and wait queue are full.
   * @throws {TypeError} When a job with this id is already held.
   */
  submit(job: Job, options: SubmitOptions = {}): HeldJob {
    if (this.has(job.id)) {
      throw new TypeError(`Job ${job.id} is already held by this worker`);
    }
    const gate = this.gate;
    if (options.admission === "queue") {
      if (this.#shutdown.signal.aborted) throw new WorkerDrainingError(this.#reason);
      if (gate.free === 0 && gate.waiting >= this.queueLimit) {
        throw new WorkerBusyError(gate.limit, this.queueLimit);
      }
    }
    const entry = new HeldEntry(job, options, this.#now, this.#abort);
    this.#held.set(job.id, entry);
    this.stats.accepted++;
    // A free slot is taken at once, so the job starts inside submit() (no extra turn).
    const permit = options.permit ?? gate.tryAcquire();
    if (permit) this.#start(entry, permit);
    else {
      gate.acquire({ signal: entry.signal }).then(
        (granted) => this.#start(entry, granted),
        // Aborted while waiting for a slot: settled by the abort already.
        () => this.#settle(entry, this.#abortedOutcome(entry.signal.reason)),
      );
    }
    return entry;
  }

  /**
   * Keeps the worker busy with a task that is not a job (a FAILED answer to a malformed job, a
   * webhook post): the drain waits for it. The worker does not abort it itself: a task that
   * should stop when the drain gives up listens to {@linkcode JobWorker.forcedSignal}, and one
   * still unfinished then makes the drain unclean. Under a job id, `has(id)` is true while it
   * runs; under a symbol (a webhook post, say) it can never stand in the way of a job.
   *
   * @param id The job id it stands for, or a symbol of its own.
   * @param task The work.
   */
  track(id: string | symbol, task: Promise<unknown>): void {
    if (typeof id === "string" ? this.has(id) : this.#tasks.has(id)) return;
    const tracked = task.then(() => {}, () => {}).then(() => {
      this.#tasks.delete(id);
      this.#checkIdle();
    });
    this.#tasks.set(id, tracked);
  }

  /**
   * Aborts a held job, as a client's cancel does: `ctx.signal` aborts and the job is settled.
   *
   * @param id The job id.
   * @param reason The abort reason. @default a {@linkcode JobStoppedError}
   * @returns Whether a job was held under this id.
   */
  cancel(id: string, reason: unknown = new JobStoppedError(id)): boolean {
    const entry = this.#held.get(id);
    if (!entry) return false;
    entry.abort(reason);
    return true;
  }

  /**
   * Begins shutdown once: `signal` aborts, polling stops, `stopped` resolves. Called again by a
   * second signal, it aborts every running job (skipping the rest of the drain).
   *
   * @param reason Why, for the log.
   */
  stop(reason: string): void {
    if (this.#shutdown.signal.aborted) {
      if (reason.endsWith("received")) this.abortAll(`${reason} again`);
      return;
    }
    this.#reason = reason;
    clearInterval(this.#poll);
    this.#logger.info(`Shutting down (${reason}): taking no new jobs, ${this.size} running.`);
    this.#shutdown.abort(new WorkerShutdownError(reason));
    this.#stopped.resolve(reason);
  }

  /**
   * Waits for every held job, up to `drainTimeoutMs`; past it, aborts them (they are reported
   * FAILED) and gives their delivery {@linkcode REPORT_GRACE_MS} more.
   *
   * @returns Whether no job had to be aborted and no tracked task (a webhook post, say) was left
   * unfinished: a clean drain. Jobs still delivering at the deadline are not aborted; the intake
   * knows whether their deliveries got through.
   */
  async drain(): Promise<boolean> {
    const { drainTimeoutMs } = this.#config;
    if (this.size === 0) return this.#cutShort === 0;
    this.#logger.info(
      `Waiting up to ${drainTimeoutMs} ms for ${this.size} ${
        this.size === 1 ? "job" : "jobs"
      } to finish.`,
    );
    if (await this.#settledWithin(drainTimeoutMs)) return this.#cutShort === 0;
    this.abortAll(`the ${drainTimeoutMs} ms drain deadline passed`);
    // Aborted jobs deliver their FAILED outcomes now; deliveries in flight may be retrying.
    await this.#settledWithin(REPORT_GRACE_MS);
    if (this.size > 0) {
      this.#logger.error(
        `${this.size} results could not be delivered within the ${REPORT_GRACE_MS} ms grace after the drain deadline: ${
          [...this.#held.keys(), ...this.#tasks.keys()].map(String).join(", ")
        }`,
      );
    }
    // Jobs that were only delivering their results were not cut short: the intake reports
    // whether those deliveries got through. A task left unfinished is a result not delivered.
    return this.#cutShort === 0;
  }

  /**
   * Aborts every held job that is still running (not those only delivering their outcome) with
   * a {@linkcode WorkerShutdownError}, and aborts {@linkcode JobWorker.forcedSignal} for the
   * tracked tasks. Either makes the drain unclean.
   *
   * @param why Why, for the log and the error message.
   * @returns How many jobs were aborted.
   */
  abortAll(why: string): number {
    if (this.#tasks.size > 0 && !this.#forced.signal.aborted) {
      this.#logger.warn(`Giving up on ${this.#tasks.size} tasks (such as webhook posts): ${why}.`);
    }
    this.#cutShort += this.#forced.signal.aborted ? 0 : this.#tasks.size;
    this.#forced.abort(new WorkerShutdownError(`The worker stopped waiting: ${why}`));
    const running = [...this.#held.values()].filter((entry) => !entry.delivering);
    this.#cutShort += running.length;
    const delivering = this.size - running.length;
    if (running.length === 0) return 0;
    this.#logger.warn(
      `Aborting ${running.length} running jobs: ${why}.${
        delivering > 0 ? ` ${delivering} results are still being delivered.` : ""
      }`,
    );
    const error = new WorkerShutdownError(
      `The worker shut down (${this.#reason || why}) before the job finished: ${why}`,
    );
    for (const entry of running) entry.abort(error);
    return running.length;
  }

  /** A bug in running or settling a job: logged, and the job still gets its one outcome. */
  #bug(entry: HeldEntry, error: unknown): void {
    this.#logger.error(`Job handling failed: ${String(error)}`, entry.job.id);
    if (!entry.outcome) this.#settle(entry, this.#abortedOutcome(error));
    else if (this.#held.get(entry.job.id) === entry) this.#release(entry);
  }

  async #settledWithin(ms: number): Promise<boolean> {
    if (this.size === 0) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = (this.#idle ??= deferred<void>()).promise;
    const settled = await Promise.race([
      idle.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
    clearTimeout(timer);
    return settled || this.size === 0;
  }

  #checkIdle(): void {
    if (this.#idle && this.size === 0) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  }

  /** Runs the job in its slot; its end (or an abort, whichever is first) settles it. */
  #start(entry: HeldEntry, permit: Permit): void {
    if (entry.outcome) {
      permit.release(); // settled by an abort while the slot was being granted
      return;
    }
    const config = this.#config;
    const { job, options } = entry;
    entry.begin(permit);
    options.onStart?.();
    // A submitter's timeout may shorten the operator's, never lift it.
    const timeoutMs = minDefined(options.timeoutMs, config.executionTimeoutMs);
    if (timeoutMs !== undefined) {
      entry.timer = setTimeout(
        () => entry.abort(new JobTimeoutError(job.id, timeoutMs)),
        timeoutMs,
      );
    }
    const done = runJob(job, {
      settleOnAbort: false,
      handler: config.handler,
      info: this.#info,
      logger: this.#logger,
      signal: entry.lazySignal,
      inputSchema: options.inputValidated ? undefined : config.inputSchema,
      aggregate: options.aggregate ?? config.returnAggregateStream,
      refreshWorker: config.refreshWorker,
      sink: options.sink,
      progress: options.progress,
      maxResultBytes: config.maxResultBytes,
    });
    if (done instanceof Promise) {
      done.then((ended) => this.#settle(entry, ended)).catch((error) => this.#bug(entry, error));
    } else {
      // A plain value: settled in a microtask, so the outcome is still delivered after submit()
      // returns, as intakes expect. A resolved promise's `then`, not queueMicrotask(): on Node
      // that makes an AsyncResource per call and runs the callback through async_hooks.
      RESOLVED.then(() => {
        try {
          this.#settle(entry, done);
        } catch (error) {
          this.#bug(entry, error);
        }
      });
    }
  }

  /** The job's one outcome: recorded, then delivered while the job still holds its slot. */
  #settle(entry: HeldEntry, done: ExecutedJob): void {
    if (entry.outcome) return this.#lateReturn(entry); // aborted first: its result is dropped
    const outcome = entry.end(done);
    const id = outcome.id;
    if (outcome.aborted instanceof JobStoppedError) this.#logger.info("Job stopped.", id);
    this.stats.record(outcome, entry.started);
    if (outcome.status === "COMPLETED" || outcome.status === "FAILED") {
      if (!(outcome.aborted instanceof WorkerShutdownError)) {
        this.#window.record(outcome.executionTime, outcome.status === "COMPLETED");
      }
    }
    const deliver = entry.options.deliver;
    let delivering: Promise<void> | void = undefined;
    try {
      delivering = deliver?.(outcome);
    } catch (error) {
      this.#undelivered(id, error);
    }
    if (delivering && typeof delivering.then === "function") {
      delivering.then(
        () => this.#release(entry),
        (error) => (this.#undelivered(id, error), this.#release(entry)),
      );
    } else this.#release(entry);
  }

  /**
   * A stopped job's handler has returned at last. One that took a second or more ignored
   * `ctx.signal` and ran beside the next jobs, holding what it held: say so, once.
   */
  #lateReturn(entry: HeldEntry): void {
    const stoppedAt = entry.stoppedAt;
    if (stoppedAt === undefined) return;
    entry.stoppedAt = undefined;
    this.stats.stoppedRunning--;
    const ms = Math.round(this.#now() - stoppedAt);
    if (ms < LATE_RETURN_WARN_MS) return;
    this.#logger.warn(
      `The handler returned ${ms} ms after the job was stopped: it does not stop on ctx.signal, ` +
        `so it ran on beside the next jobs (its result was dropped).`,
      entry.job.id,
    );
  }

  #undelivered(id: string, error: unknown): void {
    this.#logger.error(`Delivering the result failed: ${String(error)}`, id);
  }

  #release(entry: HeldEntry): void {
    if (this.#config.refreshWorker) this.stop("refresh_worker: the job is done");
    this.#held.delete(entry.job.id);
    entry.release();
    this.#checkIdle();
  }

  #abortedOutcome(reason: unknown): ExecutedJob {
    return abortedJob(reason, {
      info: this.#info,
      logger: this.#logger,
      refreshWorker: this.#config.refreshWorker,
      maxResultBytes: this.#config.maxResultBytes,
    });
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/** A released entry's options: nothing of the run's is kept. */
const RELEASED_OPTIONS: SubmitOptions = Object.freeze({});

const NOT_ABORTED: unique symbol = Symbol("not aborted");

/** A stopped handler returning this long after its stop is reported as ignoring the signal. */
const LATE_RETURN_WARN_MS = 1000;

/**
 * The registry entry, which is also the {@linkcode HeldJob} handed out. It is one object with
 * its methods on the prototype, and its `AbortController` and `done` promise are made only
 * when something reads them: most jobs are never aborted and nobody awaits them but the intake.
 */
class HeldEntry implements HeldJob {
  readonly job: Job;
  /** How it was submitted; let go of once it is delivered ({@linkcode HeldEntry.release}). */
  options: SubmitOptions;
  /** The job's outcome, once it is settled (it is then delivering, or delivered). */
  outcome?: JobOutcome;
  timer?: ReturnType<typeof setTimeout>;
  /** When the job was aborted while its handler ran, until the handler returns. */
  stoppedAt?: number;
  /** `signal`, made on first read (a handler that never reads `ctx.signal` costs none). */
  readonly lazySignal = () => this.signal;
  readonly #now: () => number;
  readonly #onAbort: (entry: HeldEntry, reason: unknown) => void;
  readonly #queuedAt: number;
  #startedAt?: number;
  #endedAt?: number;
  #permit?: Permit;
  #controller?: AbortController;
  #reason: unknown = NOT_ABORTED;
  #done?: Deferred<JobOutcome>;
  #released = false;

  constructor(
    job: Job,
    options: SubmitOptions,
    now: () => number,
    onAbort: (entry: HeldEntry, reason: unknown) => void,
  ) {
    this.job = job;
    this.options = options;
    this.#now = now;
    this.#onAbort = onAbort;
    this.#queuedAt = now();
  }

  /** Whether the job got a slot and its handler was called. */
  get started(): boolean {
    return this.#startedAt !== undefined;
  }

  get status(): "IN_QUEUE" | "IN_PROGRESS" {
    return this.#startedAt === undefined ? "IN_QUEUE" : "IN_PROGRESS";
  }

  get delayTime(): number {
    return Math.round((this.#startedAt ?? this.#now()) - this.#queuedAt);
  }

  get executionTime(): number {
    const startedAt = this.#startedAt;
    return startedAt === undefined ? 0 : Math.round((this.#endedAt ?? this.#now()) - startedAt);
  }

  get done(): Promise<JobOutcome> {
    if (this.#released) return Promise.resolve(this.outcome!);
    return (this.#done ??= deferred<JobOutcome>()).promise;
  }

  /** The job's signal; it aborts (with the reason) when the job is aborted. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason !== NOT_ABORTED) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** The handler is done and the outcome is being delivered: nothing left to abort. */
  get delivering(): boolean {
    return this.#endedAt !== undefined;
  }

  abort(reason: unknown): void {
    if (this.#reason !== NOT_ABORTED || this.#endedAt !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#onAbort(this, reason);
  }

  begin(permit: Permit): void {
    this.#permit = permit;
    this.#startedAt = this.#now();
  }

  end(done: ExecutedJob): JobOutcome {
    clearTimeout(this.timer);
    const at = this.#endedAt = this.#now();
    const startedAt = this.#startedAt;
    return this.outcome = {
      result: done.result,
      body: done.body,
      isStream: done.isStream,
      aborted: done.aborted,
      id: this.job.id,
      status: jobStatus(done),
      delayTime: Math.round((startedAt ?? at) - this.#queuedAt),
      executionTime: startedAt === undefined ? 0 : Math.round(at - startedAt),
    };
  }

  /** Delivered: the slot goes back and `done` resolves. */
  release(): void {
    this.#released = true;
    this.#permit?.release();
    this.#done?.resolve(this.outcome!);
    // Let go of what only the run needed: the intake's callbacks (and all they hold), the slot,
    // the promise. A map's old backing store, dead but not yet collected, may still point at
    // this entry, and would keep all of that alive and promoted until the next full GC: letting
    // go cut what push mode promotes per request by about a third on Deno.
    this.options = RELEASED_OPTIONS;
    this.#permit = undefined;
    this.#done = undefined;
  }
}

/** The smaller of two optional numbers; `undefined` when both are. */
function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
