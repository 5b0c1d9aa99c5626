import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  encodeResult,
  errorReport,
  isPlainObject,
  resultFromError,
  resultFromValue,
  streamedError,
  strictStringify,
  utf8Length,
  type WorkerInfo,
} from "../src/job_result.ts";

const INFO: WorkerInfo = {
  workerId: "worker-1",
  endpointId: "endpoint-1",
  hostname: "host-1",
  runtime: "node 20.0.0",
  version: "0.1.0",
};

/** Asserts that encoding `output` fails with an error naming `path`. */
function assertUnencodable(output: unknown, path: string): string {
  const { result, body } = encodeResult({ output });
  assert.equal("output" in result, false, "the failed result has no output");
  assert.equal(typeof result.error, "string");
  assert.ok(
    result.error!.includes(path),
    `expected the error to name ${path}: ${result.error}`,
  );
  assert.deepEqual(JSON.parse(body), result);
  return result.error!;
}

// --- resultFromValue ---

test("resultFromValue() pops error and keeps the rest as output", () => {
  assert.deepEqual(resultFromValue({ error: "custom err", foo: 1 }), {
    output: { foo: 1 },
    error: "custom err",
  });
});

test("resultFromValue() turns refresh_worker into stopPod", () => {
  assert.deepEqual(resultFromValue({ refresh_worker: true, x: 1 }), {
    output: { x: 1 },
    stopPod: true,
  });
});

test("resultFromValue() gives no output key for an empty object", () => {
  const result = resultFromValue({});
  assert.deepEqual(result, {});
  assert.equal("output" in result, false);
});

test("resultFromValue() gives no output key when only error is left", () => {
  const result = resultFromValue({ error: "failed" });
  assert.deepEqual(result, { error: "failed" });
  assert.equal("output" in result, false);
});

test("resultFromValue() gives no output key when only refresh_worker is left", () => {
  assert.deepEqual(resultFromValue({ refresh_worker: true }), { stopPod: true });
});

test("resultFromValue() combines error, refresh_worker and output", () => {
  assert.deepEqual(resultFromValue({ error: "bad", refresh_worker: 1, partial: [1, 2] }), {
    output: { partial: [1, 2] },
    error: "bad",
    stopPod: true,
  });
});

test("resultFromValue() wraps null as output", () => {
  assert.deepEqual(resultFromValue(null), { output: null });
});

test("resultFromValue() turns undefined into output null", () => {
  const result = resultFromValue(undefined);
  assert.deepEqual(result, { output: null });
  assert.equal("output" in result, true);
});

test("resultFromValue() JSON-stringifies a non-string error", () => {
  assert.deepEqual(resultFromValue({ error: { code: 1 } }), { error: '{"code":1}' });
  assert.deepEqual(resultFromValue({ error: 42 }), { error: "42" });
  assert.deepEqual(resultFromValue({ error: true }), { error: "true" });
  assert.deepEqual(resultFromValue({ error: ["a", "b"] }), { error: '["a","b"]' });
});

test("resultFromValue() drops a falsy error", () => {
  assert.deepEqual(resultFromValue({ error: "", x: 1 }), { output: { x: 1 } });
  assert.deepEqual(resultFromValue({ error: 0, x: 1 }), { output: { x: 1 } });
  assert.deepEqual(resultFromValue({ error: null, x: 1 }), { output: { x: 1 } });
  assert.deepEqual(resultFromValue({ error: false }), {});
  assert.deepEqual(resultFromValue({ error: undefined }), {});
});

test("resultFromValue() drops a falsy refresh_worker", () => {
  assert.deepEqual(resultFromValue({ refresh_worker: false, x: 1 }), { output: { x: 1 } });
  assert.deepEqual(resultFromValue({ refresh_worker: 0 }), {});
  assert.deepEqual(resultFromValue({ refresh_worker: null }), {});
});

test("resultFromValue() treats a truthy non-boolean refresh_worker as true", () => {
  assert.deepEqual(resultFromValue({ refresh_worker: "yes" }), { stopPod: true });
});

test("resultFromValue() still stringifies an error that JSON cannot encode", () => {
  const result = resultFromValue({ error: 10n });
  assert.equal(typeof result.error, "string");
  assert.equal(result.error, "10");
});

test("resultFromValue() does not mutate the handler's object", () => {
  const value = { error: "bad", refresh_worker: true, x: 1 };
  resultFromValue(value);
  assert.deepEqual(value, { error: "bad", refresh_worker: true, x: 1 });
});

test("resultFromValue() keeps an output key inside the output", () => {
  assert.deepEqual(resultFromValue({ output: 1 }), { output: { output: 1 } });
});

test("resultFromValue() treats a null-prototype object as a plain object", () => {
  const value = Object.assign(Object.create(null) as Record<string, unknown>, {
    error: "bad",
    y: 2,
  });
  const result = resultFromValue(value);
  assert.equal(result.error, "bad");
  assert.deepEqual({ ...(result.output as object) }, { y: 2 });
});

test("resultFromValue() wraps primitives as output", () => {
  assert.deepEqual(resultFromValue("text"), { output: "text" });
  assert.deepEqual(resultFromValue(""), { output: "" });
  assert.deepEqual(resultFromValue(42), { output: 42 });
  assert.deepEqual(resultFromValue(0), { output: 0 });
  assert.deepEqual(resultFromValue(true), { output: true });
  assert.deepEqual(resultFromValue(false), { output: false });
});

test("resultFromValue() wraps an array as output without reading error keys", () => {
  const array = [{ error: "not mine" }];
  assert.deepEqual(resultFromValue(array), { output: array });
  assert.deepEqual(resultFromValue([]), { output: [] });
});

test("resultFromValue() wraps a class instance as output, keys included", () => {
  class Answer {
    error = "a field, not a failure";
    value = 1;
  }
  const answer = new Answer();
  const result = resultFromValue(answer);
  assert.equal(result.output, answer);
  assert.equal("error" in result, false);
});

test("resultFromValue() wraps a Date as output", () => {
  const date = new Date(0);
  assert.deepEqual(resultFromValue(date), { output: date });
});

// --- streamedError ---

test("streamedError() returns the error text of a yielded { error } item", () => {
  assert.equal(streamedError({ error: "x" }), "x");
  assert.equal(streamedError({ error: "x", other: 1 }), "x");
});

test("streamedError() JSON-stringifies a non-string error", () => {
  assert.equal(streamedError({ error: { code: 1 } }), '{"code":1}');
});

test("streamedError() returns undefined for ordinary outputs", () => {
  assert.equal(streamedError("token"), undefined);
  assert.equal(streamedError({ token: "a" }), undefined);
  assert.equal(streamedError({ error: "" }), undefined);
  assert.equal(streamedError({ error: null }), undefined);
  assert.equal(streamedError(null), undefined);
  assert.equal(streamedError(undefined), undefined);
  assert.equal(streamedError([{ error: "x" }]), undefined);
});

// --- errorReport / resultFromError ---

test("errorReport() describes an Error with its name, message and stack", () => {
  const error = new RangeError("boom");
  assert.deepEqual(errorReport(error, INFO), {
    error_type: "RangeError",
    error_message: "boom",
    error_traceback: error.stack,
    hostname: "host-1",
    worker_id: "worker-1",
    runtime: "node 20.0.0",
    edgepod_version: "0.1.0",
  });
});

test("errorReport() has exactly the documented keys", () => {
  assert.deepEqual(Object.keys(errorReport(new Error("x"), INFO)).sort(), [
    "edgepod_version",
    "error_message",
    "error_traceback",
    "error_type",
    "hostname",
    "runtime",
    "worker_id",
  ]);
});

test("errorReport() uses a custom error class's name", () => {
  class ModelError extends Error {
    override name = "ModelError";
  }
  const report = errorReport(new ModelError("weights missing"), INFO);
  assert.equal(report.error_type, "ModelError");
  assert.equal(report.error_message, "weights missing");
});

test("errorReport() falls back to name and message when the stack is missing", () => {
  const error = new TypeError("no stack");
  error.stack = undefined;
  assert.equal(errorReport(error, INFO).error_traceback, "TypeError: no stack");
});

test("errorReport() handles a thrown string", () => {
  const report = errorReport("plain failure", INFO);
  assert.equal(report.error_type, "string");
  assert.equal(report.error_message, "plain failure");
  assert.equal(typeof report.error_traceback, "string");
  assert.equal(report.worker_id, "worker-1");
});

test("errorReport() handles a thrown object", () => {
  const report = errorReport({ code: 7 }, INFO);
  assert.equal(report.error_type, "object");
  assert.equal(report.error_message, '{"code":7}');
  assert.equal(typeof report.error_traceback, "string");
});

test("errorReport() handles thrown null and undefined", () => {
  for (const thrown of [null, undefined]) {
    const report = errorReport(thrown, INFO);
    assert.equal(typeof report.error_type, "string");
    assert.equal(typeof report.error_message, "string");
    assert.equal(typeof report.error_traceback, "string");
  }
});

test("resultFromError() gives only an error key holding the JSON report", () => {
  const error = new Error("boom");
  const result = resultFromError(error, INFO);
  assert.deepEqual(Object.keys(result), ["error"]);
  assert.equal(typeof result.error, "string");
  assert.deepEqual(JSON.parse(result.error!), errorReport(error, INFO));
});

test("resultFromError() reports a thrown string", () => {
  const report = JSON.parse(resultFromError("oops", INFO).error!);
  assert.equal(report.error_message, "oops");
  assert.equal(report.hostname, "host-1");
});

// --- encodeResult ---

test("encodeResult() returns the result and its compact JSON", () => {
  const input = { output: { a: [1, "x", null], b: true } };
  const { result, body } = encodeResult(input);
  assert.equal(result, input);
  assert.equal(body, '{"output":{"a":[1,"x",null],"b":true}}');
});

test("encodeResult() encodes an empty result and a failed one", () => {
  assert.equal(encodeResult({}).body, "{}");
  assert.equal(encodeResult({ error: "bad" }).body, '{"error":"bad"}');
  assert.equal(encodeResult({ output: null }).body, '{"output":null}');
});

test("encodeResult() accepts Dates and objects with toJSON", () => {
  const date = new Date(Date.UTC(2024, 0, 2));
  const custom = { toJSON: () => ({ kind: "custom" }) };
  const { result, body } = encodeResult({ output: { date, custom } });
  assert.equal(result.error, undefined);
  assert.deepEqual(JSON.parse(body), {
    output: { date: "2024-01-02T00:00:00.000Z", custom: { kind: "custom" } },
  });
});

test("encodeResult() accepts class instances as JSON encodes them", () => {
  class Point {
    constructor(public x: number, public y: number) {}
  }
  assert.equal(encodeResult({ output: new Point(1, 2) }).body, '{"output":{"x":1,"y":2}}');
});

test("encodeResult() accepts a shared, non-cyclic object reached twice", () => {
  const shared = { n: 1 };
  const { result, body } = encodeResult({ output: { a: shared, b: [shared, shared] } });
  assert.equal(result.error, undefined);
  assert.equal(body, '{"output":{"a":{"n":1},"b":[{"n":1},{"n":1}]}}');
});

test("encodeResult() fails naming the path of a BigInt", () => {
  assertUnencodable({ items: [1, 2, 3n] }, "output.items.2");
});

test("encodeResult() fails naming a BigInt at the top of the output", () => {
  assertUnencodable(10n, "output");
});

test("encodeResult() fails naming the path of a function", () => {
  assertUnencodable({ items: [1, 2, () => 3] }, "output.items.2");
  assertUnencodable({ callback() {} }, "output.callback");
});

test("encodeResult() fails naming the path of a symbol", () => {
  assertUnencodable({ tag: Symbol("t") }, "output.tag");
  assertUnencodable([Symbol("t")], "output.0");
});

test("encodeResult() fails naming the path of a Map", () => {
  const error = assertUnencodable({ items: [0, 1, new Map([["k", 1]])] }, "output.items.2");
  assert.match(error, /Map/);
});

test("encodeResult() fails naming the path of NaN or Infinity, which JSON would send as null", () => {
  assert.match(
    assertUnencodable({ loss: NaN }, "output.loss"),
    /NaN, which JSON cannot represent \(it would become null\)/,
  );
  assertUnencodable({ scores: [1, -Infinity] }, "output.scores.1");
  assertUnencodable(Infinity, "output");
});

test("encodeResult() fails naming the path of an Error object, which JSON would send as {}", () => {
  const error = assertUnencodable({ err: new TypeError("lost message") }, "output.err");
  assert.match(error, /TypeError \(JSON keeps none of an error's fields; return its message\)/);
});

test("encodeResult() fails naming the path of a Set", () => {
  const error = assertUnencodable({ tags: new Set(["a"]) }, "output.tags");
  assert.match(error, /Set/);
});

test("encodeResult() fails naming the path of a typed array", () => {
  assertUnencodable({ pixels: new Uint8Array([1, 2]) }, "output.pixels");
  assertUnencodable({ weights: new Float32Array(2) }, "output.weights");
});

test("encodeResult() fails naming the path of a Buffer", () => {
  assertUnencodable({ file: Buffer.from("hi") }, "output.file");
});

test("encodeResult() fails naming the path of an ArrayBuffer and a DataView", () => {
  assertUnencodable({ raw: new ArrayBuffer(4) }, "output.raw");
  assertUnencodable({ view: new DataView(new ArrayBuffer(4)) }, "output.view");
});

test("encodeResult() fails naming the path of a Promise", () => {
  const pending = new Promise(() => {});
  assertUnencodable({ later: pending }, "output.later");
});

test("encodeResult() fails naming the path of a ReadableStream", () => {
  assertUnencodable({ items: [0, 1, new ReadableStream()] }, "output.items.2");
});

test("encodeResult() fails naming the path of a cycle", () => {
  const node: Record<string, unknown> = { name: "loop" };
  node.self = node;
  const error = assertUnencodable({ items: [0, 1, node] }, "output.items.2.self");
  assert.match(error, /circular/);
});

test("encodeResult() fails naming the path of an array cycle", () => {
  const list: unknown[] = [1];
  list.push(list);
  assertUnencodable({ list }, "output.list.1");
});

test("encodeResult() fails for a value returned by toJSON that JSON cannot encode", () => {
  assertUnencodable({ wrapped: { toJSON: () => new Map() } }, "output.wrapped");
});

test("encodeResult() names the path after an earlier nested sibling", () => {
  assertUnencodable({ a: { b: { c: 1 } }, d: [{ e: 1 }, { f: 2n }] }, "output.d.1.f");
});

test("encodeResult() keeps stopPod in a result failed for an unencodable value", () => {
  const { result } = encodeResult({ output: { n: 1n }, stopPod: true });
  assert.equal(result.stopPod, true);
  assert.equal(typeof result.error, "string");
  assert.equal("output" in result, false);
});

test("encodeResult() fails a body over maxBytes, naming its size", () => {
  const output = "x".repeat(100);
  const body = JSON.stringify({ output });
  const { result } = encodeResult({ output }, { maxBytes: body.length - 1 });
  assert.equal("output" in result, false);
  assert.match(result.error!, new RegExp(`\\b${body.length}\\b`));
  assert.match(result.error!, new RegExp(`\\b${body.length - 1}\\b`));
});

test("encodeResult() accepts a body of exactly maxBytes", () => {
  const output = "x".repeat(100);
  const body = JSON.stringify({ output });
  const encoded = encodeResult({ output }, { maxBytes: body.length });
  assert.equal(encoded.body, body);
  assert.equal(encoded.result.error, undefined);
});

test("encodeResult() measures maxBytes in UTF-8 bytes of multi-byte characters", () => {
  // "€" is one UTF-16 unit but three UTF-8 bytes.
  const output = "€".repeat(50);
  const body = JSON.stringify({ output });
  const bytes = new TextEncoder().encode(body).length;
  assert.equal(bytes, body.length + 100);
  assert.equal(encodeResult({ output }, { maxBytes: bytes }).result.error, undefined);
  const { result } = encodeResult({ output }, { maxBytes: bytes - 1 });
  assert.match(result.error!, new RegExp(`\\b${bytes}\\b`));
});

test("encodeResult() measures 4-byte characters (surrogate pairs) as 4 bytes", () => {
  const output = "😀".repeat(10);
  const body = JSON.stringify({ output });
  const bytes = new TextEncoder().encode(body).length;
  assert.equal(bytes, body.length + 20);
  assert.equal(encodeResult({ output }, { maxBytes: bytes }).result.error, undefined);
  assert.ok(encodeResult({ output }, { maxBytes: bytes - 1 }).result.error);
});

test("encodeResult() measures 2-byte characters near the limit", () => {
  const output = "é".repeat(40);
  const bytes = new TextEncoder().encode(JSON.stringify({ output })).length;
  assert.equal(encodeResult({ output }, { maxBytes: bytes }).result.error, undefined);
  assert.ok(encodeResult({ output }, { maxBytes: bytes - 1 }).result.error);
});

test("encodeResult() keeps stopPod in a result failed for its size", () => {
  const { result, body } = encodeResult({ output: "x".repeat(100), stopPod: true }, {
    maxBytes: 50,
  });
  assert.equal(result.stopPod, true);
  assert.ok(result.error);
  assert.ok(body.length <= 200);
});

test("encodeResult() defaults maxBytes to 20 MB", () => {
  const limit = 20 * 1024 * 1024;
  const overhead = JSON.stringify({ output: "" }).length;
  assert.equal(encodeResult({ output: "x".repeat(limit - overhead) }).result.error, undefined);
  const over = encodeResult({ output: "x".repeat(limit - overhead + 1) }).result;
  assert.match(over.error!, new RegExp(`\\b${limit + 1}\\b`));
});

// --- strictStringify ---

test("strictStringify() matches JSON.stringify for JSON values", () => {
  const value = { a: [1, "x", null, true], b: { c: 1.5 }, d: "é😀" };
  assert.equal(strictStringify(value), JSON.stringify(value));
});

test("strictStringify() throws a TypeError naming the root for a top-level BigInt", () => {
  assert.throws(() => strictStringify(1n), (error: unknown) => {
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /\(root\)/);
    return true;
  });
});

// --- utf8Length ---

const UTF8_CASES: Array<[string, string]> = [
  ["the empty string", ""],
  ["ASCII", "hello, world"],
  ["2-byte characters", "é ñ ß"],
  ["3-byte characters", "€ 中文"],
  ["4-byte characters", "😀 𝄞"],
  ["a mix", "a é € 😀"],
  ["a lone high surrogate at the end", "a\uD800"],
  ["a lone high surrogate before ASCII", "\uD800a"],
  ["a lone high surrogate before a 2-byte character", "\uD800é"],
  ["a lone high surrogate before a 3-byte character", "\uD800中"],
  ["two high surrogates", "\uD800\uD800"],
  ["a high surrogate before a full pair", "\uD800😀"],
  ["a lone low surrogate", "\uDC00"],
  ["a low surrogate before a high one", "\uDC00\uD800"],
];

for (const [label, text] of UTF8_CASES) {
  test(`utf8Length() equals TextEncoder's byte count for ${label}`, () => {
    assert.equal(utf8Length(text), new TextEncoder().encode(text).length);
  });
}

// --- isPlainObject ---

test("isPlainObject() is true for object literals and null-prototype objects", () => {
  assert.equal(isPlainObject({}), true);
  assert.equal(isPlainObject({ a: 1 }), true);
  assert.equal(isPlainObject(Object.create(null)), true);
  assert.equal(isPlainObject(JSON.parse('{"a":1}')), true);
});

test("isPlainObject() is false for everything else", () => {
  class Thing {}
  for (
    const value of [
      null,
      undefined,
      0,
      "s",
      true,
      1n,
      Symbol("s"),
      [],
      new Date(),
      new Map(),
      new Thing(),
      () => {},
      Object.create({}),
      new Error("x"),
    ]
  ) {
    assert.equal(isPlainObject(value), false, `for ${String(value)}`);
  }
});

test("resultFromValue() keeps an Error's name and message when it is used as the error", () => {
  assert.deepEqual(resultFromValue({ error: new RangeError("too big") }), {
    error: "RangeError: too big",
  });
});
