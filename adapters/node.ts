/**
 * The Node.js entry point: `import { start } from "edgepod/node"`. Run handlers with
 * `node --import tsx handler.ts`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import type { StartOptions } from "../src/config.ts";
import type { Runtime, Server, ThreadHandle } from "../src/runtime.ts";
import { startWorker } from "../src/start_worker.ts";
import { lookupHost } from "./_lookup_host.ts";
import { nodeHttpClient } from "./_node_http_client.ts";
import { type ServerlessNamespace, serverlessNamespace } from "./_serverless.ts";

export * from "../src/mod.ts";

/**
 * The Node.js {@linkcode Runtime}.
 *
 * @example
 * ```ts ignore
 * import { runtime } from "edgepod/node";
 * console.log(runtime.version);
 * ```
 */
export const runtime: Runtime = {
  name: "node",
  version: process.versions.node,
  args: process.argv.slice(2),
  env: (name) => process.env[name],
  async readTextFile(path) {
    try {
      return await readFile(path, "utf8");
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return undefined;
      throw error;
    }
  },
  // Writes to pipes and files are synchronous on Linux, so nothing is lost on exit.
  writeStdout: (text) => void process.stdout.write(text),
  onSignal(signal, listener) {
    process.on(signal, listener);
    return () => void process.off(signal, listener);
  },
  exit: (code) => process.exit(code),
  // @hono/node-server is loaded on first use: the pull worker and local test mode never serve,
  // and importing it costs Node about as much as the rest of edgepod (see BENCHMARKS.md).
  async serve(fetch, options = {}) {
    const { serve } = await import("@hono/node-server");
    return await new Promise<Server>((resolve, reject) => {
      const server = serve(
        { fetch, hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 },
        (info) =>
          resolve({
            hostname: info.address,
            port: info.port,
            close: ({ graceMs = 0 } = {}) =>
              new Promise<void>((done) => {
                const http = server as {
                  closeAllConnections?: () => void;
                  closeIdleConnections?: () => void;
                };
                const timer = setTimeout(() => http.closeAllConnections?.(), graceMs);
                server.close(() => {
                  clearTimeout(timer);
                  done();
                });
                http.closeIdleConnections?.();
                if (graceMs === 0) http.closeAllConnections?.();
              }),
          }),
      );
      // A port in use (EADDRINUSE) or not permitted rejects, as on Deno and Bun, instead of an
      // unhandled 'error' event that kills the process.
      const failed = (error: Error) => reject(error);
      server.once("error", failed);
      server.once("listening", () => server.off("error", failed));
    });
  },
  startThread(source, data): ThreadHandle {
    if (typeof source !== "string") {
      throw new TypeError(
        `A thread's source must be a string of JavaScript: received ${typeof source}`,
      );
    }
    const worker = new Worker(source + NODE_BOOTSTRAP, { eval: true, workerData: data });
    worker.unref();
    return {
      postMessage: (message) => worker.postMessage(message),
      onMessage: (listener) => void worker.on("message", listener),
      onError: (listener) => void worker.on("error", listener),
      terminate: async () => void await worker.terminate(),
    };
  },
  http: nodeHttpClient,
  lookupHost,
  residentMemory: () => process.memoryUsage.rss(),
};

/**
 * Appended to the thread's source (evaluated as a CommonJS script, so no loader such as tsx is
 * involved): calls its `threadMain` with `workerData` and a port over `parentPort`.
 */
const NODE_BOOTSTRAP = `
;(() => {
  const { parentPort, workerData } = require("node:worker_threads");
  const port = {
    postMessage: (message) => parentPort.postMessage(message),
    onMessage: (listener) => void parentPort.on("message", listener),
    close: () => parentPort.close(),
  };
  Promise.resolve()
    .then(() => threadMain(workerData, port))
    .catch((error) => setImmediate(() => { throw error; }));
})();
`;

/**
 * Starts the worker on Node.js (see `startWorker` for the modes).
 *
 * @param options The handler and settings.
 * @returns Never resolves: the process exits when the worker ends.
 *
 * @example
 * ```ts ignore
 * import { start } from "edgepod/node";
 * start({ handler: (job) => ({ echo: job.input }) });
 * ```
 */
export function start(options: StartOptions): Promise<never> {
  return startWorker(runtime, options);
}

/** RunPod's `serverless` namespace: `runpod.serverless.start({...})`. */
export const serverless: ServerlessNamespace = serverlessNamespace(start);
