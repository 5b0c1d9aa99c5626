/**
 * edgepod's push app as a Cloudflare Workers module (served locally by `workerd`).
 *
 * The handler echoes `input.message`, or streams `input.chunks` one by one (ask with
 * `Accept: text/event-stream` to get one SSE event per chunk, then the final status). Every route
 * but `/ping` needs `Authorization: Bearer <token>`, one of the comma-separated tokens of the
 * `EDGEPOD_PUSH_TOKENS` binding; without that binding the worker answers 500 to everything
 * rather than serve an open door.
 *
 * Build: `npm run build:edge` (esbuild bundles this file and its imports into
 * `examples/edge-workerd/dist/worker.js`); run: `EDGEPOD_PUSH_TOKENS=secret npx workerd serve
 * examples/edge-workerd/config.capnp`. See the README next to this file.
 *
 * @module
 */

import {
  createPushApp,
  type PushApp,
  type PushExecutionContext,
} from "../../src/push/create_push_app.ts";
import type { Job } from "../../src/types.ts";

/** The bindings `config.capnp` gives the worker. */
export interface Env {
  /** Comma-separated bearer tokens (two during a rotation). */
  EDGEPOD_PUSH_TOKENS?: string;
}

/** The example's input. */
export interface EdgeInput {
  /** Echoed back as `{ echo }`. */
  message?: string;
  /** Yielded one by one (a stream). */
  chunks?: string[];
  /** Milliseconds between two chunks, at most 10,000 (simulated work). @default 0 */
  chunkDelayMs?: number;
}

// Jobs one isolate runs at once. Not exported: workerd takes every named export of the main
// module for an entrypoint (a handler or a class).
const EDGE_CONCURRENCY = 8;

/**
 * Echoes `input.message`, or yields `input.chunks` one by one.
 *
 * @param job The pushed job.
 * @returns `{ echo }`, or an async generator of the chunks.
 *
 * @example
 * ```ts
 * import { edgeHandler } from "./worker.ts";
 * const output = edgeHandler({ id: "j1", input: { message: "hi" } });
 * console.assert((output as { echo: string }).echo === "hi");
 * ```
 */
export function edgeHandler(job: Job<EdgeInput>): { echo: string | null } | AsyncGenerator<string> {
  const chunks = job.input?.chunks;
  if (Array.isArray(chunks)) {
    const delay = Math.min(Math.max(Number(job.input.chunkDelayMs) || 0, 0), 10_000);
    return (async function* () {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0 && delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        yield String(chunk);
      }
    })();
  }
  return { echo: job.input?.message ?? null };
}

// Built on the first request, not at module scope: workerd forbids timers and I/O while a module
// is being evaluated, and the bindings (env) only arrive with a request.
let app: PushApp | undefined;

function appFor(env: Env): PushApp | undefined {
  const tokens = (env.EDGEPOD_PUSH_TOKENS ?? "").split(",").map((t) => t.trim()).filter(Boolean);
  if (tokens.length === 0) return undefined;
  app ??= createPushApp({
    handler: edgeHandler,
    // A fixed limit (the modifier is what sets it; without one the limit is 1).
    concurrencyModifier: () => EDGE_CONCURRENCY,
    maxConcurrency: EDGE_CONCURRENCY,
    // No wait queue: a request waiting for another request's slot has nothing of its own
    // pending, so workerd cancels it as hung, and the slot handed to it later is lost. A full
    // isolate answers 429 at once instead (README: "What the gate means in an isolate").
    queueSize: 0,
    auth: { tokens },
  });
  return app;
}

// The Workers module format requires a default export with `fetch` (the platform's contract;
// edgepod's own modules use named exports only).
export default {
  fetch(request: Request, env: Env, ctx: PushExecutionContext): Promise<Response> | Response {
    const pushApp = appFor(env);
    if (!pushApp) {
      return new Response("EDGEPOD_PUSH_TOKENS is not set: refusing to serve without auth\n", {
        status: 500,
      });
    }
    // ctx.waitUntil keeps a job answered 202 (and its webhook post) running after the answer:
    // without it, workerd cancels a finished request's timers and I/O.
    return pushApp.fetch(request, env, ctx);
  },
};
