/**
 * The heartbeat's main-thread side: starts the ping thread and keeps its job list current.
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";
import type { RunPodLogger } from "../run_pod_logger.ts";
import type { Runtime, ThreadHandle } from "../runtime.ts";
import { siblingUrl } from "../sibling_url.ts";
import type { HeartbeatData, HeartbeatReport } from "./heartbeat_thread.ts";

/** Options for {@linkcode Heartbeat.start}. */
export interface HeartbeatOptions extends HeartbeatData {
  /** Whether `RUNPOD_POD_ID` is set (pings need a real pod id). */
  hasPodId: boolean;
}

/**
 * The heartbeat. Job ids are sent to the thread as ordered deltas, batched per microtask;
 * {@linkcode Heartbeat.flush} sends them at once (before starting jobs, so a handler that blocks
 * immediately is still listed in pings).
 *
 * @example
 * ```ts ignore
 * const heartbeat = Heartbeat.start(runtime, logger, options);
 * heartbeat?.add("job-1");
 * heartbeat?.flush();
 * await heartbeat?.stop();
 * ```
 */
export class Heartbeat {
  readonly #thread: ThreadHandle;
  #ops: string[] = [];
  #scheduled = false;
  readonly #stopped = deferred<void>();
  #stopping = false;

  private constructor(thread: ThreadHandle, logger: RunPodLogger) {
    this.#thread = thread;
    thread.onMessage((message) => {
      const report = message as HeartbeatReport;
      if (report.type === "stopped") this.#stopped.resolve();
      else if (report.level === "DEBUG") logger.debug(report.message);
      else if (report.level === "WARN") logger.warn(report.message);
      else logger.error(report.message);
    });
    thread.onError((error) => {
      logger.error(`The heartbeat thread failed: ${String(error)}`);
      this.#stopped.resolve();
    });
  }

  /**
   * Starts the ping thread when the worker runs on RunPod: an API key, a pod id and a ping URL
   * are all needed (each missing one is logged as the Python SDK does).
   *
   * @param runtime Starts the thread.
   * @param logger Receives the thread's log lines.
   * @param options Ping settings.
   * @returns The heartbeat, or `undefined` when pings are not sent.
   */
  static start(
    runtime: Runtime,
    logger: RunPodLogger,
    options: Partial<HeartbeatOptions> & Pick<HeartbeatOptions, "intervalMs" | "version">,
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
    const data: HeartbeatData = {
      url: options.url,
      apiKey: options.apiKey,
      intervalMs: options.intervalMs,
      version: options.version,
    };
    const module = siblingUrl("./heartbeat_thread", import.meta.url);
    try {
      return new Heartbeat(runtime.startThread(module, data), logger);
    } catch (error) {
      logger.error(
        `Pings will not be sent: ${error instanceof Error ? error.message : String(error)}`,
      );
      return undefined;
    }
  }

  /** Lists a job in pings. */
  add(jobId: string): void {
    this.#ops.push(`+${jobId}`);
    this.#schedule();
  }

  /** Stops listing a job in pings. */
  remove(jobId: string): void {
    this.#ops.push(`-${jobId}`);
    this.#schedule();
  }

  /** Sends pending job-list changes to the thread now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#ops.length === 0 || this.#stopping) return;
    this.#thread.postMessage({ type: "jobs", ops: this.#ops });
    this.#ops = [];
  }

  /**
   * Sends a last ping with the current job list and stops the thread.
   *
   * @param timeoutMs The longest wait for the last ping. @default 2000
   */
  async stop(timeoutMs = 2000): Promise<void> {
    this.flush();
    this.#stopping = true;
    this.#thread.postMessage({ type: "stop" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#stopped.promise,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    await this.#thread.terminate();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.flush());
  }
}
