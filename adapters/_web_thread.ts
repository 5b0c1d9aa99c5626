/**
 * A {@linkcode ThreadHandle} over a Web `Worker` (Deno, Bun), running `_thread_web.ts`, which
 * imports the module and calls its `threadMain`.
 *
 * @module
 */

import type { ThreadHandle } from "../src/runtime.ts";
import { siblingUrl } from "../src/sibling_url.ts";

/**
 * Starts a Web `Worker` running `moduleUrl`'s `threadMain` with `data`.
 *
 * @param moduleUrl The module to run.
 * @param data Passed to `threadMain`.
 * @returns The parent's end of the thread and the worker itself.
 *
 * @example
 * ```ts ignore
 * const { handle } = startWebThread(new URL("./job.ts", import.meta.url), { n: 1 });
 * ```
 */
export function startWebThread(
  moduleUrl: URL,
  data: unknown,
): { handle: ThreadHandle; worker: Worker } {
  const worker = new Worker(siblingUrl("./_thread_web", import.meta.url).href, { type: "module" });
  worker.postMessage({ url: moduleUrl.href, data });
  const handle: ThreadHandle = {
    postMessage: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.addEventListener("message", (e) => listener(e.data)),
    onError: (listener) =>
      worker.addEventListener("error", (e) => {
        e.preventDefault();
        listener(e.error ?? new Error(e.message));
      }),
    terminate: () => Promise.resolve(worker.terminate()),
  };
  return { handle, worker };
}

/** The thread bootstrap's URL, for permission checks. */
export const WEB_THREAD_BOOTSTRAP: URL = siblingUrl("./_thread_web", import.meta.url);
