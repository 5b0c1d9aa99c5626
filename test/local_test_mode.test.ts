/**
 * Local test mode end to end: real child processes of the runtime running these tests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobResult, runChild } from "./support/child.ts";
import { repoRoot, runtimeName } from "./support/runtime.ts";

const worker = join(repoRoot, "test/fixtures/worker.ts");
const concurrentDir = join(repoRoot, "examples/concurrent-handler");
const echoDir = join(repoRoot, "examples/echo");
// The least Deno permissions the README promises for local test mode.
const minimalDeno = ["--allow-env", "--allow-read=test_input.json"];

function fixture(handler: string, args: string[], config: object = {}) {
  return runChild(worker, args, {
    env: { FIXTURE_HANDLER: handler, FIXTURE_CONFIG: JSON.stringify(config) },
  });
}

function input(value: unknown): string[] {
  return ["--test_input", JSON.stringify(value)];
}

test(`local test: the seed's concurrent handler example prints its aggregated result (${runtimeName})`, async () => {
  const run = await runChild("handler.ts", [], { cwd: concurrentDir, denoFlags: minimalDeno });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.deepEqual(jobResult(run.stdout), {
    output: [
      { tokens: ["edgepod#0", "streams#1", "tokens#2", "on#3"] },
      { tokens: ["every#4", "runtime#5", "edgepod#6", "streams#7"] },
      { tokens: ["tokens#8", "on#9"] },
    ],
  });
  assert.match(run.stdout, /^Job result: \{"output":\[\{"tokens":/m);
  assert.match(run.stdout, /Using test_input\.json as job input\./);
});

test("local test: --test_input wins over ./test_input.json", async () => {
  const run = await runChild("handler.ts", input({ input: { message: "from flag" } }), {
    cwd: echoDir,
    denoFlags: minimalDeno,
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.deepEqual(jobResult(run.stdout), { output: { echo: "from flag" } });
  assert.match(run.stdout, /test_input set, using test_input as job input\./);
});

test("local test: the echo example validates input and fails with every issue listed", async () => {
  const run = await runChild("handler.ts", input({ input: { message: "", repeat: 0 } }), {
    cwd: echoDir,
    denoFlags: minimalDeno,
  });
  assert.equal(run.code, 1);
  const result = jobResult(run.stdout)!;
  assert.match(String(result.error), /Input validation failed \(2 issues\)/);
  assert.match(String(result.error), /input\.message: /);
  assert.match(String(result.error), /input\.repeat: /);
});

test("local test: a missing test_input.json exits 1 with a clear message", async () => {
  const dir = await mkdtemp(join(tmpdir(), "edgepod-"));
  try {
    const run = await runChild(worker, [], { cwd: dir, env: { FIXTURE_HANDLER: "echo" } });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /test_input\.json not found in the working directory/);
    assert.equal(jobResult(run.stdout), undefined);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("local test: invalid JSON in test_input.json exits 1 naming the file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "edgepod-"));
  try {
    await writeFile(join(dir, "test_input.json"), "{ input: nope }");
    const run = await runChild(worker, [], { cwd: dir, env: { FIXTURE_HANDLER: "echo" } });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /test_input\.json is not valid JSON/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("local test: invalid JSON in --test_input exits 1", async () => {
  const run = await fixture("echo", ["--test_input", "{nope"]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /--test_input is not valid JSON/);
});

test("local test: a job without input exits 1", async () => {
  for (const job of [{ id: "x" }, { input: null }]) {
    const run = await fixture("echo", input(job));
    assert.equal(run.code, 1);
    assert.match(run.stdout, /Job has no input parameter\. Unable to run\./);
  }
});

test("local test: the job keeps its id and extra keys; a missing id becomes local_test", async () => {
  let run = await fixture("whole", input({ id: "mine", input: 1, extra: "k" }));
  assert.equal(run.code, 0);
  assert.deepEqual(jobResult(run.stdout), {
    output: { id: "mine", keys: ["extra", "id", "input"], input: 1 },
  });
  run = await fixture("whole", input({ input: 2 }));
  assert.deepEqual(jobResult(run.stdout), {
    output: { id: "local_test", keys: ["id", "input"], input: 2 },
  });
});

test("local test: a sync handler that throws exits 1 with the error report", async () => {
  const run = await fixture("syncThrow", input({ input: {} }));
  assert.equal(run.code, 1);
  const report = JSON.parse(String(jobResult(run.stdout)!.error));
  assert.equal(report.error_type, "TypeError");
  assert.equal(report.error_message, "bad things");
  assert.match(report.runtime, new RegExp(`^${runtimeName} `));
  assert.match(run.stdout, /Job local_test failed with error: /);
});

test("local test: a generator that throws after two yields exits 1", async () => {
  const run = await fixture("generatorThrowsAfterTwo", input({ input: {} }));
  assert.equal(run.code, 1);
  assert.equal(JSON.parse(String(jobResult(run.stdout)!.error)).error_message, "gen fail");
});

test("local test: a handler returning { error: 'bad' } exits 1", async () => {
  const run = await fixture("errorReturn", input({ input: {} }));
  assert.equal(run.code, 1);
  assert.deepEqual(jobResult(run.stdout), { error: "bad" });
});

test("local test: a handler returning a BigInt exits 1 with a clear FAILED result", async () => {
  const run = await fixture("bigint", input({ input: {} }));
  assert.equal(run.code, 1);
  assert.match(String(jobResult(run.stdout)!.error), /output\.n is a BigInt \(10n\)/);
});

test("local test: every streaming kind is drained and aggregated", async () => {
  for (
    const [handler, output] of [
      ["syncGenerator", ["s0", "s1"]],
      ["asyncGenerator", ["a0", "a1"]],
      ["asyncIterable", ["i0", "i1"]],
      ["readableStream", [{ part: 1 }, { part: 2 }]],
    ] as const
  ) {
    const run = await fixture(handler, input({ input: { n: 2 } }));
    assert.equal(run.code, 0, handler);
    assert.deepEqual(jobResult(run.stdout), { output }, handler);
  }
});

test("local test: --test_output compares the output", async () => {
  let run = await fixture("echo", [
    ...input({ input: { a: 1, b: 2 } }),
    "--test_output",
    '{"b":2,"a":1}',
  ]);
  assert.equal(run.code, 0, run.stdout);
  assert.match(run.stdout, /Output matches --test_output\./);
  run = await fixture("echo", [...input({ input: { a: 1 } }), "--test_output", '{"a":2}']);
  assert.equal(run.code, 1);
  assert.match(
    run.stdout,
    /Output does not match --test_output: expected \{"a":2\}, got \{"a":1\}/,
  );
});

test("local test: an invalid config exits 1 naming the key and what was expected", async () => {
  let run = await fixture("echo", input({ input: 1 }), { concurency_modifier: 1 });
  assert.equal(run.code, 1);
  assert.match(run.stdout, /unknown key 'concurency_modifier'/);
  run = await fixture("echo", input({ input: 1 }), { return_aggregate_stream: "yes" });
  assert.equal(run.code, 1);
  assert.match(run.stdout, /'return_aggregate_stream' must be a boolean: received "yes"/);
});

test("local test: RUNPOD_LOG_LEVEL=WARNING is accepted and an invalid level only warns", async () => {
  let run = await runChild(worker, input({ input: 1 }), {
    env: { FIXTURE_HANDLER: "echo", RUNPOD_LOG_LEVEL: "WARNING" },
  });
  assert.equal(run.code, 0);
  assert.doesNotMatch(run.stdout, /INFO/);
  run = await runChild(worker, input({ input: 1 }), {
    env: { FIXTURE_HANDLER: "echo", RUNPOD_LOG_LEVEL: "LOUD" },
  });
  assert.equal(run.code, 0);
  assert.match(run.stdout, /WARN   \| RUNPOD_LOG_LEVEL=LOUD is not a log level/);
});

test("local test: RUNPOD_ENDPOINT_ID switches logs to JSON lines", async () => {
  const run = await runChild(worker, input({ input: 1 }), {
    env: { FIXTURE_HANDLER: "echo", RUNPOD_ENDPOINT_ID: "ep1" },
  });
  assert.equal(run.code, 0);
  const started = run.stdout.split("\n").find((l) => l.includes("Started."))!;
  assert.deepEqual(JSON.parse(started), {
    requestId: "local_test",
    message: "Started.",
    level: "INFO",
  });
});

test("local test: an unknown flag is left alone and a bad flag value exits 1", async () => {
  let run = await fixture("echo", [...input({ input: 1 }), "--my-own-flag"]);
  assert.equal(run.code, 0);
  run = await fixture("echo", [...input({ input: 1 }), "--rp_api_port", "eighty"]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /--rp_api_port must be an integer: received eighty/);
});

test("local test: a handler that never settles keeps the worker running; it never exits 0 without a result", async () => {
  // With nothing else pending, a runtime would end by itself with code 0: a CI step using
  // --test_input would pass for a handler that never answered. The handler's own timer does
  // not hold the process, so it fires only if the worker does (and then exits 3).
  const run = await fixture("neverSettles", input({ input: 1 }));
  assert.equal(run.code, 3, run.stdout + run.stderr);
  assert.match(run.stdout, /STILL RUNNING/);
  assert.doesNotMatch(run.stdout, /Job result:/);
});
