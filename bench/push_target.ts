/**
 * A process the push benchmark measures: edgepod's push mode (`BENCH_TARGET=edgepod`), a bare
 * Hono app doing the same HTTP work (`BENCH_TARGET=bare`), or a route doing push mode's work
 * without the shared worker (`BENCH_TARGET=same-work`, sync only; see `_same_work_app.ts`),
 * served by this runtime's own server through the adapter. `BENCH_HANDLER=noop` answers `POST /jobs` with the input;
 * `BENCH_HANDLER=stream` streams `input.chunks` one-character chunks as SSE.
 *
 * @module
 */

import process from "node:process";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { loadRuntime, start } from "../adapters/auto.ts";
import { createLogger } from "../src/start_worker.ts";
import { sameWorkApp } from "./_same_work_app.ts";

const target = process.env.BENCH_TARGET ?? "edgepod";
const port = Number(process.env.BENCH_PORT ?? "0");

if (target === "same-work") {
  const runtime = await loadRuntime();
  const { logger } = createLogger(runtime); // push mode's logger: same level, format and output
  const app = sameWorkApp((job) => job.input, logger);
  const server = await runtime.serve(app.fetch, { hostname: "127.0.0.1", port });
  console.log(`READY ${server.port}`);
} else if (target === "bare") {
  const runtime = await loadRuntime();
  const app = new Hono();
  let n = 0;
  app.post("/jobs", async (c) => {
    const body = await c.req.json<{ input: { chunks?: number } }>();
    const id = `bare-${n++}`;
    if (c.req.header("accept")?.includes("text/event-stream")) {
      return streamSSE(c, async (stream) => {
        for (let i = 0; i < (body.input.chunks ?? 0); i++) {
          await stream.writeSSE({ event: "chunk", data: JSON.stringify({ output: "t" }) });
        }
        await stream.writeSSE({
          event: "result",
          data: JSON.stringify({ id, status: "COMPLETED" }),
        });
      });
    }
    return c.json({ id, status: "COMPLETED", delayTime: 0, executionTime: 0, output: body.input });
  });
  const server = await runtime.serve(app.fetch, { hostname: "127.0.0.1", port });
  console.log(`READY ${server.port}`);
} else {
  const stream = process.env.BENCH_HANDLER === "stream";
  start({
    handler: stream
      ? async function* (job) {
        for (let i = 0; i < (job.input as { chunks: number }).chunks; i++) yield "t";
      }
      : (job) => job.input,
    concurrencyModifier: () => 64,
    queueSize: 1024,
  });
}
