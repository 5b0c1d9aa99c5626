/**
 * readBodyLimited(): bounded body reads, in memory and through each runtime's own HTTP server
 * with raw-socket clients that keep sending past the limit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { Hono } from "hono";
import { type LimitedBody, readBodyLimited } from "../src/push/body_limit.ts";
import { deferred } from "../src/async/deferred.ts";
import type { Server } from "../src/runtime.ts";
import { CORPUS_MAX_BODY_BYTES, pushHostileCorpus } from "./fixtures/push_hostile_corpus.ts";
import { currentRuntime, runtimeName } from "./support/runtime.ts";

const runtime = await currentRuntime();
const post = (body: BodyInit | Uint8Array | null, headers: Record<string, string> = {}) =>
  new Request("http://127.0.0.1/jobs", {
    method: "POST",
    body: body as BodyInit,
    headers,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);

/** A body stream that counts its pulls, yields `chunk` forever and records its cancel. */
function endlessStream(chunk: Uint8Array) {
  const state = { pulls: 0, cancelled: false, reason: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulls++;
      controller.enqueue(chunk.slice());
    },
    cancel(reason) {
      state.cancelled = true;
      state.reason = reason;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

test("readBodyLimited() returns the whole body when it is within the limit", async () => {
  const result = await readBodyLimited(post("x".repeat(1024)), 1024);
  assert.ok(result.ok);
  assert.equal(result.body.byteLength, 1024);
  assert.equal(new TextDecoder().decode(result.body), "x".repeat(1024));
});

test("readBodyLimited() refuses one byte over the limit with 413", async () => {
  const result = await readBodyLimited(post("x".repeat(1025)), 1024);
  assert.deepEqual(result, {
    ok: false,
    status: 413,
    message: "the body is larger than 1024 bytes",
  });
});

test("readBodyLimited() trusts no Content-Length its body does not keep to", async () => {
  const lying = await readBodyLimited(post("x".repeat(100), { "content-length": "10" }), 50);
  assert.equal(!lying.ok && lying.status, 413);
  const short = await readBodyLimited(post("x".repeat(10), { "content-length": "20" }), 50);
  assert.equal(!short.ok && short.status, 400);
  const exact = await readBodyLimited(post("x".repeat(20), { "content-length": "20" }), 50);
  assert.ok(exact.ok && exact.body.byteLength === 20);
  const bad = await readBodyLimited(post("x", { "content-length": "1e3" }), 50);
  assert.deepEqual(bad, {
    ok: false,
    status: 400,
    message: "the Content-Length header is not a number",
  });
  const over = await readBodyLimited(post("x", { "content-length": "51" }), 50);
  assert.equal(!over.ok && over.status, 413);
});

test("readBodyLimited() with a Content-Length rejects with the signal's reason when aborted", async () => {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(5));
    },
  });
  const controller = new AbortController();
  const reading = readBodyLimited(
    post(stream, { "content-length": "10" }),
    1000,
    controller.signal,
  );
  const reason = new Error("draining");
  controller.abort(reason);
  await assert.rejects(reading, (error) => error === reason);
});

test("readBodyLimited() gives an empty body for a request without one", async () => {
  const result = await readBodyLimited(
    new Request("http://127.0.0.1/jobs", { method: "POST" }),
    10,
  );
  assert.ok(result.ok);
  assert.equal(result.body.byteLength, 0);
});

test("readBodyLimited() joins a streamed body's chunks in order", async () => {
  const parts = ["ab", "cd", "ef"];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = parts.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
  });
  const result = await readBodyLimited(post(stream), 6);
  assert.ok(result.ok);
  assert.equal(new TextDecoder().decode(result.body), "abcdef");
});

test("readBodyLimited() stops reading an endless stream just past the limit and cancels it", async () => {
  const { stream, state } = endlessStream(new Uint8Array(1000));
  const result = await readBodyLimited(post(stream), 10_000);
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.status, 413);
  // 10 chunks fill the limit, the 11th passes it; nothing more is pulled.
  assert.ok(state.pulls <= 12, `pulled ${state.pulls} chunks`);
  assert.equal(state.cancelled, true);
  assert.ok(state.reason instanceof RangeError);
});

test("readBodyLimited() answers 400 when the body stream fails mid-way (a truncated upload)", async () => {
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ < 2) controller.enqueue(new Uint8Array(10));
      else controller.error(new TypeError("the client went away"));
    },
  });
  const result = await readBodyLimited(post(stream), 1000);
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.status, 400);
  assert.match(!result.ok ? result.message : "", /truncated/);
});

test("readBodyLimited() rejects with the signal's reason and cancels the stream when aborted", async () => {
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(5));
      // Then nothing: the read waits until the signal aborts.
    },
    cancel() {
      state.cancelled = true;
    },
  });
  const controller = new AbortController();
  const reading = readBodyLimited(post(stream), 1000, controller.signal);
  const reason = new Error("draining");
  controller.abort(reason);
  await assert.rejects(reading, (error) => error === reason);
  assert.equal(state.cancelled, true);
});

test("readBodyLimited() rejects at once when the signal is already aborted", async () => {
  const reason = new Error("already");
  await assert.rejects(
    readBodyLimited(post("x"), 10, AbortSignal.abort(reason)),
    (error) => error === reason,
  );
});

test("readBodyLimited() rejects a bad limit and a used body", async () => {
  await assert.rejects(readBodyLimited(post("x"), -1), RangeError);
  await assert.rejects(readBodyLimited(post("x"), 1.5), RangeError);
  await assert.rejects(readBodyLimited(post("x"), Number.NaN), RangeError);
  await assert.rejects(readBodyLimited(null as unknown as Request, 10), TypeError);
  const used = post("abc");
  await used.text();
  await assert.rejects(readBodyLimited(used, 10), /already read/);
});

test("readBodyLimited() refuses the corpus's limit cases and admits a body at the limit", async () => {
  const limitCases = pushHostileCorpus().filter((c) => c.layer === "limit");
  assert.ok(limitCases.length >= 2);
  for (const hostile of limitCases) {
    const result = await readBodyLimited(
      post(hostile.body, hostile.headers),
      CORPUS_MAX_BODY_BYTES,
    );
    assert.equal(!result.ok && result.status, hostile.expectStatus, hostile.name);
  }
  const atLimit = await readBodyLimited(
    post(new Uint8Array(CORPUS_MAX_BODY_BYTES)),
    CORPUS_MAX_BODY_BYTES,
  );
  assert.ok(atLimit.ok);
});

// --- through a real server ----------------------------------------------------------------------

const LIMIT = 256 * 1024;

async function withServer(
  run: (port: number) => Promise<void>,
  onResult: (result: LimitedBody) => void = () => {},
) {
  const app = new Hono();
  app.post("/jobs", async (c) => {
    const result = await readBodyLimited(c.req.raw, LIMIT);
    onResult(result);
    if (!result.ok) return c.json({ error: result.message }, result.status);
    return c.json({ bytes: result.body.byteLength });
  });
  const server: Server = await runtime.serve(app.fetch, { hostname: "127.0.0.1", port: 0 });
  try {
    await run(server.port);
  } finally {
    await server.close();
  }
}

interface Upload {
  /** The status line's code, or undefined when no answer came. */
  status?: number;
  /** Body bytes written before the answer came (or the client gave up). */
  sent: number;
  /** Whether the client had more to send when the answer came. */
  stillSending: boolean;
  /** A socket error seen before any answer. */
  error?: string;
}

/**
 * Sends `head`, then body chunks as fast as the socket takes them (waiting for `drain`), up to
 * `total` bytes, until an answer's status line arrives. `chunked` frames each chunk.
 */
function upload(
  port: number,
  head: string,
  options: { total: number; chunk?: number; chunked?: boolean; endAfter?: number },
): Promise<Upload> {
  const chunkSize = options.chunk ?? 16 * 1024;
  const payload = new Uint8Array(chunkSize).fill(0x61);
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: "127.0.0.1", port });
    let received = "";
    let sent = 0;
    let done = false;
    const finish = (result: Upload) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(result);
    };
    socket.on("data", (data) => {
      received += data.toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      if (match && received.includes("\r\n\r\n")) {
        finish({ status: Number(match[1]), sent, stillSending: sent < options.total });
      }
    });
    socket.on(
      "error",
      (error) => finish({ sent, stillSending: sent < options.total, error: String(error) }),
    );
    socket.on(
      "close",
      () => finish({ sent, stillSending: sent < options.total, error: "closed without an answer" }),
    );
    socket.on("connect", async () => {
      socket.write(head);
      const limit = options.endAfter ?? options.total;
      while (!done && sent < limit) {
        const size = Math.min(chunkSize, limit - sent);
        const bytes = size === chunkSize ? payload : payload.subarray(0, size);
        const framed = options.chunked
          ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), bytes, Buffer.from("\r\n")])
          : bytes;
        sent += size;
        if (!socket.write(framed)) {
          await new Promise<void>((wake) => {
            const wakeUp = () => {
              socket.off("drain", wakeUp);
              socket.off("close", wakeUp);
              wake();
            };
            socket.on("drain", wakeUp);
            socket.on("close", wakeUp);
          });
        }
      }
      if (!done && options.endAfter !== undefined) socket.end();
      else if (!done && options.chunked) socket.write("0\r\n\r\n");
    });
  });
}

const headFor = (headers: Record<string, string>) =>
  `POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
  Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";

test("readBodyLimited() over HTTP: a body within the limit is read whole", async () => {
  await withServer(async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/jobs`, {
      method: "POST",
      body: new Uint8Array(LIMIT),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { bytes: LIMIT });
  });
});

test("readBodyLimited() over HTTP: a Content-Length over the limit gets 413 before any body is sent", async () => {
  await withServer(async (port) => {
    const answer = await upload(port, headFor({ "Content-Length": String(100 * 1024 * 1024) }), {
      total: 100 * 1024 * 1024,
      endAfter: 0,
    });
    assert.equal(answer.status, 413, JSON.stringify(answer));
    assert.equal(answer.sent, 0);
  });
});

test("readBodyLimited() over HTTP: a chunked upload that never stops gets 413 while the client is still sending", async () => {
  const seen = deferred<LimitedBody>();
  await withServer(async (port) => {
    const total = 512 * 1024 * 1024;
    const answer = await upload(port, headFor({ "Transfer-Encoding": "chunked" }), {
      total,
      chunked: true,
    });
    assert.equal(answer.status, 413, JSON.stringify(answer));
    assert.equal(answer.stillSending, true);
    assert.ok(answer.sent > LIMIT, `only ${answer.sent} bytes were sent`);
    // The answer is readBodyLimited's, not a server-level limit's.
    const result = await seen.promise;
    assert.equal(!result.ok && result.status, 413);
  }, (result) => seen.resolve(result));
});

test("readBodyLimited() over HTTP: a client streaming a body whose Content-Length is over the limit gets 413 while still sending", async () => {
  await withServer(async (port) => {
    const total = 64 * 1024 * 1024;
    const answer = await upload(port, headFor({ "Content-Length": String(total) }), { total });
    assert.equal(answer.status, 413, JSON.stringify(answer));
    assert.equal(answer.stillSending, true);
  });
});

test("readBodyLimited() over HTTP: a body cut short of its Content-Length is a 400", async () => {
  const seen = deferred<LimitedBody>();
  await withServer(async (port) => {
    const answer = await upload(port, headFor({ "Content-Length": "2000" }), {
      total: 2000,
      endAfter: 1000,
    });
    // The handler reads the truncation as a 400 on every runtime.
    const result = await seen.promise;
    assert.equal(!result.ok && result.status, 400);
    // Node and Deno still deliver the answer over the half-closed connection; Bun closes it.
    if (runtimeName !== "bun") assert.equal(answer.status, 400, JSON.stringify(answer));
    else assert.ok(answer.status === 400 || answer.error !== undefined, JSON.stringify(answer));
  }, (result) => seen.resolve(result));
});
