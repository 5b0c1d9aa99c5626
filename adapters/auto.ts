/**
 * The package root, `edgepod`: the whole public API, and a `start()` that picks the adapter for
 * the runtime it runs on (Bun, Deno or Node), loading only that one.
 *
 * @example The seed API, as RunPod documents it
 * ```ts ignore
 * import * as runpod from "edgepod";
 * runpod.serverless.start({ handler: (job) => job.input, return_aggregate_stream: true });
 * ```
 *
 * @module
 */

import type { StartOptions } from "../src/config.ts";
import type { Runtime } from "../src/runtime.ts";
import { type ServerlessNamespace, serverlessNamespace } from "./_serverless.ts";

export * from "../src/mod.ts";

/**
 * Starts the worker with the adapter for the current runtime.
 *
 * @param options The handler and settings.
 * @returns Never resolves: the process exits when the worker ends.
 *
 * @example
 * ```ts ignore
 * import { start } from "edgepod";
 * start({ handler: async (job) => ({ echo: job.input }) });
 * ```
 */
export async function start(options: StartOptions): Promise<never> {
  return (await loadAdapter()).start(options);
}

/**
 * The {@linkcode Runtime} of the runtime this code runs on (loading only that adapter), for
 * tools that need to serve HTTP, read the environment or start threads portably.
 *
 * @returns The runtime adapter.
 *
 * @example
 * ```ts ignore
 * import { loadRuntime } from "edgepod";
 * const runtime = await loadRuntime();
 * const server = await runtime.serve(() => new Response("ok"), { port: 0 });
 * ```
 */
export async function loadRuntime(): Promise<Runtime> {
  return (await loadAdapter()).runtime;
}

function loadAdapter() {
  return "Deno" in globalThis
    ? import("./deno.ts")
    : "Bun" in globalThis
    ? import("./bun.ts")
    : import("./node.ts");
}

/** RunPod's `serverless` namespace: `runpod.serverless.start({...})`. */
export const serverless: ServerlessNamespace = serverlessNamespace(start);
