// A webhook receiver on loopback for tests, and a logger that reports failed deliveries.

import { deferred } from "../../src/async/deferred.ts";
import { RunPodLogger } from "../../src/run_pod_logger.ts";
import { currentRuntime } from "./runtime.ts";

/** A receiver served by this runtime: counts posts and keeps the first one's JSON body. */
export interface WebhookReceiver extends AsyncDisposable {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** The first post's JSON body. */
  first: Promise<unknown>;
  /** How many posts arrived. */
  readonly count: number;
  close(): Promise<void>;
}

/**
 * Serves a webhook receiver on 127.0.0.1 that answers every post with `status`.
 *
 * @param status The answer's status. @default 204
 */
export async function webhookReceiver(status = 204): Promise<WebhookReceiver> {
  const runtime = await currentRuntime();
  const first = deferred<unknown>();
  let count = 0;
  const server = await runtime.serve(async (request) => {
    count++;
    first.resolve(await request.json().catch(() => undefined));
    return new Response(null, { status });
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    port: server.port,
    first: first.promise,
    get count() {
      return count;
    },
    close: () => server.close(),
    [Symbol.asyncDispose]: () => server.close(),
  };
}

/** A logger (ERROR and up, written nowhere) whose `failed` is the first failed webhook line. */
export function deliveryLogger(): { logger: RunPodLogger; failed: Promise<string> } {
  const failed = deferred<string>();
  const logger = new RunPodLogger({
    level: "ERROR",
    write: (text) => {
      if (text.includes("did not take the result")) failed.resolve(text);
    },
  });
  return { logger, failed: failed.promise };
}
