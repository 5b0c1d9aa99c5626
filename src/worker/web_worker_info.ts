/**
 * The identity of a worker made without a runtime adapter (an app built for any Web-standard
 * runtime, an edge isolate included).
 *
 * @module
 */

import type { WorkerInfo } from "../job_result.ts";
import { EDGEPOD_VERSION } from "../version.ts";

/**
 * A random worker id, no endpoint, an `unknown` host and the `web` runtime.
 *
 * @returns The identity.
 *
 * @example
 * ```ts
 * import { webWorkerInfo } from "./web_worker_info.ts";
 * const info = webWorkerInfo();
 * console.assert(info.runtime === "web" && info.workerId !== webWorkerInfo().workerId);
 * ```
 */
export function webWorkerInfo(): WorkerInfo {
  return {
    workerId: crypto.randomUUID(),
    endpointId: undefined,
    hostname: "unknown",
    runtime: "web",
    version: EDGEPOD_VERSION,
  };
}
