/**
 * parseSubmission(): native bodies, the Pub/Sub envelope and its unwrapped form, Cloud Tasks and
 * QStash headers, content types, and the hostile corpus's parsing cases.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  MAX_EXECUTION_TIMEOUT_MS,
  MAX_JOB_ID_LENGTH,
  type ParsedSubmission,
  parseSubmission,
} from "../src/push/push_submission.ts";
import { pushHostileCorpus, pushValidCases } from "./fixtures/push_hostile_corpus.ts";

const JSON_TYPE = { "content-type": "application/json" };
const enc = (text: string) => new TextEncoder().encode(text);
const parse = (body: unknown, headers: Record<string, string> = JSON_TYPE) =>
  parseSubmission(
    new Headers(headers),
    typeof body === "string" ? enc(body) : enc(JSON.stringify(body)),
  );
const b64 = (text: string) => Buffer.from(text).toString("base64");
const envelope = (message: Record<string, unknown>) => ({
  message,
  subscription: "projects/p/subscriptions/s",
});

function ok(result: ParsedSubmission) {
  assert.ok(result.ok, result.ok ? "" : `${result.status}: ${result.message}`);
  return result.submission;
}

function refused(result: ParsedSubmission, status: 400 | 415, pattern: RegExp) {
  assert.equal(result.ok, false, "expected a refusal");
  if (result.ok) return;
  assert.equal(result.status, status, result.message);
  assert.match(result.message, pattern);
}

test("parseSubmission() reads a native body with every field", () => {
  const got = ok(parse({
    id: "job-1",
    input: { prompt: "hi" },
    webhook: "https://hooks.example.com/done?x=1",
    policy: { executionTimeout: 60_000, ttl: 5 },
    s3Config: { bucket: "b" },
    batchId: "batch-1",
  }));
  assert.deepEqual(got, {
    id: "job-1",
    input: { prompt: "hi" },
    webhook: "https://hooks.example.com/done?x=1",
    policy: { executionTimeout: 60_000 },
    source: "native",
    extra: { s3Config: { bucket: "b" }, batchId: "batch-1" }, // the job's other keys
  });
});

test("parseSubmission() accepts any JSON input, null included, and null optional fields as absent", () => {
  for (const input of [null, 0, "", [], false, "text", { a: [1, { b: null }] }]) {
    assert.deepEqual(ok(parse({ input })), { input, source: "native" });
  }
  assert.deepEqual(ok(parse({ input: 1, id: null, webhook: null, policy: null })), {
    input: 1,
    source: "native",
  });
  assert.deepEqual(ok(parse({ input: 1, policy: {} })), { input: 1, policy: {}, source: "native" });
});

test("parseSubmission() refuses a native body without input, naming the key", () => {
  refused(parse({ prompt: "hi" }), 400, /has no 'input'/);
  refused(parse([1]), 400, /must be a JSON object with an 'input' key: received an array/);
  refused(parse("3"), 400, /must be a JSON object with an 'input' key: received 3/);
});

test("parseSubmission() names the key and the expectation for bad id, webhook and policy", () => {
  refused(
    parse({ input: 1, id: 7 }),
    400,
    /^'id' must be a string of 1 to 512 characters without control characters, not "\." or "\.\.": received 7$/,
  );
  refused(
    parse({ input: 1, id: "x".repeat(MAX_JOB_ID_LENGTH + 1) }),
    400,
    /'id' .* received a string of 513 characters/,
  );
  assert.equal(
    ok(parse({ input: 1, id: "x".repeat(MAX_JOB_ID_LENGTH) })).id?.length,
    MAX_JOB_ID_LENGTH,
  );
  refused(parse({ input: 1, id: "tab\there" }), 400, /'id'/);
  // A URL parser rewrites /jobs/. and /jobs/..: such a job could not be polled or cancelled.
  refused(parse({ input: 1, id: "." }), 400, /'id' .* received "\."$/);
  refused(parse({ input: 1, id: ".." }), 400, /'id' .* received "\.\."$/);
  assert.equal(ok(parse({ input: 1, id: "..." })).id, "...");
  refused(
    parse({ input: 1, webhook: "ftp://x.example.com" }),
    400,
    /^'webhook' must be an http or https URL of at most 2048 characters: received "ftp:\/\/x.example.com"$/,
  );
  refused(parse({ input: 1, policy: [] }), 400, /^'policy' must be an object: received an array$/);
  refused(
    parse({ input: 1, policy: { executionTimeout: 0 } }),
    400,
    /^'policy.executionTimeout' must be a positive integer of milliseconds, at most 604800000: received 0$/,
  );
  refused(
    parse({ input: 1, policy: { executionTimeout: MAX_EXECUTION_TIMEOUT_MS + 1 } }),
    400,
    /'policy.executionTimeout'/,
  );
  assert.equal(
    ok(parse({ input: 1, policy: { executionTimeout: MAX_EXECUTION_TIMEOUT_MS } })).policy
      ?.executionTimeout,
    MAX_EXECUTION_TIMEOUT_MS,
  );
  assert.equal(ok(parse({ input: 1, id: "日本語-ok 😀" })).id, "日本語-ok 😀");
});

test("parseSubmission() says so when the body is not JSON or not UTF-8", () => {
  refused(parse(`{"input": `), 400, /^the body is not valid JSON/);
  refused(parse(""), 400, /^the body is empty/);
  refused(
    parseSubmission(new Headers(JSON_TYPE), new Uint8Array([0x7b, 0xff, 0x7d])),
    400,
    /^the body is not valid UTF-8$/,
  );
});

test("parseSubmission() content types: JSON types parse, text/plain and octet-stream are sniffed, others are 415", () => {
  for (
    const type of [
      "application/json",
      "Application/JSON; charset=UTF-8",
      'application/json;charset="utf-8"',
      "application/vnd.api+json",
      "application/cloudevents+json; charset=utf8",
    ]
  ) {
    assert.deepEqual(ok(parse({ input: 1 }, { "content-type": type })).input, 1, type);
  }
  assert.equal(ok(parse({ input: 1 }, {})).input, 1);
  for (const type of ["text/plain;charset=UTF-8", "application/octet-stream"]) {
    assert.equal(ok(parse({ input: 2 }, { "content-type": type })).input, 2, type);
    refused(
      parse("hello", { "content-type": type }),
      415,
      /is not JSON and its Content-Type is .*send JSON with Content-Type: application\/json/,
    );
  }
  refused(parse("{}", { "content-type": "application/json" }), 400, /has no 'input'/);
  refused(
    parse({ input: 1 }, { "content-type": "text/html" }),
    415,
    /^unsupported Content-Type "text\/html"/,
  );
  refused(
    parse({ input: 1 }, { "content-type": "application/json; charset=latin1" }),
    415,
    /^unsupported charset "latin1"/,
  );
});

test("parseSubmission() reads a Pub/Sub envelope whose data is a native body", () => {
  const got = ok(parse(envelope({
    data: b64(JSON.stringify({ input: { prompt: "hi" }, webhook: "https://h.example.com" })),
    messageId: "123456",
    publishTime: "2026-01-01T00:00:00Z",
    attributes: { origin: "test" },
  })));
  assert.deepEqual(got, {
    id: "123456",
    input: { prompt: "hi" },
    webhook: "https://h.example.com",
    source: "pubsub",
    extra: {
      pubsub: {
        messageId: "123456",
        publishTime: "2026-01-01T00:00:00Z",
        subscription: "projects/p/subscriptions/s",
        attributes: { origin: "test" },
      },
    },
  });
  // With ordering and dead-lettering on, Pub/Sub also sends these.
  const ordered = ok(parse({
    ...envelope({ data: b64("1"), messageId: "7", orderingKey: "user-3" }),
    deliveryAttempt: 2,
  }));
  assert.deepEqual(ordered.extra, {
    pubsub: {
      messageId: "7",
      subscription: "projects/p/subscriptions/s",
      orderingKey: "user-3",
      deliveryAttempt: 2,
    },
  });
});

test("parseSubmission() Pub/Sub: other data is the input itself, JSON or text; the body's own id wins", () => {
  assert.deepEqual(ok(parse(envelope({ data: b64(`{"prompt": "hi"}`), messageId: "1" }))).input, {
    prompt: "hi",
  });
  assert.deepEqual(ok(parse(envelope({ data: b64(`[1, 2]`), messageId: "1" }))).input, [1, 2]);
  assert.equal(
    ok(parse(envelope({ data: b64("just text {"), messageId: "1" }))).input,
    "just text {",
  );
  assert.equal(
    ok(parse(envelope({ data: b64(`{"id": "mine", "input": 1}`), messageId: "1" }))).id,
    "mine",
  );
  // Both base64 alphabets, padded or not.
  assert.equal(
    ok(parse(envelope({ data: Buffer.from("??>").toString("base64url"), messageId: "1" }))).input,
    "??>",
  );
  assert.equal(
    ok(parse(envelope({ data: b64("ab").replace(/=+$/, ""), messageId: "1" }))).input,
    "ab",
  );
  // No messageId: no id (the intake assigns one).
  assert.equal(ok(parse(envelope({ data: b64("1") }))).id, undefined);
});

test("parseSubmission() Pub/Sub: no data is a null input; broken data is refused clearly", () => {
  // A message of attributes only is a job whose input is null, not a 400 redelivered for ever.
  const bare = ok(parse(envelope({ messageId: "1", attributes: { kind: "ping" } })));
  assert.equal(bare.input, null);
  assert.deepEqual((bare.extra!.pubsub as { attributes: unknown }).attributes, { kind: "ping" });
  refused(
    parse(envelope({ data: "***", messageId: "1" })),
    400,
    /^'message.data' must be a base64 string: received "\*\*\*"$/,
  );
  refused(parse(envelope({ data: b64("x"), messageId: 5 })), 400, /^'message.messageId' must be/);
  refused(
    parse(envelope({ data: b64(`{"input": 1, "id": ""}`), messageId: "1" })),
    400,
    /^'id' must be/,
  );
});

test("parseSubmission() reads unwrapped Pub/Sub, Cloud Tasks and QStash by their headers", () => {
  const unwrapped = ok(
    parse("plain words", { "x-goog-pubsub-message-id": "99", "content-type": "text/plain" }),
  );
  assert.deepEqual(unwrapped, {
    id: "99",
    input: "plain words",
    source: "pubsub-unwrapped",
    extra: { pubsub: { messageId: "99" } },
  });
  assert.deepEqual(
    ok(parse("x", {
      "x-goog-pubsub-message-id": "99",
      "x-goog-pubsub-publish-time": "2026-01-01T00:00:00Z",
      "x-goog-pubsub-subscription-name": "projects/p/subscriptions/s",
    })).extra,
    {
      pubsub: {
        messageId: "99",
        publishTime: "2026-01-01T00:00:00Z",
        subscription: "projects/p/subscriptions/s",
      },
    },
  );
  assert.deepEqual(ok(parse({ a: 1 }, { "x-goog-pubsub-message-id": "99" })).input, { a: 1 });
  const task = ok(
    parse({ input: 1 }, { "x-cloudtasks-taskname": "task-7", "x-cloudtasks-queuename": "q" }),
  );
  assert.deepEqual(task, {
    id: "task-7",
    input: 1,
    source: "cloud-tasks",
    extra: { cloudTasks: { taskName: "task-7", queueName: "q" } },
  });
  const retried = ok(parse({ input: 1 }, {
    "x-cloudtasks-taskname": "task-7",
    "x-cloudtasks-taskretrycount": "2",
    "x-cloudtasks-taskexecutioncount": "1",
    "x-cloudtasks-tasketa": "1767225600.0",
    "x-cloudtasks-taskpreviousresponse": "503",
    "x-cloudtasks-taskretryreason": "HTTP 503",
  }));
  assert.deepEqual(retried.extra, {
    cloudTasks: {
      taskName: "task-7",
      retryCount: 2,
      executionCount: 1,
      eta: "1767225600.0",
      previousResponse: 503,
      retryReason: "HTTP 503",
    },
  });
  assert.equal(ok(parse({ id: "own", input: 1 }, { "x-cloudtasks-taskname": "task-7" })).id, "own");
  const qstash = ok(parse({ input: 1 }, { ...JSON_TYPE, "upstash-message-id": "msg_abc" }));
  assert.deepEqual(qstash, {
    id: "msg_abc",
    input: 1,
    source: "qstash",
    extra: { qstash: { messageId: "msg_abc" } },
  });
  assert.deepEqual(
    ok(parse({ input: 1 }, { "upstash-message-id": "m", "upstash-retried": "3" })).extra,
    { qstash: { messageId: "m", retried: 3 } },
  );
  refused(parse({ prompt: 1 }, { "upstash-message-id": "msg_abc" }), 400, /has no 'input'/);
  refused(
    parse({ input: 1 }, { "x-cloudtasks-taskname": "t".repeat(600) }),
    400,
    /^the x-cloudtasks-taskname header must be/,
  );
});

test("parseSubmission() keeps __proto__ keys as data and never reads input through a prototype", () => {
  refused(parse(`{"__proto__": {"input": 1}}`), 400, /has no 'input'/);
  const got = ok(parse(`{"input": {"__proto__": {"polluted": true}}, "__proto__": {"id": "x"}}`));
  assert.equal(got.id, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(got.input), Object.prototype);
  assert.deepEqual(Object.keys(got.input as object), ["__proto__"]);
  const attrs = (ok(
    parse(envelope({ data: b64("1"), attributes: JSON.parse(`{"__proto__": "x"}`) })),
  ).extra!.pubsub as { attributes: Record<string, string> }).attributes;
  // A body's own "__proto__" key is one of the job's keys, never its prototype.
  const extra = ok(parse(`{"input": 1, "__proto__": {"polluting": true}}`)).extra!;
  assert.equal(Object.getPrototypeOf(extra), Object.prototype);
  assert.deepEqual(Object.keys(extra), ["__proto__"]);
  assert.equal(Object.hasOwn(attrs, "__proto__"), true);
  assert.equal(Object.getPrototypeOf(attrs), Object.prototype);
});

test("parseSubmission() bounds JSON nesting (brackets inside strings do not count)", () => {
  const nested = (depth: number) => `{"input": ${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`;
  assert.ok(parse(nested(64)).ok);
  refused(parse(nested(65)), 400, /nested deeper than 64 levels/);
  assert.ok(parseSubmission(new Headers(), enc(nested(65)), { maxDepth: 65 }).ok);
  assert.equal(
    ok(parse({ input: "[".repeat(1000) + '\\"{{{' })).input,
    "[".repeat(1000) + '\\"{{{',
  );
  assert.throws(() => parseSubmission(new Headers(), enc("{}"), { maxDepth: 0 }), RangeError);
});

test("parseSubmission() rejects arguments of the wrong type", () => {
  assert.throws(() => parseSubmission({} as Headers, enc("{}")), TypeError);
  assert.throws(
    () => parseSubmission(new Headers(), "{}" as unknown as Uint8Array),
    /'rawBody' must be a Uint8Array: received string/,
  );
});

test("parseSubmission() reads every valid case as expected", () => {
  for (const valid of pushValidCases()) {
    const got = ok(parseSubmission(new Headers(valid.headers), valid.body));
    assert.equal(got.source, valid.expect.source, valid.name);
    assert.equal(got.id, valid.expect.id, valid.name);
    assert.deepEqual(got.input, valid.expect.input, valid.name);
  }
});

test("parseSubmission() refuses every parsing case of the hostile corpus with its status", () => {
  const cases = pushHostileCorpus().filter((c) => c.layer === "parse");
  assert.ok(cases.length >= 60, `only ${cases.length} parse cases`);
  for (const hostile of cases) {
    const result = parseSubmission(new Headers(hostile.headers), hostile.body);
    assert.equal(result.ok, false, hostile.name);
    if (result.ok) continue;
    assert.equal(result.status, hostile.expectStatus, `${hostile.name}: ${result.message}`);
    assert.ok(result.message.length > 10 && result.message.length < 400, hostile.name);
  }
});

test("parseSubmission() never throws on random bytes under every sender's headers", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pieces = [
    `{"input":`,
    `{"message":{"data":"`,
    `"}`,
    "[",
    "]",
    "{",
    "}",
    `"`,
    "\\",
    ",",
    "1",
    "null",
    "\u00ff",
    `"__proto__":`,
    "eyJpbnB1dCI6MX0=",
  ];
  const headerSets: Record<string, string>[] = [
    {},
    JSON_TYPE,
    { "x-goog-pubsub-message-id": "1" },
    { "x-cloudtasks-taskname": "t" },
    { "upstash-message-id": "m" },
    { "content-type": "text/plain" },
  ];
  for (let i = 0; i < 500; i++) {
    const text = Array.from(
      { length: Math.floor(random() * 12) },
      () => pieces[Math.floor(random() * pieces.length)],
    ).join("");
    const bytes = random() < 0.2
      ? new Uint8Array(16).map(() => Math.floor(random() * 256))
      : enc(text);
    const result = parseSubmission(new Headers(headerSets[i % headerSets.length]), bytes);
    assert.ok(result.ok || result.status === 400 || result.status === 415);
  }
});
