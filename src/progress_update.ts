/**
 * The Python SDK's `progress_update(job, progress)`, for handlers ported as written.
 *
 * @module
 */

/** Where a job's updates go: a function, or a context whose `progress` is read when one is sent. */
export type ProgressChannel =
  | ((update: unknown) => Promise<void>)
  | { readonly progress: (update: unknown) => Promise<void> };

const channels = new WeakMap<object, ProgressChannel>();

/**
 * Routes progress updates for `job` to `send` while the job runs (edgepod does this for every
 * job it runs).
 *
 * @param job The job object the handler receives.
 * @param send Delivers one update: a function, or the job's context (its `progress` is read only
 * when an update is sent, so a job that sends none makes no sender).
 * @returns A function that ends the routing.
 *
 * @example
 * ```ts
 * import { bindProgress, progressUpdate } from "./progress_update.ts";
 * const job = { id: "j", input: {} };
 * const seen: unknown[] = [];
 * const unbind = bindProgress(job, async (u) => void seen.push(u));
 * await progressUpdate(job, "half");
 * unbind();
 * console.assert(seen[0] === "half");
 * ```
 */
export function bindProgress(job: object, send: ProgressChannel): () => void {
  channels.set(job, send);
  return () => channels.delete(job);
}

/**
 * Sends a progress update for a running job, as `runpod.serverless.progress_update` does; the
 * same as calling `ctx.progress(update)`. Unlike the Python SDK it returns a promise and keeps
 * updates in order before the final result.
 *
 * @param job The job object the handler received.
 * @param update Any JSON value.
 * @returns Settles once delivered (or superseded by a newer update).
 * @throws {TypeError} (as a rejection, which is never reported as unhandled if not awaited) When
 * `job` is not a job that is running.
 *
 * @example
 * ```ts
 * import { progressUpdate } from "./progress_update.ts";
 * await progressUpdate({ id: "gone", input: 1 }, 50).catch((e) => console.assert(e instanceof TypeError));
 * ```
 */
export function progressUpdate(job: object, update: unknown): Promise<void> {
  const send = channels.get(job);
  if (!send) {
    const id = (job as { id?: unknown })?.id;
    return handledRejection(
      new TypeError(
        `Cannot send progress as the job must be one that is running: received job ${String(id)}`,
      ),
    );
  }
  return typeof send === "function" ? send(update) : send.progress(update);
}

/**
 * A rejected promise that is never reported as unhandled: a caller that awaits it gets the
 * error, and one that does not (Python's `progress_update` returns nothing to await) does not
 * end the process with an unhandled rejection, and with it every other job in flight.
 *
 * @param error The rejection's reason.
 * @returns The rejected promise.
 *
 * @example
 * ```ts
 * import { handledRejection } from "./progress_update.ts";
 * handledRejection(new TypeError("not sent")); // dropped: nothing is reported
 * ```
 */
export function handledRejection(error: unknown): Promise<never> {
  const rejected = Promise.reject(error);
  rejected.catch(() => {});
  return rejected;
}

/**
 * Refuses a progress update that JSON cannot carry: logs why at WARN (a handler ported from
 * Python does not await the update, so it would never see the error) and returns the rejection
 * as a {@linkcode handledRejection}.
 *
 * @param action What was to be done with the update: `"send"` it, or `"log"` it.
 * @param error What `strictStringify` threw for it.
 * @param log Where the warning goes (the job's logger).
 * @returns A rejection with a `TypeError` saying why, never reported as unhandled.
 *
 * @example
 * ```ts
 * import { refuseProgress } from "./progress_update.ts";
 * const lines: string[] = [];
 * const refused = refuseProgress("send", new TypeError("a BigInt"), { warn: (m) => lines.push(m) });
 * await refused.catch((e) => console.assert(e instanceof TypeError));
 * console.assert(lines[0] === "Cannot send progress as it is not JSON-serialisable: a BigInt");
 * ```
 */
export function refuseProgress(
  action: "send" | "log",
  error: unknown,
  log: { warn(message: string): void },
): Promise<never> {
  const why = error instanceof Error ? error.message : String(error);
  const message = `Cannot ${action} progress as it is not JSON-serialisable: ${why}`;
  log.warn(message);
  return handledRejection(new TypeError(message));
}
