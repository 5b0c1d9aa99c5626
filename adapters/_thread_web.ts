/**
 * Bootstrap of a Web `Worker` thread (Deno, Bun): the first message names the module and its
 * data; the module's `threadMain` then gets a {@linkcode ThreadPort} for the rest.
 *
 * @module
 */

import type { ThreadMain, ThreadPort } from "../src/runtime.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

let listener: ((message: unknown) => void) | undefined;
let started = false;
const early: unknown[] = [];
const port: ThreadPort = {
  postMessage: (message) => scope.postMessage(message),
  onMessage(fn) {
    listener = fn;
    for (const message of early.splice(0)) fn(message);
  },
  close: () => scope.close(),
};

scope.onmessage = (event) => {
  if (started) {
    if (listener) listener(event.data);
    else early.push(event.data);
    return;
  }
  started = true;
  const { url, data } = event.data as { url: string; data: unknown };
  import(url).then(({ threadMain }: { threadMain: ThreadMain }) => threadMain(data, port));
};
