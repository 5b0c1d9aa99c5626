/**
 * `readRunPodEnv`, `takeUrl` and `resultUrl` against protocol §2 (placeholders), §3.1 (take URL),
 * §4.5 (stop URL), §6.1 (result URLs) and §12 (ping interval precision).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readRunPodEnv, resultUrl, type RunPodEnv, takeUrl } from "../src/pull/runpod_env.ts";

const WORKER = { workerId: "pod123" };

/** The production URL shapes, every placeholder in place (protocol §2.2). */
const PRODUCTION: Record<string, string> = {
  RUNPOD_WEBHOOK_GET_JOB: "https://api.runpod.ai/v2/ep/job-take/$ID?gpu=$RUNPOD_GPU_TYPE_ID",
  RUNPOD_WEBHOOK_POST_OUTPUT:
    "https://api.runpod.ai/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=$RUNPOD_GPU_TYPE_ID",
  RUNPOD_WEBHOOK_POST_STREAM:
    "https://api.runpod.ai/v2/ep/job-stream/$RUNPOD_POD_ID/$ID?gpu=$RUNPOD_GPU_TYPE_ID",
  RUNPOD_WEBHOOK_PING: "https://api.runpod.ai/v2/ep/ping/$RUNPOD_POD_ID?gpu=$RUNPOD_GPU_TYPE_ID",
  RUNPOD_AI_API_KEY: "rp_key",
  RUNPOD_GPU_TYPE_ID: "NVIDIA H100 PCIe",
};

/** Reads an environment made of `PRODUCTION` with `overrides` (`undefined` removes a variable). */
function read(
  overrides: Record<string, string | undefined> = {},
  info: { workerId: string } = WORKER,
): RunPodEnv {
  const vars: Record<string, string | undefined> = { ...PRODUCTION, ...overrides };
  return readRunPodEnv((name) => vars[name], info);
}

/** The `gpu` parameter and path of a URL. */
function parts(url: string): { path: string; query: Record<string, string> } {
  const parsed = new URL(url);
  return { path: parsed.pathname, query: Object.fromEntries(parsed.searchParams) };
}

// --- placeholders (§2) ---

test("readRunPodEnv() replaces $ID in the take URL with the worker id", () => {
  const env = read();
  assert.equal(env.workerId, "pod123");
  assert.deepEqual(parts(env.takeUrl), {
    path: "/v2/ep/job-take/pod123",
    query: { gpu: "NVIDIA H100 PCIe" },
  });
});

test("readRunPodEnv() substitutes $RUNPOD_POD_ID and $RUNPOD_GPU_TYPE_ID in every URL", () => {
  const env = read({
    RUNPOD_WEBHOOK_GET_JOB:
      "https://api.runpod.ai/v2/ep/job-take/$RUNPOD_POD_ID?gpu=$RUNPOD_GPU_TYPE_ID&w=$ID",
  });
  const urls = {
    take: env.takeUrl,
    stop: env.stopUrl!,
    done: resultUrl(env.doneTemplate, "j1", false),
    stream: resultUrl(env.streamTemplate, "j1", false),
    ping: env.pingUrl!,
  };
  for (const [name, url] of Object.entries(urls)) {
    assert.doesNotMatch(url, /\$|%24/, `${name} keeps a placeholder: ${url}`);
    assert.equal(new URL(url).searchParams.get("gpu"), "NVIDIA H100 PCIe", name);
  }
  assert.deepEqual(parts(env.takeUrl).query, { gpu: "NVIDIA H100 PCIe", w: "pod123" });
  assert.equal(parts(urls.take).path, "/v2/ep/job-take/pod123");
  assert.equal(parts(urls.stop).path, "/v2/ep/job-stop/pod123");
  assert.equal(parts(urls.done).path, "/v2/ep/job-done/pod123/j1");
  assert.equal(parts(urls.stream).path, "/v2/ep/job-stream/pod123/j1");
  assert.equal(parts(urls.ping).path, "/v2/ep/ping/pod123");
});

test("readRunPodEnv() leaves no $RUNPOD_GPU_TYPE_ID behind when the variable is unset", () => {
  const env = read({ RUNPOD_GPU_TYPE_ID: undefined });
  for (
    const url of [
      env.takeUrl,
      env.stopUrl!,
      env.pingUrl!,
      resultUrl(env.doneTemplate, "j1", true),
      resultUrl(env.streamTemplate, "j1", false),
    ]
  ) {
    assert.doesNotMatch(url, /RUNPOD_GPU_TYPE_ID/, url);
  }
});

test("readRunPodEnv() keeps $ID in the done and stream templates for the job id", () => {
  const env = read();
  assert.match(env.doneTemplate, /\/job-done\/pod123\/\$ID\?/);
  assert.match(env.streamTemplate, /\/job-stream\/pod123\/\$ID\?/);
  assert.doesNotMatch(env.doneTemplate, /RUNPOD_POD_ID|RUNPOD_GPU_TYPE_ID/);
  assert.doesNotMatch(env.streamTemplate, /RUNPOD_POD_ID|RUNPOD_GPU_TYPE_ID/);
});

test("readRunPodEnv() substitutes values literally, even when they contain $ patterns", () => {
  // §2.2: "Substitution is plain string replacement"; `$&`, `$'` and `$$` are not patterns here.
  const env = read({ RUNPOD_GPU_TYPE_ID: "A$&B$$C" }, { workerId: "p$'q" });
  assert.deepEqual(parts(env.takeUrl), {
    path: "/v2/ep/job-take/p$'q",
    query: { gpu: "A$&B$$C" },
  });
  assert.equal(new URL(env.pingUrl!).searchParams.get("gpu"), "A$&B$$C");
  const done = resultUrl(env.doneTemplate, "j1", false);
  assert.equal(parts(done).path, "/v2/ep/job-done/p$'q/j1");
  assert.equal(new URL(done).searchParams.get("gpu"), "A$&B$$C");
});

test("readRunPodEnv() passes the API key through raw", () => {
  assert.equal(read().apiKey, "rp_key");
  assert.equal(read({ RUNPOD_AI_API_KEY: undefined }).apiKey, "");
});

test("readRunPodEnv() leaves the ping URL undefined when RUNPOD_WEBHOOK_PING is unset", () => {
  assert.equal(read({ RUNPOD_WEBHOOK_PING: undefined }).pingUrl, undefined);
});

// --- per-job result URLs (§2.2, §6.1) ---

test("resultUrl() replaces $ID with each job's opaque id", () => {
  const env = read();
  for (const id of ["j1", "sync-0f3e-e1", "8c1b2f0e-1d2c-4c3b-9a8f-0e1d2c3b4a5f-u1"]) {
    const done = resultUrl(env.doneTemplate, id, false);
    assert.equal(parts(done).path, `/v2/ep/job-done/pod123/${id}`);
    const stream = resultUrl(env.streamTemplate, id, false);
    assert.equal(parts(stream).path, `/v2/ep/job-stream/pod123/${id}`);
  }
});

test("resultUrl() encodes a job id with characters that need encoding", () => {
  const env = read();
  for (const id of ["a b", "a/b", "x?isStream=true", "x#frag", "x&gpu=evil", "100%", "é✓", "$ID"]) {
    const url = new URL(resultUrl(env.doneTemplate, id, false));
    const segments = url.pathname.split("/");
    assert.equal(segments.length, 6, `${id} adds path segments: ${url.pathname}`);
    assert.equal(decodeURIComponent(segments[5]!), id);
    assert.equal(url.hash, "", id);
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      gpu: "NVIDIA H100 PCIe",
      isStream: "false",
    }, id);
  }
});

test("resultUrl() sets isStream through the query string, with or without a ? in the template", () => {
  const done = "https://api.runpod.ai/v2/ep/job-done/pod123/$ID?gpu=A100";
  assert.deepEqual(parts(resultUrl(done, "j1", true)), {
    path: "/v2/ep/job-done/pod123/j1",
    query: { gpu: "A100", isStream: "true" },
  });
  assert.deepEqual(parts(resultUrl(done, "j1", false)).query, { gpu: "A100", isStream: "false" });
  const bare = "https://api.runpod.ai/v2/ep/job-done/pod123/$ID";
  assert.equal(resultUrl(bare, "j1", false), `${bare.replace("$ID", "j1")}?isStream=false`);
});

// --- take URL (§3.1) ---

test("takeUrl() asks job-take for one job with job_in_progress 0 or 1", () => {
  const env = read();
  assert.deepEqual(parts(takeUrl(env, 1, false)), {
    path: "/v2/ep/job-take/pod123",
    query: { gpu: "NVIDIA H100 PCIe", job_in_progress: "0" },
  });
  assert.deepEqual(parts(takeUrl(env, 1, true)).query, {
    gpu: "NVIDIA H100 PCIe",
    job_in_progress: "1",
  });
});

test("takeUrl() adds its parameters to a template without a query string", () => {
  const env = read({ RUNPOD_WEBHOOK_GET_JOB: "http://127.0.0.1:9/v2/ep/job-take/$ID" });
  assert.equal(
    takeUrl(env, 1, false),
    "http://127.0.0.1:9/v2/ep/job-take/pod123?job_in_progress=0",
  );
  assert.equal(
    takeUrl(env, 4, true),
    "http://127.0.0.1:9/v2/ep/job-take-batch/pod123?batch_size=4&job_in_progress=1",
  );
});

test("takeUrl() asks job-take-batch with batch_size for several jobs", () => {
  const env = read({ RUNPOD_WEBHOOK_GET_JOB: "http://127.0.0.1:9/v2/ep/job-take/$ID?gpu=SIM" });
  assert.equal(
    takeUrl(env, 3, false),
    "http://127.0.0.1:9/v2/ep/job-take-batch/pod123?gpu=SIM&batch_size=3&job_in_progress=0",
  );
  assert.equal(
    takeUrl(env, 2, true),
    "http://127.0.0.1:9/v2/ep/job-take-batch/pod123?gpu=SIM&batch_size=2&job_in_progress=1",
  );
});

// --- stop URL (§4.5) ---

test("readRunPodEnv() derives the stop URL from the take URL, keeping its query", () => {
  const env = read({ RUNPOD_WEBHOOK_GET_JOB: "http://127.0.0.1:9/v2/ep/job-take/$ID?gpu=SIM&x=1" });
  assert.equal(env.stopUrl, "http://127.0.0.1:9/v2/ep/job-stop/pod123?gpu=SIM&x=1");
  assert.deepEqual(env.warnings, []);
});

test("readRunPodEnv() disables the stop channel with a warning when /job-take/ is absent", () => {
  const env = read({ RUNPOD_WEBHOOK_GET_JOB: "http://127.0.0.1:9/v2/ep/take/$ID?next=/job-take/" });
  assert.equal(env.stopUrl, undefined);
  assert.equal(env.warnings.length, 1);
  assert.match(env.warnings[0]!, /job-take/);
  assert.match(env.warnings[0]!, /stop/);
  assert.equal(env.takeUrl, "http://127.0.0.1:9/v2/ep/take/pod123?next=/job-take/");
});

// --- ping interval (§2.1, §12) ---

test("readRunPodEnv() reads RUNPOD_PING_INTERVAL in ms with millisecond precision", () => {
  assert.equal(read({ RUNPOD_PING_INTERVAL: "1500" }).pingIntervalMs, 1500);
  assert.equal(read({ RUNPOD_PING_INTERVAL: "250" }).pingIntervalMs, 250);
  assert.equal(read({ RUNPOD_PING_INTERVAL: "10000" }).pingIntervalMs, 10000);
  assert.equal(read({ RUNPOD_PING_INTERVAL: "2147483647" }).pingIntervalMs, 2147483647);
  const env = read({ RUNPOD_PING_INTERVAL: "1" });
  assert.equal(env.pingIntervalMs, 1);
  assert.deepEqual(env.warnings, []);
});

test("readRunPodEnv() defaults the ping interval to 10000 ms when it is unset", () => {
  const env = read({ RUNPOD_PING_INTERVAL: undefined });
  assert.equal(env.pingIntervalMs, 10000);
  assert.deepEqual(env.warnings, []);
});

test("readRunPodEnv() warns and uses 10000 ms for an invalid ping interval", () => {
  for (const value of ["abc", "0", "-250", "Infinity", "NaN", "0.5", "10s", "2147483648", "3e9"]) {
    const env = read({ RUNPOD_PING_INTERVAL: value });
    assert.equal(env.pingIntervalMs, 10000, value);
    assert.equal(env.warnings.length, 1, value);
    assert.match(env.warnings[0]!, /RUNPOD_PING_INTERVAL/, value);
    assert.ok(env.warnings[0]!.includes(value), `the warning names ${value}: ${env.warnings[0]}`);
  }
});

// --- required and missing variables ---

test("readRunPodEnv() throws a TypeError when RUNPOD_WEBHOOK_GET_JOB is missing", () => {
  for (const value of [undefined, ""]) {
    assert.throws(() => read({ RUNPOD_WEBHOOK_GET_JOB: value }), (error: unknown) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /RUNPOD_WEBHOOK_GET_JOB/);
      return true;
    });
  }
});

test("readRunPodEnv() throws a TypeError when RUNPOD_WEBHOOK_GET_JOB is not a URL", () => {
  for (const value of ["None", "job-take/$ID?gpu=SIM", "/v2/ep/job-take/$ID"]) {
    assert.throws(() => read({ RUNPOD_WEBHOOK_GET_JOB: value }), (error: unknown) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /RUNPOD_WEBHOOK_GET_JOB/);
      return true;
    }, value);
  }
});

test("readRunPodEnv() warns when the output or stream template is missing", () => {
  const noOutput = read({ RUNPOD_WEBHOOK_POST_OUTPUT: undefined });
  assert.equal(noOutput.warnings.length, 1);
  assert.match(noOutput.warnings[0]!, /RUNPOD_WEBHOOK_POST_OUTPUT/);
  const noStream = read({ RUNPOD_WEBHOOK_POST_STREAM: "" });
  assert.equal(noStream.warnings.length, 1);
  assert.match(noStream.warnings[0]!, /RUNPOD_WEBHOOK_POST_STREAM/);
  const neither = read({ RUNPOD_WEBHOOK_POST_OUTPUT: undefined, RUNPOD_WEBHOOK_POST_STREAM: "" });
  assert.equal(neither.warnings.length, 2);
  assert.deepEqual(read().warnings, []);
});
