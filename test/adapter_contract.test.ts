/**
 * The runtime contract, checked against the adapter of the runtime running the tests.
 */
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { deferred } from "../src/async/deferred.ts";
import { currentRuntime, runtimeName } from "./support/runtime.ts";

const runtime = await currentRuntime();

test(`adapter: names its runtime and version (${runtimeName})`, () => {
  assert.equal(runtime.name, runtimeName);
  assert.match(runtime.version, /^\d+\.\d+\.\d+/);
  assert.ok(Array.isArray(runtime.args));
});

test("adapter: env() reads variables and returns undefined for unset ones", () => {
  process.env.EDGEPOD_CONTRACT_VAR = "value-1";
  assert.equal(runtime.env("EDGEPOD_CONTRACT_VAR"), "value-1");
  assert.equal(runtime.env("EDGEPOD_SURELY_UNSET_VAR"), undefined);
});

test("adapter: readTextFile() reads UTF-8 and returns undefined for a missing file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "edgepod-"));
  try {
    await writeFile(join(dir, "a.json"), '{"é":1}');
    assert.equal(await runtime.readTextFile(join(dir, "a.json")), '{"é":1}');
    assert.equal(await runtime.readTextFile(join(dir, "missing.json")), undefined);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("adapter: serve() serves a fetch handler on loopback and close() stops it", async () => {
  const server = await runtime.serve(async (request) => {
    const url = new URL(request.url);
    return Response.json({
      method: request.method,
      path: url.pathname,
      body: await request.text(),
    });
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    assert.ok(server.port > 0);
    const res = await fetch(`http://127.0.0.1:${server.port}/x/y?z=1`, {
      method: "POST",
      body: "hi",
    });
    assert.deepEqual(await res.json(), { method: "POST", path: "/x/y", body: "hi" });
  } finally {
    await server.close();
  }
  await assert.rejects(fetch(`http://127.0.0.1:${server.port}/`));
});

test("adapter: serve() keeps a connection whose answer is silent for 15 s, past Bun's 10 s idle limit", async () => {
  const QUIET_MS = 15_000; // what is under test is the server's idle timer: it must not fire
  let served = 0;
  const server = await runtime.serve((request) => {
    served++;
    const later = new Promise<void>((resolve) => setTimeout(resolve, QUIET_MS));
    if (new URL(request.url).pathname === "/stream") {
      return new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            await later; // a queued job's stream: no byte, headers included, until it starts
            controller.enqueue(new TextEncoder().encode("data: 1\n\n"));
            controller.close();
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    return later.then(() => new Response("late")); // a long sync job
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const [stream, sync] = await Promise.all([
      fetch(`${base}/stream`).then((res) => res.text()),
      fetch(`${base}/sync`).then((res) => res.text()),
    ]);
    assert.equal(stream, "data: 1\n\n");
    assert.equal(sync, "late");
    assert.equal(served, 2); // no request was cut and silently sent again by the client
  } finally {
    await server.close();
  }
});

test("adapter: close() with a grace resolves by its end, even with a client that stopped reading", async () => {
  const chunk = new Uint8Array(64 * 1024);
  const server = await runtime.serve(() =>
    new Response(
      new ReadableStream<Uint8Array>({ pull: (controller) => controller.enqueue(chunk) }),
    ), { hostname: "127.0.0.1", port: 0 });
  const reading = deferred<void>();
  const client = httpRequest({ host: "127.0.0.1", port: server.port, path: "/" }, (res) => {
    res.pause(); // headers read, then never another byte: the server's writes back up
    reading.resolve();
  });
  client.on("error", () => {}); // the server may cut it
  client.end();
  await reading.promise;
  try {
    // Resolving at all is the check: on Deno, shutdown() alone waits for this client for ever.
    await server.close({ graceMs: 200 });
  } finally {
    client.destroy();
  }
});

test("adapter: serve() answers the bound address, not the name it was given", async () => {
  const server = await runtime.serve(() => new Response("ok"), { hostname: "localhost" });
  try {
    // Bun's server echoes "localhost"; the ready lines print this, so it must be the address.
    assert.ok(["127.0.0.1", "::1"].includes(server.hostname), server.hostname);
    const host = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
    assert.equal(await (await fetch(`http://${host}:${server.port}/`)).text(), "ok");
  } finally {
    await server.close();
  }
});

test("adapter: serve() rejects when the port is in use, and the process lives on", async () => {
  const first = await runtime.serve(() => new Response("first"), { hostname: "127.0.0.1" });
  try {
    await assert.rejects(
      runtime.serve(() => new Response("second"), { hostname: "127.0.0.1", port: first.port }),
      (error: unknown) => {
        assert.match(String((error as Error).message ?? error), /EADDRINUSE|in use/i);
        return true;
      },
    );
    const res = await fetch(`http://127.0.0.1:${first.port}/`);
    assert.equal(await res.text(), "first");
  } finally {
    await first.close();
  }
});

test("adapter: http client sends headers and bodies and reads status, headers and body", async () => {
  const server = await runtime.serve(async (request) =>
    new Response(`${request.headers.get("authorization")}|${await request.text()}`, {
      status: 201,
      headers: { "x-answer": "42" },
    })
  );
  try {
    const res = await runtime.http({
      method: "POST",
      url: `http://127.0.0.1:${server.port}/`,
      headers: { authorization: "key-1", "content-type": "application/x-www-form-urlencoded" },
      body: '{"output":"é"}',
    });
    assert.equal(res.status, 201);
    assert.equal(res.header("X-Answer"), "42");
    assert.equal(res.body, 'key-1|{"output":"é"}');
  } finally {
    await server.close();
  }
});

test("adapter: http client rejects on a refused connection and on abort", async () => {
  const server = await runtime.serve(() => new Promise<Response>(() => {}));
  const port = server.port;
  try {
    const controller = new AbortController();
    const pending = runtime.http({
      method: "GET",
      url: `http://127.0.0.1:${port}/`,
      headers: {},
      signal: controller.signal,
    });
    controller.abort(new Error("stop"));
    await assert.rejects(pending);
  } finally {
    await server.close();
  }
  await assert.rejects(
    runtime.http({ method: "GET", url: `http://127.0.0.1:${port}/`, headers: {} }),
  );
});

/** A thread's source for the contract test: answers each message with its double. */
const ECHO_THREAD = `
function threadMain(data, port) {
  port.postMessage({ ready: data });
  port.onMessage((message) => port.postMessage({ doubled: message * 2 }));
}
`;

test("adapter: startThread() runs a source's threadMain and exchanges messages", async () => {
  const thread = runtime.startThread(ECHO_THREAD, "hello");
  const messages: unknown[] = [];
  const got = deferred<void>();
  thread.onMessage((message) => {
    messages.push(message);
    if (messages.length === 3) got.resolve();
  });
  thread.postMessage(2);
  thread.postMessage(21);
  await got.promise;
  assert.deepEqual(messages, [{ ready: "hello" }, { doubled: 4 }, { doubled: 42 }]);
  await thread.terminate();
});

test("adapter: startThread() shares a SharedArrayBuffer with the thread", async () => {
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const thread = runtime.startThread(
    "function threadMain(data, port) { Atomics.store(new Int32Array(data), 0, 7); port.postMessage('set'); }",
    shared.buffer,
  );
  const got = deferred<unknown>();
  thread.onMessage(got.resolve);
  try {
    assert.equal(await got.promise, "set");
    assert.equal(Atomics.load(shared, 0), 7);
  } finally {
    await thread.terminate();
  }
});

test("adapter: startThread() reports a thread that throws through onError", async () => {
  const thread = runtime.startThread(
    "function threadMain() { throw new Error('thread-boom'); }",
    null,
  );
  const failed = deferred<unknown>();
  thread.onError(failed.resolve);
  // Node's thread is unref'd (it must not keep a worker alive): hold the event loop meanwhile.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    assert.match(String(await failed.promise), /thread-boom/);
  } finally {
    clearInterval(keepAlive);
    await thread.terminate();
  }
});

test("adapter: startThread() refuses a source that is not a string", () => {
  assert.throws(
    () => runtime.startThread(new URL("file:///x.js") as unknown as string, null),
    (error: unknown) => error instanceof TypeError && /must be a string/.test(error.message),
  );
});

test("adapter: residentMemory() reports bytes", () => {
  assert.ok(runtime.residentMemory() > 1024 * 1024);
});
