/**
 * The push app's `fetch` handler on Cloudflare's workerd (npm `workerd`, its binary from the
 * npm package), served on loopback from examples/edge-workerd: the bundle esbuild makes of
 * `worker.ts` and the example's own `config.capnp`. Sync answers, SSE streaming and bearer auth.
 * Skipped, saying why, where the workerd binary does not run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(REPO, "node_modules", ".bin");
const WORKERD = join(BIN, "workerd");
const ESBUILD = join(BIN, "esbuild");
const EXAMPLE = join(REPO, "examples", "edge-workerd");
const TOKENS = ["token-old-0123456789", "token-new-9876543210"];

function unavailable(): string | false {
  for (const [name, exe] of [["workerd", WORKERD], ["esbuild", ESBUILD]]) {
    const probe = spawnSync(exe!, ["--version"], { encoding: "utf8" });
    if (probe.status !== 0) {
      return `${name} is not available here (${exe} --version: ${
        probe.error?.message ?? `exit ${probe.status}`
      }); run npm install`;
    }
  }
  return false;
}

const skip = unavailable();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => address && typeof address === "object" ? resolve(address.port) : reject());
    });
  });
}

let dir = "";
let child: ChildProcess | undefined;
let exited: Promise<unknown> = Promise.resolve();
let base = "";
let stderr = "";

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "edgepod-workerd-"));
  mkdirSync(join(dir, "dist"));
  const bundle = spawnSync(ESBUILD, [
    join(EXAMPLE, "worker.ts"),
    "--bundle",
    "--format=esm",
    "--platform=browser",
    `--outfile=${join(dir, "dist", "worker.js")}`,
    "--log-level=warning",
  ], { encoding: "utf8" });
  assert.equal(bundle.status, 0, `esbuild failed: ${bundle.stderr}`);
  copyFileSync(join(EXAMPLE, "config.capnp"), join(dir, "config.capnp"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(WORKERD, [
    "serve",
    join(dir, "config.capnp"),
    "--socket-addr",
    `http=127.0.0.1:${port}`,
  ], {
    env: { PATH: process.env.PATH ?? "", EDGEPOD_PUSH_TOKENS: TOKENS.join(",") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr!.on("data", (data) => (stderr += data));
  let code: number | null | undefined;
  exited = new Promise((resolve) => child!.once("exit", (c) => resolve(code = c)));
  // Ready when /ping answers; bounded, and a workerd that exits fails at once.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (code !== undefined) throw new Error(`workerd exited (${code}): ${stderr}`);
    const ok = await fetch(`${base}/ping`).then(
      (r) => r.body?.cancel().then(() => r.ok),
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`workerd did not answer in 30 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

after(async () => {
  child?.kill("SIGTERM");
  await exited;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function submit(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test("workerd: /ping answers 200 without auth", { skip }, async () => {
  const response = await fetch(`${base}/ping`);
  await response.body?.cancel();
  assert.equal(response.status, 200);
});

test("workerd: POST /jobs without a token, or with a wrong one, is 401", { skip }, async () => {
  for (const headers of [{}, bearer("wrong-token-000000000"), { authorization: TOKENS[0]! }]) {
    const response = await submit({ input: { message: "hi" } }, headers);
    await response.body?.cancel();
    assert.equal(response.status, 401, JSON.stringify(headers));
  }
});

test("workerd: a synchronous push answers COMPLETED with the output, under either rotated token", {
  skip,
}, async () => {
  for (const [i, token] of TOKENS.entries()) {
    const response = await submit(
      { id: `sync-${i}`, input: { message: `hi ${i}` } },
      bearer(token),
    );
    assert.equal(response.status, 200);
    const body = await response.json() as { id: string; status: string; output: unknown };
    assert.equal(body.id, `sync-${i}`);
    assert.equal(body.status, "COMPLETED");
    assert.deepEqual(body.output, { echo: `hi ${i}` });
  }
});

test("workerd: the same job id again returns the stored result", { skip }, async () => {
  const first = await (await submit({ id: "again", input: { message: "one" } }, bearer(TOKENS[0]!)))
    .json() as { output: unknown; executionTime: number };
  // A second run would echo "two": the stored result of the first answers instead.
  const second =
    await (await submit({ id: "again", input: { message: "two" } }, bearer(TOKENS[0]!)))
      .json() as { output: unknown; executionTime: number };
  assert.deepEqual(first.output, { echo: "one" });
  assert.deepEqual(second.output, { echo: "one" });
});

test("workerd: Prefer: respond-async answers 202 and the job still finishes after the answer", {
  skip,
}, async () => {
  // 3 chunks 100 ms apart: the job outlives its 202 answer. Without ctx.waitUntil, workerd
  // cancels the finished request's timers and the job stays IN_PROGRESS for ever.
  const accepted = await submit(
    { id: "async-1", input: { chunks: ["a", "b", "c"], chunkDelayMs: 100 } },
    { ...bearer(TOKENS[0]!), prefer: "respond-async" },
  );
  assert.equal(accepted.status, 202);
  assert.equal(accepted.headers.get("location"), "/jobs/async-1");
  assert.deepEqual(await accepted.json(), { id: "async-1", status: "IN_PROGRESS" });
  // Poll the status, as a client of a 202 does, until the job ends (bounded).
  const deadline = Date.now() + 15_000;
  let status: { id: string; status: string; executionTime?: number };
  for (;;) {
    const response = await fetch(`${base}/jobs/async-1`, { headers: bearer(TOKENS[0]!) });
    assert.equal(response.status, 200);
    status = await response.json() as typeof status;
    if (status.status !== "IN_QUEUE" && status.status !== "IN_PROGRESS") break;
    assert.ok(Date.now() < deadline, `still ${status.status} after 15 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.equal(status.status, "COMPLETED", JSON.stringify(status));
  assert.ok(status.executionTime! >= 150, `ran for ${status.executionTime} ms`);
});

interface SseEvent {
  event?: string;
  data: string;
}

function parseSse(text: string): SseEvent[] {
  return text.split(/\r?\n\r?\n/).filter((block) => block.trim()).map((block) => {
    const event: SseEvent = { data: "" };
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("event:")) event.event = line.slice(6).trim();
    }
    event.data = data.join("\n");
    return event;
  }).filter((event) => event.data !== "" || event.event !== undefined);
}

test("workerd: Accept: text/event-stream streams one event per chunk, then the final status", {
  skip,
}, async () => {
  const chunks = ["alpha", "beta", "gamma", "delta"];
  const response = await submit({ id: "sse-1", input: { chunks } }, {
    ...bearer(TOKENS[1]!),
    accept: "text/event-stream",
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events = parseSse(await response.text());
  assert.equal(events.length, chunks.length + 1, JSON.stringify(events));
  for (const [i, chunk] of chunks.entries()) {
    assert.ok(events[i]!.data.includes(chunk), `event ${i} carries ${chunk}: ${events[i]!.data}`);
  }
  const final = JSON.parse(events.at(-1)!.data) as { id: string; status: string };
  assert.equal(final.id, "sse-1");
  assert.equal(final.status, "COMPLETED");
});

/** Reads SSE events one at a time from a streamed answer. */
function eventReader(
  response: Response,
): { next(): Promise<SseEvent | undefined>; cancel(): Promise<void> } {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    cancel: () => reader.cancel(),
    async next() {
      for (;;) {
        const end = buffer.search(/\r?\n\r?\n/);
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
          const [event] = parseSse(block + "\n\n");
          if (event) return event;
          continue;
        }
        const { done, value } = await reader.read();
        if (done) return undefined;
        buffer += decoder.decode(value, { stream: true });
      }
    },
  };
}

test("workerd: a full isolate answers 429 with Retry-After at once, and its slots free again", {
  skip,
}, async () => {
  // Eight streams (the example's limit) each yield a first chunk, then work 2 s before the next.
  const streams = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const response = await submit(
      { id: `full-${i}`, input: { chunks: ["first", "second"], chunkDelayMs: 2000 } },
      { ...bearer(TOKENS[0]!), accept: "text/event-stream" },
    );
    assert.equal(response.status, 200);
    const events = eventReader(response);
    assert.match((await events.next())!.data, /first/);
    return events;
  }));
  // Every slot is taken (each stream has started): one more job is refused, not queued.
  const refused = await submit({ id: "full-extra", input: { message: "x" } }, bearer(TOKENS[0]!));
  await refused.body?.cancel();
  assert.equal(refused.status, 429);
  assert.match(refused.headers.get("retry-after") ?? "", /^\d+$/);
  for (const events of streams) {
    assert.match((await events.next())!.data, /second/);
    const final = JSON.parse((await events.next())!.data) as { status: string };
    assert.equal(final.status, "COMPLETED");
    assert.equal(await events.next(), undefined);
  }
  const after = await submit({ id: "full-after", input: { message: "y" } }, bearer(TOKENS[0]!));
  assert.equal(after.status, 200);
  assert.deepEqual((await after.json() as { output: unknown }).output, { echo: "y" });
});

test("workerd: a streaming client that leaves mid-job does not strand its slot", {
  skip,
}, async () => {
  // workerd cancels a request's timers and I/O once its client is gone: without waitUntil the
  // job never resumed, held its slot for ever, and eight such clients filled the isolate.
  const leave = new AbortController();
  const response = await fetch(`${base}/jobs`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...bearer(TOKENS[0]!),
      accept: "text/event-stream",
    },
    body: JSON.stringify({
      id: "left-1",
      input: { chunks: ["first", "second", "third"], chunkDelayMs: 300 },
    }),
    signal: leave.signal,
  });
  const events = eventReader(response);
  assert.match((await events.next())!.data, /first/);
  leave.abort(); // the client goes away while the job works
  await events.cancel().catch(() => {});
  const deadline = Date.now() + 15_000;
  let status: { status: string };
  for (;;) {
    const polled = await fetch(`${base}/jobs/left-1`, { headers: bearer(TOKENS[0]!) });
    status = await polled.json() as typeof status;
    if (status.status !== "IN_QUEUE" && status.status !== "IN_PROGRESS") break;
    assert.ok(Date.now() < deadline, `still ${status.status} after 15 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.equal(status.status, "COMPLETED", JSON.stringify(status));
});
