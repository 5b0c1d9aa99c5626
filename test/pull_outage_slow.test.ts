/**
 * A slow RunPod API (answers arriving after the post timeout), over real loopback HTTP with the
 * runtime's own HTTP client: the attempt given up on is aborted before its retry goes out, so a
 * slow endpoint never processes it late. Left open, it used to be processed after the retry: a
 * stream chunk arrived twice and out of order, a result twice.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RunPodClient } from "../src/pull/runpod_client.ts";
import { readRunPodEnv } from "../src/pull/runpod_env.ts";
import { createSimulator, type Simulator } from "../src/simulator/mod.ts";
import { TEST_WORKER_INFO } from "./support/http_doubles.ts";
import { currentRuntime } from "./support/runtime.ts";

const API_KEY = "slow-key";
/** Past the watchdog's 1 s sweep and the 200 ms post timeout, by a wide margin. */
const SLOW_MS = 5_000;

/** A simulator on loopback and a client with a 200 ms post timeout pointed at it. */
async function slowApi(): Promise<{ sim: Simulator; client: RunPodClient } & AsyncDisposable> {
  const runtime = await currentRuntime();
  const sim = createSimulator({ longPollMs: 0, apiKey: API_KEY });
  const server = await runtime.serve(sim.fetch, { hostname: "127.0.0.1", port: 0 });
  const vars: Record<string, string> = {
    ...sim.env(`http://127.0.0.1:${server.port}`),
    RUNPOD_AI_API_KEY: API_KEY,
  };
  const client = new RunPodClient({
    http: runtime.http,
    env: readRunPodEnv((name) => vars[name], TEST_WORKER_INFO),
    info: TEST_WORKER_INFO,
    retry: { minDelay: 0, maxDelay: 1 },
    timeouts: { post: 200 },
  });
  return {
    sim,
    client,
    async [Symbol.asyncDispose]() {
      sim.close();
      await server.close();
    },
  };
}

/** Resolves once every request of a route has been answered (or cut). */
function allAnswered(sim: Simulator, route: "job-done" | "job-stream"): Promise<void> {
  return sim.waitFor(() => sim.requests.every((r) => r.route !== route || r.status !== 0), {
    description: `every ${route} request answered`,
  });
}

test("RunPodClient: a stream chunk whose post outlives its timeout arrives once and in order", async () => {
  await using api = await slowApi();
  const { sim, client } = api;
  const id = sim.enqueue({ id: "slow-stream", input: 1 });
  sim.fault("job-stream", { delayMs: SLOW_MS }); // the first post is answered after 5 s
  const first = await client.postStream(id, JSON.stringify({ output: "c0" }));
  const second = await client.postStream(id, JSON.stringify({ output: "c1" }));
  assert.deepEqual([first.ok, first.attempts, second.ok], [true, 2, true]);
  await allAnswered(sim, "job-stream"); // the abandoned attempt too
  assert.deepEqual(sim.ledger.get(id)!.chunks, ["c0", "c1"]);
});

test("RunPodClient: a result whose post outlives its timeout is delivered once", async () => {
  await using api = await slowApi();
  const { sim, client } = api;
  const id = sim.enqueue({ id: "slow-done", input: 1 });
  sim.fault("job-done", { delayMs: SLOW_MS });
  const outcome = await client.postDone(id, JSON.stringify({ output: "done" }), false);
  assert.deepEqual([outcome.ok, outcome.attempts], [true, 2]);
  await allAnswered(sim, "job-done");
  assert.equal(sim.ledger.get(id)!.results.length, 1);
  assert.deepEqual(sim.report().duplicated, []);
});
