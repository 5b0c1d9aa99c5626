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
  const adapter = "Deno" in globalThis
    ? await import("./deno.ts")
    : "Bun" in globalThis
    ? await import("./bun.ts")
    : await import("./node.ts");
  return adapter.start(options);
}

/** RunPod's `serverless` namespace: `runpod.serverless.start({...})`. */
export const serverless: ServerlessNamespace = serverlessNamespace(start);
