/**
 * `chunkSink` against protocol §6.1 (one `{"output": item}` post per chunk) and §12 (stream
 * back-pressure: a bounded buffer, opt-in batching, errors that name the problem).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Deferred, deferred } from "../src/async/deferred.ts";
import { mergeChunks } from "../src/config.ts";
import { chunkSink } from "../src/pull/chunk_sink.ts";

/** One call of a {@linkcode heldPosts} `post`. */
interface HeldPost {
  /** The body it was given. */
  body: string;
  /** The body's `output`. */
  output: unknown;
  /** Settles the post. */
  release(): void;
}

/**
 * A `post` whose calls stay pending until released; `call(i)` resolves once the `i`-th call
 * (from 0) has been made.
 */
function heldPosts() {
  const calls: HeldPost[] = [];
  const arrivals: Deferred<HeldPost>[] = [];
  const arrival = (i: number) => (arrivals[i] ??= deferred<HeldPost>());
  const post = (body: string): Promise<void> => {
    const done = deferred<void>();
    const call: HeldPost = {
      body,
      output: (JSON.parse(body) as { output: unknown }).output,
      release: () => done.resolve(),
    };
    arrival(calls.push(call) - 1).resolve(call);
    return done.promise;
  };
  return { post, calls, call: (i: number) => arrival(i).promise };
}

/** A `post` that delivers at once, keeping the bodies. */
function instantPosts() {
  const bodies: string[] = [];
  return { bodies, post: (body: string) => Promise.resolve(void bodies.push(body)) };
}

/** Releases every post as it arrives until `until` settles. */
async function drive(held: ReturnType<typeof heldPosts>, until: Promise<unknown>): Promise<void> {
  let done = false;
  const finished = until.then(() => (done = true), () => (done = true));
  for (let i = 0; !done; i++) {
    const call = await Promise.race([held.call(i), finished.then(() => undefined)]);
    call?.release();
  }
}

/** Asserts that `promise` rejects with an error of class `type` whose message matches. */
async function rejectsWith(
  promise: Promise<unknown>,
  type: new (...args: never[]) => Error,
  ...patterns: RegExp[]
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${error}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

// --- one post per chunk ---

test('chunkSink() posts {"output": chunk} for each chunk, in order', async () => {
  const { bodies, post } = instantPosts();
  const writer = chunkSink({ post }).getWriter();
  const chunks = ["tok", 1, { a: [1, null] }, [true], null, "é✓"];
  for (const chunk of chunks) await writer.write(chunk);
  await writer.close();
  assert.equal(bodies.length, chunks.length);
  assert.deepEqual(bodies.map((body) => JSON.parse(body)), chunks.map((output) => ({ output })));
});

test("chunkSink() without batch makes one post per chunk even while a post is slow", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post }).getWriter();
  for (const chunk of ["a", "b", "c", "d"]) void writer.write(chunk);
  const closing = writer.close();
  await drive(held, closing);
  await closing;
  assert.deepEqual(held.calls.map((call) => call.output), ["a", "b", "c", "d"]);
});

test("chunkSink() posts one chunk at a time", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post }).getWriter();
  const writes = ["a", "b", "c"].map((chunk) => writer.write(chunk));
  const first = await held.call(0);
  await Promise.resolve();
  assert.equal(held.calls.length, 1);
  first.release();
  await writes[0];
  (await held.call(1)).release();
  (await held.call(2)).release();
  await Promise.all(writes);
  assert.deepEqual(held.calls.map((call) => call.output), ["a", "b", "c"]);
  await writer.close();
});

// --- the bounded buffer ---

test("chunkSink() bounds how far a writer can run ahead while a post is blocked", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post, bufferSize: 2 }).getWriter();
  assert.equal(writer.desiredSize, 2);
  const writes = [writer.write("a"), writer.write("b")];
  assert.equal(writer.desiredSize, 0);
  writes.push(writer.write("c"));
  assert.equal(writer.desiredSize, -1);
  const first = await held.call(0);
  assert.equal(held.calls.length, 1);
  // Still full: "a" is in flight and counts, "b" and "c" wait.
  assert.equal(writer.desiredSize, -1);
  first.release();
  await writes[0];
  await held.call(1);
  assert.equal(writer.desiredSize, 0);
  held.calls[1]!.release();
  await writer.ready;
  assert.ok(writer.desiredSize! > 0);
  (await held.call(2)).release();
  await Promise.all(writes);
  await writer.close();
  assert.deepEqual(held.calls.map((call) => call.output), ["a", "b", "c"]);
});

test("chunkSink() makes a writer that honours ready wait after bufferSize chunks", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post, bufferSize: 3 }).getWriter();
  let issued = 0;
  const blocked = deferred<number>();
  const producer = (async () => {
    for (let i = 0; i < 10; i++) {
      if (writer.desiredSize! <= 0) blocked.resolve(issued);
      await writer.ready;
      void writer.write(i);
      issued++;
    }
    await writer.close();
  })();
  assert.equal(await blocked.promise, 3);
  (await held.call(0)).release();
  await drive(held, producer);
  await producer;
  assert.equal(issued, 10);
  assert.deepEqual(held.calls.map((call) => call.output), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("chunkSink() close waits for the last post", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post }).getWriter();
  void writer.write("last");
  let closed = false;
  const closing = writer.close().then(() => (closed = true));
  const call = await held.call(0);
  await Promise.resolve();
  assert.equal(closed, false);
  call.release();
  await closing;
  assert.equal(closed, true);
});

// --- batch mode ---

test("chunkSink() in batch mode posts the first chunk alone and merges the rest", async () => {
  const held = heldPosts();
  const merged: unknown[][] = [];
  const writer = chunkSink({
    post: held.post,
    batch: { maxChunks: 8, merge: (chunks) => (merged.push(chunks), chunks.join("+")) },
  }).getWriter();
  await writer.write("a");
  const first = await held.call(0);
  assert.equal(first.output, "a");
  await writer.write("b");
  await writer.write("c");
  await writer.write("d");
  assert.equal(held.calls.length, 1);
  first.release();
  const closing = writer.close();
  (await held.call(1)).release();
  await closing;
  assert.deepEqual(held.calls.map((call) => call.output), ["a", "b+c+d"]);
  assert.deepEqual(merged, [["b", "c", "d"]]);
});

test("chunkSink() in batch mode joins strings with the default mergeChunks", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post, batch: { maxChunks: 16, merge: mergeChunks } })
    .getWriter();
  await writer.write("Hel");
  const first = await held.call(0);
  for (const token of ["lo", ", ", "wor", "ld"]) await writer.write(token);
  first.release();
  const closing = writer.close();
  (await held.call(1)).release();
  await closing;
  assert.deepEqual(held.calls.map((call) => call.output), ["Hel", "lo, world"]);
});

test("chunkSink() in batch mode turns non-string chunks into an array with mergeChunks", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post, batch: { maxChunks: 16, merge: mergeChunks } })
    .getWriter();
  await writer.write({ n: 0 });
  const first = await held.call(0);
  await writer.write({ n: 1 });
  await writer.write("two");
  first.release();
  const closing = writer.close();
  (await held.call(1)).release();
  await closing;
  assert.deepEqual(held.calls.map((call) => call.output), [{ n: 0 }, [{ n: 1 }, "two"]]);
});

test("chunkSink() in batch mode posts nothing merged when no post is in flight", async () => {
  const { bodies, post } = instantPosts();
  const writer = chunkSink({ post, batch: { maxChunks: 4, merge: mergeChunks } }).getWriter();
  await writer.write("x");
  await writer.close();
  assert.deepEqual(bodies, ['{"output":"x"}']);
});

test("chunkSink() in batch mode never posts more than maxChunks chunks at once", async () => {
  const held = heldPosts();
  const merged: number[][] = [];
  const writer = chunkSink({
    post: held.post,
    bufferSize: 64,
    batch: {
      maxChunks: 3,
      merge: (chunks) => (merged.push(chunks as number[]), chunks),
    },
  }).getWriter();
  const chunks = Array.from({ length: 20 }, (_, i) => i);
  const writes = chunks.map((chunk) => writer.write(chunk));
  const closing = writer.close();
  const first = await held.call(0);
  await writes[2]; // 1 and 2 are gathered while 0 is posted
  assert.equal(held.calls.length, 1);
  first.release();
  await drive(held, closing);
  await closing;
  const posted = held.calls.map((call) => call.output);
  assert.equal(posted[0], 0);
  for (const output of posted) {
    if (Array.isArray(output)) assert.ok(output.length <= 3, JSON.stringify(output));
  }
  assert.ok(merged.length > 0, "some chunks were merged");
  for (const batch of merged) assert.ok(batch.length >= 2 && batch.length <= 3);
  assert.deepEqual(posted.flat(), chunks);
});

test("chunkSink() in batch mode close waits for the last merged post", async () => {
  const held = heldPosts();
  const writer = chunkSink({ post: held.post, batch: { maxChunks: 8, merge: mergeChunks } })
    .getWriter();
  await writer.write("a");
  const first = await held.call(0);
  await writer.write("b");
  await writer.write("c");
  let closed = false;
  const closing = writer.close().then(() => (closed = true));
  first.release();
  const last = await held.call(1);
  await Promise.resolve();
  assert.equal(closed, false);
  last.release();
  await closing;
  assert.equal(closed, true);
  assert.deepEqual(held.calls.map((call) => call.output), ["a", "bc"]);
});

// --- chunks that cannot be sent ---

test("chunkSink() errors the stream on a BigInt chunk, naming the problem", async () => {
  for (const batch of [undefined, { maxChunks: 4, merge: mergeChunks }]) {
    const { bodies, post } = instantPosts();
    const writer = chunkSink({ post, batch }).getWriter();
    await writer.write("fine");
    await rejectsWith(writer.write({ n: 10n }), TypeError, /JSON/, /BigInt/);
    await rejectsWith(writer.closed, TypeError, /BigInt/);
    await rejectsWith(writer.write("after"), TypeError, /BigInt/);
    assert.deepEqual(bodies, ['{"output":"fine"}'], batch ? "batch" : "no batch");
  }
});

test("chunkSink() errors the stream on a Map chunk, naming the problem", async () => {
  for (const batch of [undefined, { maxChunks: 4, merge: mergeChunks }]) {
    const { bodies, post } = instantPosts();
    const writer = chunkSink({ post, batch }).getWriter();
    await rejectsWith(writer.write(new Map([["a", 1]])), TypeError, /JSON/, /Map/);
    await rejectsWith(writer.closed, TypeError, /Map/);
    assert.deepEqual(bodies, [], batch ? "batch" : "no batch");
  }
});

test("chunkSink() errors the stream on a chunk over maxBytes, naming the size and limit", async () => {
  for (const batch of [undefined, { maxChunks: 4, merge: mergeChunks }]) {
    const { bodies, post } = instantPosts();
    const writer = chunkSink({ post, batch, maxBytes: 100 }).getWriter();
    await writer.write("x".repeat(50));
    await rejectsWith(writer.write("x".repeat(200)), RangeError, /bytes/, /100/);
    await rejectsWith(writer.closed, RangeError, /100/);
    assert.equal(bodies.length, 1, batch ? "batch" : "no batch");
  }
});

test("chunkSink() measures maxBytes in UTF-8 bytes, not characters", async () => {
  const { bodies, post } = instantPosts();
  const writer = chunkSink({ post, maxBytes: 100 }).getWriter();
  // 40 characters, 120 bytes: `{"output":"…"}` is 53 characters but 133 bytes.
  await rejectsWith(writer.write("€".repeat(40)), RangeError, /bytes/);
  assert.deepEqual(bodies, []);
  const ascii = chunkSink({ post, maxBytes: 100 }).getWriter();
  await ascii.write("e".repeat(40));
  await ascii.close();
  assert.equal(bodies.length, 1);
});

// --- a merge that fails ---

test("chunkSink() reports a merge that throws on the next write", async () => {
  const held = heldPosts();
  const boom = new Error("merge failed");
  const mergeCalled = deferred<void>();
  const writer = chunkSink({
    post: held.post,
    batch: {
      maxChunks: 8,
      merge: () => {
        mergeCalled.resolve();
        throw boom;
      },
    },
  }).getWriter();
  await writer.write("a");
  await writer.write("b");
  await writer.write("c");
  (await held.call(0)).release();
  await mergeCalled.promise;
  // Nothing observes the failure until the next write: it must not be an unhandled rejection.
  await assert.rejects(writer.write("d"), (error) => error === boom);
  await assert.rejects(writer.closed, (error) => error === boom);
  assert.deepEqual(held.calls.map((call) => call.output), ["a"]);
});

test("chunkSink() reports a merge that throws on close", async () => {
  const held = heldPosts();
  const boom = new RangeError("cannot merge");
  const writer = chunkSink({
    post: held.post,
    batch: {
      maxChunks: 8,
      merge: () => {
        throw boom;
      },
    },
  }).getWriter();
  await writer.write("a");
  await writer.write("b");
  await writer.write("c");
  const closing = writer.close();
  (await held.call(0)).release();
  await assert.rejects(closing, (error) => error === boom);
  assert.equal(held.calls.length, 1);
});

test("chunkSink() reports a merge result that is not JSON-serialisable", async () => {
  const held = heldPosts();
  const writer = chunkSink({
    post: held.post,
    batch: { maxChunks: 8, merge: (chunks) => new Set(chunks) },
  }).getWriter();
  await writer.write("a");
  await writer.write("b");
  await writer.write("c");
  const closing = writer.close();
  (await held.call(0)).release();
  await rejectsWith(closing, TypeError, /JSON/, /Set/);
  assert.equal(held.calls.length, 1);
});

test("chunkSink() leaves no unhandled rejection when a merge throws and nobody writes again", async () => {
  const held = heldPosts();
  const mergeCalled = deferred<void>();
  const writer = chunkSink({
    post: held.post,
    batch: {
      maxChunks: 8,
      merge: () => {
        mergeCalled.resolve();
        throw new Error("merge failed, never observed");
      },
    },
  }).getWriter();
  await writer.write("a");
  await writer.write("b");
  await writer.write("c");
  (await held.call(0)).release();
  await mergeCalled.promise;
  // The writer is abandoned here. A rejection nobody handles would fail this file under Node
  // ("asynchronous activity after the test ended") and Bun.
  writer.releaseLock();
  assert.equal(held.calls.length, 1);
});
