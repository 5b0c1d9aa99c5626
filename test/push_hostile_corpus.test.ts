/**
 * The hostile corpus over real HTTP: every case is sent by `fetch` to a Hono route served by the
 * runtime's own server, that chains readBodyLimited, verifyPushAuth and parseSubmission the way
 * the push app does. Proves the cases survive the trip (headers, bodies, sizes) on each runtime
 * and get their status, and that the valid cases are admitted and read as expected.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { readBodyLimited } from "../src/push/body_limit.ts";
import { verifyPushAuth } from "../src/push/push_auth.ts";
import { parseSubmission } from "../src/push/push_submission.ts";
import type { Server } from "../src/runtime.ts";
import {
  CORPUS_MAX_BODY_BYTES,
  corpusAuthOptions,
  pushHostileCorpus,
  pushValidCases,
} from "./fixtures/push_hostile_corpus.ts";
import { currentRuntime, runtimeName } from "./support/runtime.ts";

const runtime = await currentRuntime();
const auth = corpusAuthOptions();
let server: Server;
let base: string;

before(async () => {
  const app = new Hono();
  app.post("/jobs", async (c) => {
    const read = await readBodyLimited(c.req.raw, CORPUS_MAX_BODY_BYTES);
    if (!read.ok) return c.json({ error: read.message }, read.status);
    const request = { headers: c.req.raw.headers, url: c.req.url };
    if (!(await verifyPushAuth(request, read.body, auth))) {
      return c.json({ error: "unauthorized" }, 401);
    }
    const parsed = parseSubmission(c.req.raw.headers, read.body);
    if (!parsed.ok) return c.json({ error: parsed.message }, parsed.status);
    return c.json(parsed.submission);
  });
  server = await runtime.serve(app.fetch, { hostname: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server?.close();
});

async function send(headers: Record<string, string>, body: Uint8Array) {
  const res = await fetch(`${base}/jobs`, { method: "POST", headers, body: body as BodyInit });
  const text = await res.text();
  return { status: res.status, text };
}

test("hostile corpus over HTTP: every case gets its status", async () => {
  const cases = pushHostileCorpus();
  const wrong: string[] = [];
  for (const hostile of cases) {
    const { status, text } = await send(hostile.headers, hostile.body);
    if (status !== hostile.expectStatus) {
      wrong.push(
        `${hostile.name}: ${status} (expected ${hostile.expectStatus}) ${text.slice(0, 120)}`,
      );
    }
  }
  assert.deepEqual(wrong, []);
});

test("hostile corpus over HTTP: every auth refusal is the same 401 body, whichever check failed", async () => {
  for (const hostile of pushHostileCorpus().filter((c) => c.layer === "auth")) {
    const { status, text } = await send(hostile.headers, hostile.body);
    assert.equal(status, 401, hostile.name);
    // The 401 body is the same for every failed check.
    assert.equal(text, `{"error":"unauthorized"}`, hostile.name);
  }
});

test("hostile corpus over HTTP: every valid case is admitted and read as expected", async () => {
  for (const valid of pushValidCases()) {
    const { status, text } = await send(valid.headers, valid.body);
    assert.equal(status, 200, `${valid.name}: ${text}`);
    const submission = JSON.parse(text);
    assert.equal(submission.source, valid.expect.source, valid.name);
    assert.equal(submission.id, valid.expect.id, valid.name);
    assert.deepEqual(submission.input, valid.expect.input, valid.name);
  }
});

test("hostile corpus over HTTP: a 64 KB credential header is refused by the server or by the auth", async () => {
  const body = new TextEncoder().encode(`{"input": 1}`);
  for (
    const headers of [
      { authorization: `Bearer ${"a".repeat(64_000)}` },
      { "x-edgepod-signature": `t=1,v1=${"0".repeat(64_000)}` },
      { "upstash-signature": `${"a".repeat(32_000)}.${"b".repeat(32_000)}.c` },
    ] as Record<string, string>[]
  ) {
    const { status } = await send({ "content-type": "application/json", ...headers }, body);
    // Node's and Bun's servers refuse headers over about 16 KB themselves; Deno's hands them to
    // the app, whose checks bound what they read.
    assert.equal(status, runtimeName === "deno" ? 401 : 431, Object.keys(headers)[0]);
  }
});
