/**
 * Bootstrap of a Node `worker_threads` thread: imports the module named in `workerData` and
 * calls its `threadMain` with a {@linkcode ThreadPort} over `parentPort`.
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import type { ThreadMain, ThreadPort } from "../src/runtime.ts";

const { url, data } = workerData as { url: string; data: unknown };
const parent = parentPort!;
const port: ThreadPort = {
  postMessage: (message) => parent.postMessage(message),
  onMessage: (listener) => void parent.on("message", listener),
  close: () => parent.close(),
};
const { threadMain } = await import(url) as { threadMain: ThreadMain };
await threadMain(data, port);
