import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { mergeChunks, parseConfig } from "../src/config.ts";
import type { StandardSchema } from "../src/standard_schema.ts";

const handler = () => "ok";

/** Asserts that `parseConfig(input)` throws a TypeError whose message matches every pattern. */
function rejects(input: unknown, ...patterns: RegExp[]): void {
  assert.throws(
    () => parseConfig(input),
    (error: unknown) => {
      assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
      for (const pattern of patterns) assert.match(error.message, pattern);
      return true;
    },
  );
}

// --- defaults ---

test("parseConfig() fills in the documented defaults", () => {
  const config = parseConfig({ handler });
  assert.equal(config.handler, handler);
  assert.equal(config.concurrencyModifier, undefined);
  assert.equal(config.returnAggregateStream, false);
  assert.equal(config.refreshWorker, false);
  assert.equal(config.inputSchema, undefined);
  assert.equal(config.maxConcurrency, Infinity);
  assert.equal(config.concurrencyPollMs, 100);
  assert.equal(config.executionTimeoutMs, undefined);
  assert.equal(config.drainTimeoutMs, 25_000);
  assert.equal(config.streamBufferSize, 64);
  assert.equal(config.streamBatch, undefined);
  assert.equal(config.maxResultBytes, 20 * 1024 * 1024);
  assert.equal(config.deliveryRetryMaxDelayMs, 10_000);
});

test("parseConfig() accepts an async handler", () => {
  const asyncHandler = async () => await Promise.resolve(1);
  assert.equal(parseConfig({ handler: asyncHandler }).handler, asyncHandler);
});

test("parseConfig() accepts an async generator handler", () => {
  const streaming = async function* () {
    yield 1;
  };
  assert.equal(parseConfig({ handler: streaming }).handler, streaming);
});

// --- the seed API and its aliases ---

test("parseConfig() accepts RunPod's documented start() call as written", () => {
  const engine = { maxConcurrency: 8 };
  const modifier = (_x: number) => engine.maxConcurrency;
  const config = parseConfig({
    handler,
    concurrency_modifier: modifier,
    return_aggregate_stream: true,
  });
  assert.equal(config.concurrencyModifier, modifier);
  assert.equal(config.returnAggregateStream, true);
});

test("parseConfig() maps concurrency_modifier to concurrencyModifier", () => {
  const modifier = () => 3;
  assert.equal(
    parseConfig({ handler, concurrency_modifier: modifier }).concurrencyModifier,
    modifier,
  );
});

test("parseConfig() maps return_aggregate_stream to returnAggregateStream", () => {
  assert.equal(parseConfig({ handler, return_aggregate_stream: true }).returnAggregateStream, true);
  assert.equal(
    parseConfig({ handler, return_aggregate_stream: false }).returnAggregateStream,
    false,
  );
});

test("parseConfig() maps refresh_worker to refreshWorker", () => {
  assert.equal(parseConfig({ handler, refresh_worker: true }).refreshWorker, true);
});

test("parseConfig() accepts the idiomatic keys", () => {
  const modifier = () => Promise.resolve(2);
  const config = parseConfig({
    handler,
    concurrencyModifier: modifier,
    returnAggregateStream: true,
    refreshWorker: true,
  });
  assert.equal(config.concurrencyModifier, modifier);
  assert.equal(config.returnAggregateStream, true);
  assert.equal(config.refreshWorker, true);
});

test("parseConfig() does not copy the alias keys into the result", () => {
  const config = parseConfig({ handler, refresh_worker: true }) as unknown as Record<
    string,
    unknown
  >;
  assert.equal("refresh_worker" in config, false);
  assert.equal("concurrency_modifier" in config, false);
  assert.equal("return_aggregate_stream" in config, false);
});

test("parseConfig() accepts both spellings set to the same value", () => {
  const modifier = () => 2;
  const config = parseConfig({
    handler,
    concurrencyModifier: modifier,
    concurrency_modifier: modifier,
    refreshWorker: true,
    refresh_worker: true,
  });
  assert.equal(config.concurrencyModifier, modifier);
  assert.equal(config.refreshWorker, true);
});

test("parseConfig() throws a TypeError when both spellings of concurrencyModifier differ", () => {
  rejects(
    { handler, concurrencyModifier: () => 1, concurrency_modifier: () => 2 },
    /concurrencyModifier/,
    /concurrency_modifier/,
  );
});

test("parseConfig() throws a TypeError when both spellings of returnAggregateStream differ", () => {
  rejects(
    { handler, returnAggregateStream: true, return_aggregate_stream: false },
    /returnAggregateStream/,
    /return_aggregate_stream/,
  );
});

test("parseConfig() throws a TypeError when both spellings of refreshWorker differ", () => {
  rejects(
    { handler, refreshWorker: false, refresh_worker: true },
    /refreshWorker/,
    /refresh_worker/,
  );
});

test("parseConfig() treats an undefined alias as absent", () => {
  const modifier = () => 2;
  const config = parseConfig({
    handler,
    concurrencyModifier: modifier,
    concurrency_modifier: undefined,
  });
  assert.equal(config.concurrencyModifier, modifier);
});

// --- errors ---

test("parseConfig() says the handler is required when it is missing", () => {
  rejects({}, /'handler'/, /required/);
  rejects({ return_aggregate_stream: true }, /'handler'/, /required/);
});

test("parseConfig() throws a TypeError naming handler when it is not a function", () => {
  rejects({ handler: "main" }, /'handler'/, /function/);
  rejects({ handler: null }, /'handler'/, /function/);
});

test("parseConfig() throws a TypeError naming a misspelt key", () => {
  rejects({ handler, concurency_modifier: () => 2 }, /concurency_modifier/, /unknown key/);
});

test("parseConfig() lists the known keys when a key is unknown", () => {
  rejects(
    { handler, returnAggregatedStream: true },
    /returnAggregatedStream/,
    /concurrency_modifier/,
  );
});

test("parseConfig() throws a TypeError when the config is not an object", () => {
  for (const input of [undefined, null, 5, "handler", handler]) {
    rejects(input, /object/);
  }
});

test("parseConfig() throws a TypeError naming a key of the wrong type", () => {
  rejects({ handler, concurrency_modifier: 4 }, /'concurrency_modifier'/, /function/);
  rejects({ handler, concurrencyModifier: "4" }, /'concurrencyModifier'/, /function/);
  rejects({ handler, return_aggregate_stream: "true" }, /'return_aggregate_stream'/, /boolean/);
  rejects({ handler, returnAggregateStream: 1 }, /'returnAggregateStream'/, /boolean/);
  rejects({ handler, refresh_worker: "yes" }, /'refresh_worker'/, /boolean/);
  rejects({ handler, refreshWorker: null }, /'refreshWorker'/, /boolean/);
});

test("parseConfig() says what it received for a key of the wrong type", () => {
  rejects({ handler, maxConcurrency: "4" }, /'maxConcurrency'/, /number/, /"4"/);
});

const INTEGER_KEYS: Array<[string, number]> = [
  ["maxConcurrency", 1],
  ["concurrencyPollMs", 1],
  ["executionTimeoutMs", 1],
  ["drainTimeoutMs", 0],
  ["streamBufferSize", 1],
  ["maxResultBytes", 1],
  ["deliveryRetryMaxDelayMs", 1],
];

for (const [key, min] of INTEGER_KEYS) {
  test(`parseConfig() accepts ${key} as an integer of at least ${min}`, () => {
    const config = parseConfig({ handler, [key]: min }) as unknown as Record<string, unknown>;
    assert.equal(config[key], min);
    const larger = parseConfig({ handler, [key]: 5000 }) as unknown as Record<string, unknown>;
    assert.equal(larger[key], 5000);
  });

  test(`parseConfig() rejects ${key} below ${min}, non-integers and non-numbers`, () => {
    const expected = new RegExp(`'${key}'.*integer of at least ${min}`);
    rejects({ handler, [key]: min - 1 }, expected);
    rejects({ handler, [key]: 2.5 }, expected);
    rejects({ handler, [key]: NaN }, new RegExp(`'${key}'`));
    rejects({ handler, [key]: "10" }, new RegExp(`'${key}'`), /number/);
  });
}

/** The millisecond options that feed a `setTimeout` or `setInterval`, with their minimum. */
const TIMER_MS_KEYS: Array<[string, number]> = [
  ["concurrencyPollMs", 1],
  ["executionTimeoutMs", 1],
  ["drainTimeoutMs", 0],
  ["deliveryRetryMaxDelayMs", 1],
];

for (const [key] of TIMER_MS_KEYS) {
  test(`parseConfig() accepts ${key} up to 2147483647, the longest timer delay`, () => {
    const config: Record<string, unknown> = { ...parseConfig({ handler, [key]: 2 ** 31 - 1 }) };
    assert.equal(config[key], 2_147_483_647);
  });

  test(`parseConfig() rejects ${key} above 2147483647, which a timer would fire at once`, () => {
    const expected = new RegExp(
      `'${key}' must be at most 2147483647 ms \\(about 24\\.8 days\\), the longest delay a timer can wait: received 2147483648`,
    );
    rejects({ handler, [key]: 2 ** 31 }, expected);
    rejects({ handler, [key]: Number.MAX_SAFE_INTEGER }, new RegExp(`'${key}' must be at most`));
  });
}

test("parseConfig() names every timer option over the limit at once", () => {
  rejects(
    { handler, executionTimeoutMs: 2 ** 31, drainTimeoutMs: 2 ** 31, concurrencyPollMs: 2 ** 31 },
    /'concurrencyPollMs' must be at most/,
    /'executionTimeoutMs' must be at most/,
    /'drainTimeoutMs' must be at most/,
  );
});

test("parseConfig() keeps push.resultTtlMs unbounded above: it is compared with the clock, not a timer", () => {
  const config = parseConfig({ handler, push: { resultTtlMs: 2 ** 31 } });
  assert.equal(config.push.resultTtlMs, 2 ** 31);
});

test("parseConfig() rejects maxConcurrency Infinity (leave it out for no ceiling)", () => {
  rejects({ handler, maxConcurrency: Infinity }, /'maxConcurrency'/);
});

// --- inputSchema ---

test("parseConfig() accepts a valibot schema as inputSchema", () => {
  const schema = v.object({ prompt: v.string() });
  assert.equal(parseConfig({ handler, inputSchema: schema }).inputSchema, schema);
});

test("parseConfig() accepts a hand-written Standard Schema as inputSchema", () => {
  const schema: StandardSchema = {
    "~standard": { version: 1, vendor: "test", validate: (value) => ({ value }) },
  };
  assert.equal(parseConfig({ handler, inputSchema: schema }).inputSchema, schema);
});

test("parseConfig() rejects an inputSchema that is not a Standard Schema", () => {
  rejects({ handler, inputSchema: {} }, /'inputSchema'/, /Standard Schema/);
  rejects({ handler, inputSchema: { "~standard": {} } }, /'inputSchema'/, /Standard Schema/);
  rejects({ handler, inputSchema: (x: unknown) => x }, /'inputSchema'/, /Standard Schema/);
});

// --- streamBatch ---

test("parseConfig() leaves streamBatch off by default and for false", () => {
  assert.equal(parseConfig({ handler }).streamBatch, undefined);
  assert.equal(parseConfig({ handler, streamBatch: false }).streamBatch, undefined);
});

test("parseConfig() turns streamBatch true into the defaults", () => {
  assert.deepEqual(parseConfig({ handler, streamBatch: true }).streamBatch, {
    maxChunks: 64,
    merge: mergeChunks,
  });
});

test("parseConfig() fills in streamBatch options left out", () => {
  assert.deepEqual(parseConfig({ handler, streamBatch: {} }).streamBatch, {
    maxChunks: 64,
    merge: mergeChunks,
  });
  assert.deepEqual(parseConfig({ handler, streamBatch: { maxChunks: 8 } }).streamBatch, {
    maxChunks: 8,
    merge: mergeChunks,
  });
});

test("parseConfig() keeps a custom streamBatch merge", () => {
  const merge = (chunks: unknown[]) => chunks.length;
  const batch = parseConfig({ handler, streamBatch: { maxChunks: 2, merge } }).streamBatch;
  assert.equal(batch?.maxChunks, 2);
  assert.equal(batch?.merge, merge);
});

test("parseConfig() rejects a bad streamBatch naming the key", () => {
  rejects({ handler, streamBatch: "yes" }, /'streamBatch'/, /boolean/);
  rejects({ handler, streamBatch: 1 }, /'streamBatch'/);
  rejects({ handler, streamBatch: { maxChunks: 0 } }, /streamBatch/, /maxChunks|boolean/);
  rejects({ handler, streamBatch: { merge: "concat" } }, /streamBatch/);
  rejects({ handler, streamBatch: { maxChunk: 4 } }, /streamBatch/);
});

test("parseConfig() throws TypeError, not another error, for every bad config", () => {
  for (
    const input of [
      {},
      { handler, streamBatch: null },
      { handler, executionTimeoutMs: -5 },
      { handler, extra: 1 },
    ]
  ) {
    assert.throws(() => parseConfig(input), TypeError);
  }
});

// --- mergeChunks ---

test("mergeChunks() concatenates string chunks", () => {
  assert.equal(mergeChunks(["Hel", "lo", ", ", "world"]), "Hello, world");
});

test("mergeChunks() returns an empty string for no chunks", () => {
  assert.equal(mergeChunks([]), "");
});

test("mergeChunks() keeps a single string chunk as a string", () => {
  assert.equal(mergeChunks(["only"]), "only");
});

test("mergeChunks() returns the chunks as an array when any is not a string", () => {
  const chunks = ["a", 1, { b: 2 }];
  assert.deepEqual(mergeChunks(chunks), ["a", 1, { b: 2 }]);
  assert.deepEqual(mergeChunks([{ token: "a" }, { token: "b" }]), [{ token: "a" }, { token: "b" }]);
  assert.deepEqual(mergeChunks([null, "x"]), [null, "x"]);
});
