/**
 * The dev API served on loopback by the runtime running the test, for the dev API tests.
 *
 * @module
 */

import { createDevApp, type DevApp, type DevAppOptions } from "../../src/dev_api/create_dev_app.ts";
import { RunPodLogger } from "../../src/run_pod_logger.ts";
import type { Handler } from "../../src/types.ts";
import { currentRuntime } from "./runtime.ts";

/** A served dev API; disposing it stops the worker and closes the server. */
export interface DevServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The app and its worker. */
  dev: DevApp;
}

/**
 * Serves the dev API over `handler` with a silent logger.
 *
 * @param handler The handler.
 * @param options More app options.
 * @param observe Sees each request before the app does.
 * @returns The server.
 */
export async function serveDevApi(
  handler: Handler,
  options: Partial<DevAppOptions> = {},
  observe?: (request: Request) => void,
): Promise<DevServer> {
  const runtime = await currentRuntime();
  const dev = createDevApp({
    handler,
    logger: new RunPodLogger({ level: "ERROR", write: () => {} }),
    ...options,
  });
  const server = await runtime.serve((request) => {
    observe?.(request);
    return dev.fetch(request);
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${server.port}`,
    dev,
    async [Symbol.asyncDispose]() {
      dev.worker.stop("test over");
      dev.worker.abortAll("test over");
      await server.close();
    },
  };
}
