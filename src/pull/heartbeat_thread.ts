/**
 * The heartbeat's thread side: pings RunPod on a fixed cadence from its own event loop, so a
 * handler that blocks the main thread for seconds cannot delay a ping. The thread does not load
 * this file: the build bundles it (with what it imports) into `heartbeat_thread_source.ts`, whose
 * string the thread starts from. Keep it free of runtime globals and of `import`s other than
 * `src/` modules.
 *
 * @module
 */

import type { ThreadPort } from "../runtime.ts";
import { readJobMirror } from "./job_mirror.ts";

/** What the main thread passes to the heartbeat thread. */
export interface HeartbeatData {
  /** The ping URL, placeholders substituted. */
  url: string;
  /** The raw API key. */
  apiKey: string;
  /** The period in ms. */
  intervalMs: number;
  /** Sent as `runpod_version`. */
  version: string;
  /** The {@linkcode JobMirror}'s buffer: the job ids, read at each ping. */
  mirror: SharedArrayBuffer;
}

/** Messages from the main thread. */
export type HeartbeatCommand = { type: "stop" };

/** Messages to the main thread. */
export type HeartbeatReport =
  | { type: "log"; level: "DEBUG" | "WARN" | "ERROR"; message: string }
  | { type: "stopped" };

/**
 * The thread's entry point: pings at once, then every `intervalMs` on a fixed schedule (a slow
 * answer never shifts later pings), listing the jobs taken as `job_id=a,b` (omitted when there
 * are none), read from the shared job mirror. Each ping times out after two intervals. On
 * `stop` it sends a last ping with the current list (empty after a drain) and reports
 * `stopped`.
 *
 * @param data The ping settings.
 * @param port The channel to the main thread.
 *
 * @example
 * ```ts ignore
 * // Runs in the thread, from the bundled source in heartbeat_thread_source.ts:
 * runtime.startThread(HEARTBEAT_THREAD_SOURCE, data);
 * ```
 */
export function threadMain(data: unknown, port: ThreadPort): void {
  const { url, apiKey, intervalMs, version, mirror } = data as HeartbeatData;
  const base = new URL(url);
  base.searchParams.delete("job_id");
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let lastError = "";

  const ping = async () => {
    let target = base.href;
    const jobs = readJobMirror(mirror);
    if (jobs.length > 0) {
      target += `${base.search ? "&" : "?"}job_id=${jobs.map(encodeURIComponent).join(",")}`;
    }
    target += `${target.includes("?") ? "&" : "?"}runpod_version=${encodeURIComponent(version)}`;
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(new Error("ping timed out")), intervalMs * 2);
    try {
      const res = await fetch(target, {
        headers: { authorization: apiKey },
        signal: controller.signal,
      });
      await res.body?.cancel();
      port.postMessage({
        type: "log",
        level: "DEBUG",
        message: `Heartbeat Sent | URL: ${target} | Status: ${res.status}`,
      });
      lastError = "";
    } catch (error) {
      const message = `Ping Request Error: ${
        error instanceof Error ? error.message : String(error)
      }`;
      // One line per distinct failure, not one per interval while the endpoint is down.
      if (message !== lastError) port.postMessage({ type: "log", level: "ERROR", message });
      lastError = message;
    } finally {
      clearTimeout(timeout);
    }
  };

  const started = performance.now();
  let beats = 0;
  const tick = () => {
    if (stopped) return;
    void ping();
    beats++;
    timer = setTimeout(tick, Math.max(0, started + beats * intervalMs - performance.now()));
  };

  port.onMessage(async (message) => {
    const command = message as HeartbeatCommand;
    if (command.type === "stop" && !stopped) {
      stopped = true;
      clearTimeout(timer);
      await ping();
      port.postMessage({ type: "stopped" });
      port.close();
    }
  });
  tick();
}
