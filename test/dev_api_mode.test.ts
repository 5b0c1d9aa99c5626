// `--rp_serve_api` as users start it: the fixture worker as a child process on this runtime,
// driven by the real runpod-sdk client over loopback.

import assert from "node:assert/strict";
import { test } from "node:test";
import runpodSdk from "runpod-sdk";
import { runChild, startChild } from "./support/child.ts";
import { repoRoot } from "./support/runtime.ts";

const WORKER = `${repoRoot}test/fixtures/worker.ts`;

async function startDevApi(args: string[], handler: string) {
  const child = startChild(WORKER, [
    "--rp_serve_api",
    "--rp_api_host",
    "127.0.0.1",
    "--rp_api_port",
    "0",
    ...args,
  ], {
    env: { FIXTURE_HANDLER: handler },
  });
  const ready = await child.waitForLine(/Dev API ready on http:\/\//);
  const url = ready.match(/ready on (http:\/\/[^:]+:\d+)/)![1]!;
  return { child, url, ready };
}

test("dev API mode: --rp_serve_api serves RunPod's API to runpod-sdk; SIGTERM drains and exits 0", async () => {
  const { child, url, ready } = await startDevApi(["--rp_api_concurrency", "2"], "asyncGenerator");
  try {
    assert.match(ready, /concurrency 2/);
    const endpoint = runpodSdk("any-key", { baseUrl: `${url}/v2` }).endpoint("my-endpoint")!;
    const { id, status } = await endpoint.run({ input: { n: 3 } });
    assert.equal(status, "IN_QUEUE");
    const chunks: unknown[] = [];
    for await (const chunk of endpoint.stream(id)) chunks.push(chunk);
    assert.deepEqual(chunks, [{ output: "a0" }, { output: "a1" }, { output: "a2" }]);
    const health = await endpoint.health();
    assert.equal(health.jobs.completed, 1);
    const page = await fetch(`${url}/`);
    assert.match(await page.text(), /playground/);
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0);
    assert.match(child.stdout, /Dev API stopped cleanly/);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
});

test("dev API mode: --rp_serve_api wins over --test_input, as in the Python SDK", async () => {
  const { child, url } = await startDevApi(["--test_input", '{"input": "ignored"}'], "echo");
  try {
    const endpoint = runpodSdk("k", { baseUrl: `${url}/v2` }).endpoint("e")!;
    const done = await endpoint.runSync({ input: { hello: "world" } }) as Record<string, unknown>;
    assert.deepEqual(done.output, { hello: "world" });
    assert.doesNotMatch(child.stdout, /Job result:/);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
});

test("dev API mode: a concurrency below 1 is refused with exit 1, saying what was expected", async () => {
  const result = await runChild(WORKER, [
    "--rp_serve_api",
    "--rp_api_port",
    "0",
    "--rp_api_concurrency",
    "0",
  ], {
    env: { FIXTURE_HANDLER: "echo" },
  });
  assert.equal(result.code, 1);
  assert.match(result.stdout, /--rp_api_concurrency: .*must be a positive integer: received 0/);
});

test("dev API mode: a failing fitness check refuses to serve and exits 1, as in production", async () => {
  const result = await runChild(WORKER, ["--rp_serve_api", "--rp_api_port", "0"], {
    env: { FIXTURE_HANDLER: "echo", FIXTURE_FITNESS: "fail" },
  });
  assert.equal(result.code, 1);
  assert.match(result.stdout, /Fitness check failed: gpuAvailable \| Error: no GPU found/);
  assert.doesNotMatch(result.stdout, /Dev API ready/, "nothing was served");
});
