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
 * @throws {TypeError} When `job` is not a job that is running.
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
    return Promise.reject(
      new TypeError(
        `Cannot send progress as the job must be one that is running: received job ${String(id)}`,
      ),
    );
  }
  return typeof send === "function" ? send(update) : send.progress(update);
}
