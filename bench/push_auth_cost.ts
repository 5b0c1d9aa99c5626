/**
 * The per-request cost of the push intake's building blocks (not part of `npm run bench`): how
 * long `verifyPushAuth` takes for each method, `parseSubmission` for each sender format and
 * `readBodyLimited` for an in-memory request, on the runtime that runs this script.
 *
 * Run: `node --import tsx bench/push_auth_cost.ts`, `deno run -A bench/push_auth_cost.ts`,
 * `bun bench/push_auth_cost.ts`. Prints one line per case: mean µs per call over a timed loop
 * after a warm-up.
 *
 * @module
 */

import { readBodyLimited } from "../src/push/body_limit.ts";
import { verifyPushAuth } from "../src/push/push_auth.ts";
import { parseSubmission } from "../src/push/push_submission.ts";
import {
  AUTH_CASE_BODY,
  CORPUS_HMAC_KEY,
  CORPUS_TOKEN,
  corpusAuthOptions,
  hmacHeader,
  qstashSignature,
} from "../test/fixtures/push_hostile_corpus.ts";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const now = Math.floor(Date.now() / 1000);
const options = corpusAuthOptions();
const url = "http://127.0.0.1:8080/jobs";
const enc = (text: string) => new TextEncoder().encode(text);
const big = enc(JSON.stringify({ input: { text: "x".repeat(1024 * 1024) } }));

async function measure(name: string, fn: () => unknown | Promise<unknown>, iterations = 20_000) {
  for (let i = 0; i < Math.min(2000, iterations); i++) await fn();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  const micros = ((performance.now() - start) * 1000) / iterations;
  console.log(`${runtime}\t${name}\t${micros.toFixed(2)} µs/call`);
}

const bearer = new Headers({ authorization: `Bearer ${CORPUS_TOKEN}` });
const hmac = new Headers({
  "x-edgepod-signature": hmacHeader(AUTH_CASE_BODY, CORPUS_HMAC_KEY, now),
});
const qstash = new Headers({ "upstash-signature": qstashSignature(AUTH_CASE_BODY, now) });
const none = new Headers({ authorization: "Bearer wrong" });
const hmacBig = new Headers({ "x-edgepod-signature": hmacHeader(big, CORPUS_HMAC_KEY, now) });

await measure(
  "verifyPushAuth bearer (admitted)",
  () => verifyPushAuth({ headers: bearer, url }, AUTH_CASE_BODY, options),
);
await measure(
  "verifyPushAuth wrong bearer (refused, all methods tried)",
  () => verifyPushAuth({ headers: none, url }, AUTH_CASE_BODY, options),
);
await measure(
  "verifyPushAuth HMAC, 52 B body",
  () => verifyPushAuth({ headers: hmac, url }, AUTH_CASE_BODY, options),
);
await measure(
  "verifyPushAuth QStash JWT, 52 B body",
  () => verifyPushAuth({ headers: qstash, url }, AUTH_CASE_BODY, options),
);
await measure(
  "verifyPushAuth HMAC, 1 MB body",
  () => verifyPushAuth({ headers: hmacBig, url }, big, options),
  300,
);

const json = new Headers({ "content-type": "application/json" });
const native = enc(
  JSON.stringify({ id: "job-1", input: { prompt: "hello" }, policy: { executionTimeout: 1000 } }),
);
const pubsub = enc(
  JSON.stringify({
    message: { data: btoa(JSON.stringify({ input: { prompt: "hello" } })), messageId: "1" },
    subscription: "s",
  }),
);
await measure("parseSubmission native", () => parseSubmission(json, native));
await measure("parseSubmission Pub/Sub envelope", () => parseSubmission(json, pubsub));
await measure("parseSubmission native, 1 MB body", () => parseSubmission(json, big), 300);

await measure(
  "readBodyLimited 52 B (new Request each call)",
  () =>
    readBodyLimited(
      new Request(url, { method: "POST", body: AUTH_CASE_BODY as BodyInit }),
      10 * 1024 * 1024,
    ),
);
