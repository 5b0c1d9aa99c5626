/**
 * The heartbeat's main-thread side: keeps the shared job list current and runs the ping thread.
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";
import type { RunPodLogger } from "../run_pod_logger.ts";
import type { Runtime, ThreadHandle } from "../runtime.ts";
import type { HeartbeatData, HeartbeatReport } from "./heartbeat_thread.ts";
import { HEARTBEAT_THREAD_SOURCE } from "./heartbeat_thread_source.ts";
import { JobMirror } from "./job_mirror.ts";

/** How long removals from the job list are gathered before the mirror is rewritten, in ms. */
const REMOVE_DELAY_MS = 10;

/** Options for {@linkcode Heartbeat.create}. */
export interface HeartbeatOptions {
  /** The ping URL, placeholders substituted. */
  url?: string;
  /** The raw API key. */
  apiKey?: string;
  /** Whether `RUNPOD_POD_ID` is set (pings need a real pod id). */
  hasPodId?: boolean;
  /** The period in ms. */
  intervalMs: number;
  /** Sent as `runpod_version`. */
  version: string;
}

/**
 * The heartbeat. Job ids live in a {@linkcode JobMirror} in shared memory that the ping thread
 * reads at each ping. Additions are written at the end of the microtask, or at once by
 * {@linkcode Heartbeat.flush} (before starting jobs, so a handler that blocks the event loop
 * immediately is still listed in pings); removals are gathered for up to 10 ms, since listing a
 * finished job in a ping a few ms longer is harmless. Nothing is posted to the thread per job.
 *
 * @example
 * ```ts ignore
 * const heartbeat = Heartbeat.create(runtime, logger, options);
 * heartbeat?.add("job-1");
 * heartbeat?.flush();
 * heartbeat?.start();
 * await heartbeat?.stop();
 * ```
 */
export class Heartbeat {
  readonly #runtime: Runtime;
  readonly #logger: RunPodLogger;
  readonly #data: HeartbeatData;
  readonly #mirror = new JobMirror();
  readonly #ids = new Set<string>();
  readonly #stopped = deferred<void>();
  #thread?: ThreadHandle;
  #dirty = false;
  #microtask = false;
  #timer?: ReturnType<typeof setTimeout>;
  #warnedTruncated = false;

  private constructor(runtime: Runtime, logger: RunPodLogger, data: Omit<HeartbeatData, "mirror">) {
    this.#runtime = runtime;
    this.#logger = logger;
    this.#data = { ...data, mirror: this.#mirror.buffer };
  }

  /**
   * Prepares the heartbeat when the worker runs on RunPod: an API key, a pod id and a ping URL
   * are all needed (each missing one is logged as the Python SDK does). The thread starts with
   * {@linkcode Heartbeat.start}.
   *
   * @param runtime Starts the thread.
   * @param logger Receives the thread's log lines.
   * @param options Ping settings.
   * @returns The heartbeat, or `undefined` when pings are not sent.
   */
  static create(
    runtime: Runtime,
    logger: RunPodLogger,
    options: HeartbeatOptions,
  ): Heartbeat | undefined {
    if (!options.apiKey) {
      logger.debug("Not deployed on Runpod serverless, pings will not be sent.");
      return undefined;
    }
    if (!options.hasPodId) {
      logger.info("Not running on Runpod, pings will not be sent.");
      return undefined;
    }
    if (!options.url) {
      logger.error("Ping URL not set, cannot start ping.");
      return undefined;
    }
    return new Heartbeat(runtime, logger, {
      url: options.url,
      apiKey: options.apiKey,
      intervalMs: options.intervalMs,
      version: options.version,
    });
  }

  /** Starts the ping thread (the first ping goes out at once). Failing to start is logged. */
  start(): void {
    if (this.#thread) return;
    let thread: ThreadHandle;
    try {
      thread = this.#runtime.startThread(HEARTBEAT_THREAD_SOURCE, this.#data);
    } catch (error) {
      this.#logger.error(
        `Pings will not be sent: ${error instanceof Error ? error.message : String(error)}`,
      );
      this.#stopped.resolve();
      return;
    }
    this.#thread = thread;
    thread.onMessage((message) => {
      const report = message as HeartbeatReport;
      if (report.type === "stopped") this.#stopped.resolve();
      else if (report.level === "DEBUG") this.#logger.debug(report.message);
      else if (report.level === "WARN") this.#logger.warn(report.message);
      else this.#logger.error(report.message);
    });
    thread.onError((error) => {
      this.#logger.error(`The heartbeat thread failed: ${String(error)}`);
      this.#stopped.resolve();
    });
  }

  /** Lists a job in pings (written at the end of the microtask, or by `flush()`). */
  add(jobId: string): void {
    this.#ids.add(jobId);
    this.#dirty = true;
    if (this.#microtask) return;
    this.#microtask = true;
    queueMicrotask(() => {
      this.#microtask = false;
      if (this.#dirty) this.flush();
    });
  }

  /** Stops listing a job in pings (written within 10 ms). */
  remove(jobId: string): void {
    this.#ids.delete(jobId);
    this.#dirty = true;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      if (this.#dirty) this.flush();
    }, REMOVE_DELAY_MS);
  }

  /** Writes the current job list to the shared mirror now (if it changed). */
  flush(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    if (!this.#mirror.write(this.#ids) && !this.#warnedTruncated) {
      this.#warnedTruncated = true;
      this.#logger.warn(`The job list of ${this.#ids.size} ids is over 64 KiB; pings list a part`);
    }
  }

  /**
   * Sends a last ping with the current job list and stops the thread.
   *
   * @param timeoutMs The longest wait for the last ping. @default 2000
   */
  async stop(timeoutMs = 2000): Promise<void> {
    clearTimeout(this.#timer);
    this.flush();
    const thread = this.#thread;
    if (!thread) return;
    thread.postMessage({ type: "stop" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#stopped.promise,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    await thread.terminate();
  }
}
