/**
 * The Deno entry point: `import { start } from "edgepod/deno"`. Least permissions: local test
 * mode needs `--allow-env --allow-read=test_input.json`; the pull worker needs exactly
 * `--allow-env --allow-net=<RunPod API host>` (its heartbeat thread starts from a `data:` URL,
 * so it reads no file).
 *
 * @module
 */

import type { StartOptions } from "../src/config.ts";
import { fetchClient } from "../src/http_client.ts";
import type { Runtime, Server, ThreadHandle } from "../src/runtime.ts";
import { startWorker } from "../src/start_worker.ts";
import { type ServerlessNamespace, serverlessNamespace } from "./_serverless.ts";
import { lookupPermittedHost } from "./_lookup_host.ts";
import { startWebThread } from "./_web_thread.ts";
import { withinGrace } from "./_within_grace.ts";

export * from "../src/mod.ts";

/** The part of the `Deno` namespace this adapter uses (so tsc needs no Deno typings). */
interface DenoApi {
  version: { deno: string };
  args: string[];
  env: { get(name: string): string | undefined };
  permissions: {
    querySync(p: { name: "env"; variable?: string }): {
      state: string;
    };
  };
  readTextFile(path: string): Promise<string>;
  stdout: { writeSync(bytes: Uint8Array): number };
  addSignalListener(signal: string, listener: () => void): void;
  removeSignalListener(signal: string, listener: () => void): void;
  exit(code: number): never;
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { addr: { hostname: string; port: number }; shutdown(): Promise<void>; unref(): void };
  memoryUsage(): { rss: number };
  errors: { NotFound: new (...args: never[]) => Error };
}
declare const Deno: DenoApi;

const encoder = new TextEncoder();
let warnedEnv = false;

/**
 * The Deno {@linkcode Runtime}. Environment variables whose access is not granted read as unset
 * (with one warning on stderr) instead of prompting or throwing.
 *
 * @example
 * ```ts ignore
 * import { runtime } from "edgepod/deno";
 * console.log(runtime.version);
 * ```
 */
export const runtime: Runtime = {
  name: "deno",
  version: Deno.version.deno,
  args: Deno.args,
  env(name) {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      if (!warnedEnv) {
        warnedEnv = true;
        console.error(
          `edgepod: environment access is not granted (run with --allow-env); ${name} and other RUNPOD_* variables read as unset`,
        );
      }
      return undefined;
    }
    return Deno.env.get(name);
  },
  async readTextFile(path) {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  },
  writeStdout(text) {
    let bytes = encoder.encode(text);
    while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
  },
  onSignal(signal, listener) {
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  },
  exit: (code) => Deno.exit(code),
  serve(fetch, options = {}) {
    return new Promise<Server>((resolve) => {
      const server = Deno.serve({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        onListen: () =>
          queueMicrotask(() =>
            resolve({
              hostname: server.addr.hostname,
              port: server.addr.port,
              close: async ({ graceMs } = {}) => {
                // shutdown() lets responses in flight finish, for as long as they take: Deno
                // has no forced close. With a grace, wait that long at most, then let the
                // connections left (a client that stopped reading) not hold the process.
                const done = server.shutdown();
                if (graceMs === undefined) return await done;
                if (!(await withinGrace(done, graceMs))) server.unref();
              },
            })
          ),
      }, fetch);
    });
  },
  startThread(source, data): ThreadHandle {
    return startWebThread(source, data).handle;
  },
  http: fetchClient,
  lookupHost: lookupPermittedHost,
  residentMemory: () => Deno.memoryUsage().rss,
};

/**
 * Starts the worker on Deno (see `startWorker` for the modes).
 *
 * @param options The handler and settings.
 * @returns Never resolves: the process exits when the worker ends.
 *
 * @example
 * ```ts ignore
 * import { start } from "edgepod/deno";
 * start({ handler: (job) => ({ echo: job.input }) });
 * ```
 */
export function start(options: StartOptions): Promise<never> {
  return startWorker(runtime, options);
}

/** RunPod's `serverless` namespace: `runpod.serverless.start({...})`. */
export const serverless: ServerlessNamespace = serverlessNamespace(start);
