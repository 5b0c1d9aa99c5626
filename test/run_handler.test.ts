import { test } from "node:test";
import assert from "node:assert/strict";
import { asStream, runHandler } from "../src/run_handler.ts";
import type { Job, JobContext } from "../src/types.ts";
import { handlers } from "./fixtures/handlers.ts";

const job: Job = { id: "j1", input: { n: 2 }, webhook: null, extra: true };
const ctx = {} as JobContext;

async function collect(stream: ReadableStream<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  const reader = stream.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

test("runHandler() returns the value of a plain function", async () => {
  assert.deepEqual(await runHandler(handlers.echo!, job, ctx), { kind: "value", value: { n: 2 } });
});

test("runHandler() awaits an async function", async () => {
  assert.deepEqual(await runHandler(handlers.asyncEcho!, job, ctx), {
    kind: "value",
    value: { n: 2 },
  });
});

test("runHandler() passes the whole job object unchanged", async () => {
  const out = await runHandler(handlers.whole!, job, ctx);
  assert.deepEqual(out, {
    kind: "value",
    value: { id: "j1", keys: ["extra", "id", "input", "webhook"], input: { n: 2 } },
  });
});

test("runHandler() passes the context as the second argument", async () => {
  let seen: unknown;
  await runHandler((_job, c) => (seen = c), job, ctx);
  assert.equal(seen, ctx);
});

test("runHandler() streams a sync generator", async () => {
  const out = await runHandler(handlers.syncGenerator!, job, ctx);
  assert.equal(out.kind, "stream");
  assert.deepEqual(await collect((out as { stream: ReadableStream }).stream), ["s0", "s1"]);
});

test("runHandler() streams an async generator", async () => {
  const out = await runHandler(handlers.asyncGenerator!, job, ctx);
  assert.equal(out.kind, "stream");
  assert.deepEqual(await collect((out as { stream: ReadableStream }).stream), ["a0", "a1"]);
});

test("runHandler() streams a returned AsyncIterable", async () => {
  const out = await runHandler(handlers.asyncIterable!, job, ctx);
  assert.deepEqual(await collect((out as { stream: ReadableStream }).stream), ["i0", "i1"]);
});

test("runHandler() passes a returned ReadableStream through", async () => {
  const out = await runHandler(handlers.readableStream!, job, ctx);
  assert.deepEqual(await collect((out as { stream: ReadableStream }).stream), [
    { part: 1 },
    { part: 2 },
  ]);
});

test("runHandler() streams a generator returned through a promise", async () => {
  const out = await runHandler(handlers.asyncReturnsGenerator!, job, ctx);
  assert.deepEqual(await collect((out as { stream: ReadableStream }).stream), ["g0", "g1"]);
});

test("runHandler() treats arrays, strings, Sets and Maps as values", async () => {
  for (const value of [[1, 2], "text", new Set([1]), new Map()]) {
    const out = await runHandler(() => value, job, ctx);
    assert.deepEqual(out, { kind: "value", value });
  }
});

test("runHandler() rejects with a synchronous throw", async () => {
  await assert.rejects(runHandler(handlers.syncThrow!, job, ctx), TypeError);
});

test("runHandler() rejects with an async throw", async () => {
  await assert.rejects(runHandler(handlers.asyncThrow!, job, ctx), RangeError);
});

test("runHandler() errors the stream when a generator throws mid-way", async () => {
  const out = await runHandler(handlers.generatorThrowsAfterTwo!, job, ctx);
  const reader = (out as { stream: ReadableStream }).stream.getReader();
  assert.deepEqual(await reader.read(), { done: false, value: 1 });
  assert.deepEqual(await reader.read(), { done: false, value: 2 });
  await assert.rejects(reader.read(), /gen fail/);
});

test("asStream() pulls from the source only when read (backpressure)", async () => {
  let produced = 0;
  const stream = asStream((function* () {
    while (true) yield ++produced;
  })())!;
  const reader = stream.getReader();
  // Let any eager pulling happen: a macrotask turn drains every pending microtask.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(produced, 0);
  await reader.read();
  await reader.read();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(produced, 2);
  await reader.cancel();
});

test("asStream() runs the generator's finally block when cancelled", async () => {
  let cleaned = false;
  const stream = asStream((async function* () {
    try {
      while (true) yield 1;
    } finally {
      cleaned = true;
    }
  })())!;
  const reader = stream.getReader();
  await reader.read();
  await reader.cancel("stop");
  assert.equal(cleaned, true);
});

test("asStream() returns undefined for non-streams", () => {
  for (const value of [null, 1, "s", [1], { a: 1 }, new Set()]) {
    assert.equal(asStream(value), undefined);
  }
});
