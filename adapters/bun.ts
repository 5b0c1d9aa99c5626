/**
 * The Bun entry point: `import { start } from "edgepod/bun"`. Run handlers with
 * `bun handler.ts`.
 *
 * @module
 */

import { writeSync } from "node:fs";
import type { StartOptions } from "../src/config.ts";
import { fetchClient } from "../src/http_client.ts";
import type { Runtime, Server, ThreadHandle } from "../src/runtime.ts";
import { startWorker } from "../src/start_worker.ts";
import { type ServerlessNamespace, serverlessNamespace } from "./_serverless.ts";
import { lookupHost } from "./_lookup_host.ts";
import { startWebThread } from "./_web_thread.ts";
import { withinGrace } from "./_within_grace.ts";

export * from "../src/mod.ts";

/** The part of the `Bun` namespace this adapter uses (so tsc needs no Bun typings). */
interface BunApi {
  version: string;
  env: Record<string, string | undefined>;
  file(path: string): { exists(): Promise<boolean>; text(): Promise<string> };
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request, server: BunServer) => Response | Promise<Response>;
  }): {
    hostname: string;
    port: number;
    /** The bound address (`hostname` echoes the name asked for, such as `localhost`). */
    address?: { address: string };
    stop(closeActive?: boolean): Promise<void> | void;
  };
}
/** The server argument of a `Bun.serve` handler. */
interface BunServer {
  /** Sets one request's idle timeout in seconds; `0` removes it. */
  timeout(request: Request, seconds: number): void;
}
declare const Bun: BunApi;

/**
 * The Bun {@linkcode Runtime}.
 *
 * @example
 * ```ts ignore
 * import { runtime } from "edgepod/bun";
 * console.log(runtime.version);
 * ```
 */
export const runtime: Runtime = {
  name: "bun",
  version: Bun.version,
  args: process.argv.slice(2),
  env: (name) => Bun.env[name],
  async readTextFile(path) {
    const file = Bun.file(path);
    return await file.exists() ? await file.text() : undefined;
  },
  // A synchronous write, so a line written just before exit() is never lost.
  writeStdout(text) {
    let buffer = Buffer.from(text);
    while (buffer.length > 0) {
      try {
        buffer = buffer.subarray(writeSync(1, buffer));
      } catch (error) {
        if ((error as { code?: string }).code !== "EAGAIN") throw error;
      }
    }
  },
  onSignal(signal, listener) {
    process.on(signal, listener);
    return () => void process.off(signal, listener);
  },
  exit: (code) => process.exit(code),
  serve(fetch, options = {}) {
    let server: ReturnType<typeof Bun.serve>;
    try {
      server = Bun.serve({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        // Bun cuts a connection after 10 s without a byte, even while its response is pending:
        // a long sync job, a queued or quiet stream, a long-poll. No limit while a request is
        // being answered, as on Node and Deno; idle keep-alive connections keep Bun's default.
        fetch: (request, bun) => {
          bun.timeout(request, 0);
          return fetch(request);
        },
      });
    } catch (error) {
      return Promise.reject(error); // a port in use: rejected, as the contract says
    }
    return Promise.resolve<Server>({
      hostname: server.address?.address ?? server.hostname, // as Node and Deno answer
      port: server.port,
      close: async ({ graceMs = 0 } = {}) => {
        if (graceMs > 0) await withinGrace(Promise.resolve(server.stop(false)), graceMs);
        await server.stop(true);
      },
    });
  },
  startThread(source, data): ThreadHandle {
    const { handle, worker } = startWebThread(source, data);
    (worker as Worker & { unref?: () => void }).unref?.();
    return handle;
  },
  http: fetchClient,
  lookupHost,
  residentMemory: () => process.memoryUsage.rss(),
};

/**
 * Starts the worker on Bun (see `startWorker` for the modes).
 *
 * @param options The handler and settings.
 * @returns Never resolves: the process exits when the worker ends.
 *
 * @example
 * ```ts ignore
 * import { start } from "edgepod/bun";
 * start({ handler: (job) => ({ echo: job.input }) });
 * ```
 */
export function start(options: StartOptions): Promise<never> {
  return startWorker(runtime, options);
}

/** RunPod's `serverless` namespace: `runpod.serverless.start({...})`. */
export const serverless: ServerlessNamespace = serverlessNamespace(start);
