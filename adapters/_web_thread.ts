/**
 * A {@linkcode ThreadHandle} over a Web `Worker` (Deno, Bun) started from a `data:` URL: the
 * thread's source followed by a small bootstrap, so nothing is loaded from the file system.
 *
 * @module
 */

import type { ThreadHandle } from "../src/runtime.ts";

/**
 * Appended to the thread's source: the first message is the data for `threadMain`; later ones go
 * to the listener `threadMain` registers (those arriving before it registers are queued).
 */
const WEB_BOOTSTRAP = `
;(() => {
  let listener;
  let started = false;
  const early = [];
  const port = {
    postMessage: (message) => self.postMessage(message),
    onMessage(fn) {
      listener = fn;
      for (const message of early.splice(0)) fn(message);
    },
    close: () => self.close(),
  };
  self.onmessage = (event) => {
    if (started) {
      if (listener) listener(event.data);
      else early.push(event.data);
      return;
    }
    started = true;
    Promise.resolve()
      .then(() => threadMain(event.data, port))
      .catch((error) => setTimeout(() => { throw error; }));
  };
})();
`;

/**
 * Starts a Web `Worker` running `source`'s `threadMain` with `data`.
 *
 * @param source The thread's script (see `Runtime.startThread`).
 * @param data Passed to `threadMain`.
 * @returns The parent's end of the thread and the worker itself.
 *
 * @example
 * ```ts ignore
 * const { handle } = startWebThread("function threadMain(d, port) { port.postMessage(d); }", 1);
 * ```
 */
export function startWebThread(
  source: string,
  data: unknown,
): { handle: ThreadHandle; worker: Worker } {
  if (typeof source !== "string") {
    throw new TypeError(
      `A thread's source must be a string of JavaScript: received ${typeof source}`,
    );
  }
  const url = `data:text/javascript,${encodeURIComponent(source + WEB_BOOTSTRAP)}`;
  const worker = new Worker(url, { type: "module" });
  worker.postMessage(data);
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
