/**
 * The pool benchmark's ceiling: a bare Hono route that answers `POST /jobs` the way a push worker
 * answers a completed no-op job (`{id, status: "COMPLETED", output: input, ...}`), with nothing
 * else: no gate, no queue, no dedup, no auth, no metrics. Served by `Bun.serve` or `Deno.serve`.
 *
 * Run: `bun bench/pool_bare_server.ts --port 8001` or
 * `deno run --allow-net=127.0.0.1 bench/pool_bare_server.ts --port 8001`.
 *
 * @module
 */

import { Hono } from "hono";

interface ServeGlobals {
  Bun?: { serve(options: { hostname: string; port: number; fetch: typeof app.fetch }): unknown };
  Deno?: {
    args: string[];
    serve(
      options: { hostname: string; port: number; onListen(): void },
      fetch: typeof app.fetch,
    ): unknown;
  };
  process?: { argv: string[] };
}

const app = new Hono();
app.get("/ping", (c) => c.text("ok"));
app.post("/jobs", async (c) => {
  const body = await c.req.json<{ id?: string; input?: unknown }>();
  return c.json({
    id: body.id ?? crypto.randomUUID(),
    status: "COMPLETED",
    output: body.input,
    delayTime: 0,
    executionTime: 0,
  });
});

const globals = globalThis as ServeGlobals;
const args = globals.Deno?.args ?? globals.process?.argv.slice(2) ?? [];
const port = Number(args[args.indexOf("--port") + 1]);
if (!Number.isInteger(port) || port < 1) {
  throw new RangeError(`Expected --port <n>: received ${args.join(" ")}`);
}
if (globals.Bun) globals.Bun.serve({ hostname: "127.0.0.1", port, fetch: app.fetch });
else if (globals.Deno) {
  globals.Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, app.fetch);
} else throw new TypeError("pool_bare_server.ts runs on Bun or Deno");
