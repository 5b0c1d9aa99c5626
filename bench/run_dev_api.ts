/**
 * The dev API's `/runsync` throughput with a no-op handler against a bare Hono route that reads
 * the same body and answers the same shape, on the same runtime, in the same run, loaded by
 * `wrk` (not part of `npm run bench`).
 *
 * Run: `node --import tsx bench/run_dev_api.ts`, `deno run -A bench/run_dev_api.ts`,
 * `bun bench/run_dev_api.ts`. Options through the environment: `BENCH_SECONDS` (per round,
 * default 5), `BENCH_CONNECTIONS` (default 32), `BENCH_ROUNDS` (default 3; bare and dev
 * alternate, the best round of each is kept). Prints one line per round, then the ratio.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Hono } from "hono";
import { loadRuntime } from "../adapters/auto.ts";
import { createDevApp } from "../src/dev_api/create_dev_app.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const name = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

const dir = mkdtempSync(join(tmpdir(), "edgepod-dev-bench-"));
const script = join(dir, "runsync.lua");
writeFileSync(
  script,
  'wrk.method = "POST"\nwrk.body = \'{"input":{"n":1}}\'\nwrk.headers["Content-Type"] = "application/json"\n',
);

const bare = new Hono();
bare.post("/v2/:endpointId/runsync", async (c) => {
  const body = await c.req.json();
  return c.json({
    id: crypto.randomUUID(),
    status: "COMPLETED",
    delayTime: 0,
    executionTime: 0,
    output: body.input,
  });
});
const dev = createDevApp({
  handler: () => null,
  logger: new RunPodLogger({ level: "ERROR" }),
  concurrency: connections,
  devApi: { started: true }, // as --rp_serve_api runs it: the worker is started first
});
await dev.worker.start();

const runtime = await loadRuntime();
const bareServer = await runtime.serve((request) => bare.fetch(request), {
  hostname: "127.0.0.1",
  port: 0,
});
const devServer = await runtime.serve(dev.fetch, { hostname: "127.0.0.1", port: 0 });

/** Runs wrk against `port` and returns requests/s (non-2xx answers make the round fail). */
function wrk(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = [
      "-t1",
      `-c${connections}`,
      `-d${seconds}s`,
      "-s",
      script,
      `http://127.0.0.1:${port}/v2/bench/runsync`,
    ];
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const rps = out.match(/Requests\/sec:\s+([\d.]+)/);
      if (code !== 0 || !rps) return reject(new Error(`wrk failed (${code}):\n${out}`));
      if (/Non-2xx/.test(out)) return reject(new Error(`non-2xx answers:\n${out}`));
      resolve(Number(rps[1]));
    });
  });
}

try {
  await wrk(devServer.port); // warm-up of both paths before the measured rounds
  await wrk(bareServer.port);
  let bestBare = 0;
  let bestDev = 0;
  for (let round = 1; round <= rounds; round++) {
    const bareRps = await wrk(bareServer.port);
    const devRps = await wrk(devServer.port);
    bestBare = Math.max(bestBare, bareRps);
    bestDev = Math.max(bestDev, devRps);
    console.log(
      `${name}\tround ${round}\tbare Hono ${bareRps.toFixed(0)} req/s\tdev API /runsync ${
        devRps.toFixed(0)
      } req/s`,
    );
  }
  console.log(
    `${name}\tbest of ${rounds}\tbare ${bestBare.toFixed(0)} req/s\tdev ${
      bestDev.toFixed(0)
    } req/s\tratio ${
      (100 * bestDev / bestBare).toFixed(1)
    } %\t(wrk -t1 -c${connections} -d${seconds}s, no-op handler, concurrency ${connections})`,
  );
} finally {
  dev.worker.stop("bench over");
  await Promise.all([bareServer.close(), devServer.close()]);
}
