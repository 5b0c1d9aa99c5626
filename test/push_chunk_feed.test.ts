// ChunkFeed: how a streaming job's chunks reach its watchers (SSE and NDJSON bodies).

import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkFeed, MAX_LAG_CHARS, REPLAY_CHARS, REPLAY_CHUNKS } from "../src/push/chunk_feed.ts";

const decoder = new TextDecoder();
const lines = (bytes: Uint8Array) => decoder.decode(bytes).trim().split("\n");

/** Reads an NDJSON body to its end; resolves to how many chunk lines it held. */
async function countChunks(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<number> {
  let read = 0;
  while (true) {
    const next = await reader.read();
    if (next.done) return read;
    read += lines(next.value).filter((line) => line.startsWith('{"output"')).length;
  }
}

test("ChunkFeed joins the events a reader has not pulled into one chunk, and sends the next at once", async () => {
  const feed = new ChunkFeed();
  const reader = feed.watch("ndjson").getReader();
  const writer = feed.sink().getWriter();
  for (const chunk of ["a", "b", "c"]) await writer.write(chunk);
  const joined = await reader.read();
  assert.deepEqual(lines(joined.value!), ['{"output":"a"}', '{"output":"b"}', '{"output":"c"}']);
  // The reader now waits: the next event is not held back for company.
  const next = reader.read();
  await writer.write({ n: 4 });
  assert.deepEqual(lines((await next).value!), ['{"output":{"n":4}}']);
  await writer.close();
  feed.end('{"id":"j","status":"COMPLETED"}');
  assert.deepEqual(lines((await reader.read()).value!), ['{"id":"j","status":"COMPLETED"}']);
  assert.equal((await reader.read()).done, true);
});

test("ChunkFeed writes SSE events with the final status as the last event", async () => {
  const feed = new ChunkFeed();
  const body = feed.watch("sse");
  const writer = feed.sink().getWriter();
  await writer.write("x");
  await writer.close();
  feed.end('{"status":"COMPLETED"}');
  assert.equal(
    await new Response(body).text(),
    'event: chunk\ndata: {"output":"x"}\n\nevent: result\ndata: {"status":"COMPLETED"}\n\n',
  );
});

test("ChunkFeed replays the last REPLAY_CHUNKS chunks, in order, to a watcher that comes late", async () => {
  const feed = new ChunkFeed();
  const writer = feed.sink().getWriter();
  const total = REPLAY_CHUNKS + 6;
  for (let i = 0; i < total; i++) await writer.write(i); // nobody watches: writes do not wait
  const late = feed.watch("ndjson");
  feed.end('{"status":"COMPLETED"}');
  const seen = (await new Response(late).text()).trim().split("\n");
  assert.equal(seen.length, REPLAY_CHUNKS + 1);
  assert.equal(seen[0], `{"output":${total - REPLAY_CHUNKS}}`);
  assert.equal(seen.at(-2), `{"output":${total - 1}}`);
  assert.equal(seen.at(-1), '{"status":"COMPLETED"}');
  // After the end, a watcher gets the replay and the final event at once.
  const after = (await new Response(feed.watch("ndjson")).text()).trim().split("\n");
  assert.deepEqual(after, seen);
});

test("ChunkFeed cuts off a later watcher that falls far behind, and the first keeps pacing", async () => {
  const feed = new ChunkFeed();
  const first = feed.watch("ndjson").getReader();
  const laggard = feed.watch("ndjson").getReader(); // never reads
  const reading = countChunks(first);
  const writer = feed.sink().getWriter();
  for (let i = 0; i < 5000; i++) await writer.write(i);
  await writer.close();
  await assert.rejects(laggard.read(), (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /behind/);
    return true;
  });
  assert.equal(feed.watchers, 1);
  feed.end('{"status":"COMPLETED"}');
  assert.equal(await reading, 5000);
});

test("ChunkFeed: when the pacing watcher cancels, a waiting write goes on and writes stop waiting", async () => {
  const feed = new ChunkFeed();
  const reader = feed.watch("ndjson").getReader();
  const writer = feed.sink().getWriter();
  // Nobody reads: the writes that fill the pacing window are accepted, then one waits.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) writes.push(writer.write("x".repeat(1024)));
  await reader.cancel();
  await Promise.all(writes);
  assert.equal(feed.watchers, 0);
  for (let i = 0; i < 1000; i++) await writer.write(i);
  await writer.close();
});

test("ChunkFeed bounds a later watcher by characters: big chunks cut a laggard off, not the job", async () => {
  const feed = new ChunkFeed();
  const first = feed.watch("ndjson").getReader();
  const laggard = feed.watch("ndjson").getReader(); // never reads
  const big = "x".repeat(256 * 1024);
  const count = Math.ceil(MAX_LAG_CHARS / big.length) + 4;
  const reading = countChunks(first);
  const writer = feed.sink().getWriter();
  for (let i = 0; i < count; i++) await writer.write(big); // none of these writes fails
  await writer.close();
  await assert.rejects(laggard.read(), /fell too far behind the stream/);
  assert.equal(feed.watchers, 1, "only the laggard was cut off");
  feed.end('{"status":"COMPLETED"}');
  assert.equal(await reading, count, "the reading watcher got every chunk");
});

test("ChunkFeed keeps at most REPLAY_CHARS of replay, the newest chunks, and always the last one", async () => {
  const feed = new ChunkFeed();
  const writer = feed.sink().getWriter();
  const size = 300 * 1024;
  const total = 40;
  for (let i = 0; i < total; i++) await writer.write(`${i}:${"y".repeat(size)}`);
  const late = await readAll(feed, () => feed.end('{"status":"COMPLETED"}'));
  const kept = late.slice(0, -1).map((line) => Number(JSON.parse(line).output.split(":")[0]));
  assert.ok(kept.length < total && kept.length > 0, `kept ${kept.length} of ${total}`);
  assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => total - kept.length + i));
  assert.ok(late.slice(0, -1).join("\n").length <= REPLAY_CHARS, "within the replay bound");
  // One chunk larger than the bound is still replayed, alone.
  const huge = new ChunkFeed();
  const w = huge.sink().getWriter();
  await w.write("a");
  await w.write("z".repeat(REPLAY_CHARS + 10));
  const lone = await readAll(huge, () => huge.end('{"status":"COMPLETED"}'));
  assert.equal(lone.length, 2);
  assert.equal(JSON.parse(lone[0]!).output.length, REPLAY_CHARS + 10);
  // A watcher that keeps up takes a chunk bigger than the lag bound.
  const wide = new ChunkFeed();
  const a = wide.watch("ndjson").getReader();
  const b = wide.watch("ndjson").getReader();
  const pendingB = b.read();
  const ww = wide.sink().getWriter();
  const writing = ww.write("q".repeat(MAX_LAG_CHARS + 1));
  assert.equal(
    JSON.parse(decoder.decode((await a.read()).value!)).output.length,
    MAX_LAG_CHARS + 1,
  );
  assert.equal(
    JSON.parse(decoder.decode((await pendingB).value!)).output.length,
    MAX_LAG_CHARS + 1,
  );
  await writing;
  assert.equal(wide.watchers, 2);
});

/** A late watcher's whole body, as NDJSON lines, after `end` is called. */
async function readAll(feed: ChunkFeed, end: () => void): Promise<string[]> {
  const body = feed.watch("ndjson");
  end();
  return (await new Response(body).text()).trim().split("\n");
}
