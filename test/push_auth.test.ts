/**
 * Push authentication: bearer tokens, X-Edgepod-Signature HMAC, QStash JWTs, the settings read
 * from the environment, and the hostile corpus's auth cases. Signatures in the fixtures come from
 * node:crypto, so the Web Crypto code is checked against an independent implementation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  hasPushAuth,
  hasPushCredentials,
  pushAuthFromEnv,
  signPushRequest,
  verifyPushAuth,
} from "../src/push/push_auth.ts";
import { timingSafeEqual } from "../src/push/timing_safe_equal.ts";
import {
  AUTH_CASE_BODY,
  CORPUS_ENV,
  CORPUS_HMAC_KEY,
  CORPUS_QSTASH_KEYS,
  CORPUS_TOKEN,
  corpusAuthOptions,
  FOREIGN_KEY,
  hmacHeader,
  pushHostileCorpus,
  pushValidCases,
  qstashSignature,
} from "./fixtures/push_hostile_corpus.ts";

const NOW = 1_764_000_000; // a fixed clock, in seconds
const options = corpusAuthOptions(NOW * 1000);
const URL_ = "http://127.0.0.1:8080/jobs";
const enc = (text: string) => new TextEncoder().encode(text);
const req = (headers: Record<string, string>, url: string | null = URL_) => ({
  headers: new Headers(headers),
  ...(url === null ? {} : { url }),
});

test("timingSafeEqual() compares contents and lengths", () => {
  assert.equal(timingSafeEqual(enc("abc"), enc("abc")), true);
  assert.equal(timingSafeEqual(new Uint8Array(0), new Uint8Array(0)), true);
  assert.equal(timingSafeEqual(enc("abc"), enc("abd")), false);
  assert.equal(timingSafeEqual(enc("abc"), enc("ab")), false);
  assert.equal(timingSafeEqual(enc("ab"), enc("abc")), false);
  assert.equal(timingSafeEqual(new Uint8Array([0]), new Uint8Array(0)), false);
  assert.equal(timingSafeEqual(new Uint8Array(32).fill(255), new Uint8Array(32).fill(255)), true);
  // Wrapped reads of a shorter or longer value never make it equal: the lengths decide.
  assert.equal(timingSafeEqual(enc("a"), enc("aaa")), false);
  assert.equal(timingSafeEqual(enc("abcabc"), enc("abc")), false);
  assert.equal(timingSafeEqual(enc(""), enc("\0")), false);
  assert.equal(timingSafeEqual(enc("\0"), enc("")), false);
  assert.throws(() => timingSafeEqual("abc" as unknown as Uint8Array, enc("abc")), TypeError);
  assert.throws(
    () => timingSafeEqual(enc("abc"), null as unknown as Uint8Array),
    /received Uint8Array and null/,
  );
});

test("pushAuthFromEnv() splits, trims and drops empty entries", () => {
  const vars: Record<string, string> = {
    EDGEPOD_PUSH_TOKENS: " a , ,b,, ",
    EDGEPOD_PUSH_HMAC_KEYS: "k1,k2",
    QSTASH_CURRENT_SIGNING_KEY: " sig_cur ",
    QSTASH_NEXT_SIGNING_KEY: "  ",
    EDGEPOD_PUSH_QSTASH_URL: " https://example.com/jobs ",
    EDGEPOD_PUSH_QUERY_TOKEN: "TRUE",
  };
  const got = pushAuthFromEnv((name) => vars[name]);
  assert.deepEqual(got.tokens, ["a", "b"]);
  assert.deepEqual(got.hmacKeys, ["k1", "k2"]);
  assert.deepEqual(got.qstashKeys, ["sig_cur"]);
  assert.equal(got.qstashUrl, "https://example.com/jobs");
  assert.equal(got.allowQueryToken, true);
  const none = pushAuthFromEnv(() => undefined);
  assert.deepEqual(
    { ...none },
    { tokens: [], hmacKeys: [], qstashKeys: [] },
  );
  assert.equal(hasPushAuth(none), false);
  assert.equal(
    pushAuthFromEnv((n) => (n === "EDGEPOD_PUSH_QUERY_TOKEN" ? "0" : undefined)).allowQueryToken,
    undefined,
  );
});

test("pushAuthFromEnv() reads the corpus environment into working options", async () => {
  const fromEnv = { ...pushAuthFromEnv((name) => CORPUS_ENV[name]), now: () => NOW * 1000 };
  assert.equal(hasPushAuth(fromEnv), true);
  for (const valid of pushValidCases(NOW)) {
    assert.equal(await verifyPushAuth(req(valid.headers), valid.body, fromEnv), true, valid.name);
  }
});

test("hasPushAuth() is true only with a non-empty token or key", () => {
  assert.equal(hasPushAuth({}), false);
  assert.equal(hasPushAuth({ tokens: [], hmacKeys: [""], qstashKeys: [] }), false);
  assert.equal(hasPushAuth({ tokens: ["t"] }), true);
  assert.equal(hasPushAuth({ hmacKeys: ["k"] }), true);
  assert.equal(hasPushAuth({ qstashKeys: ["", "next"] }), true);
});

test("verifyPushAuth() admits every configured bearer token and nothing else", async () => {
  const rotating = { tokens: ["old-token", "new-token"] };
  for (const token of ["old-token", "new-token"]) {
    assert.equal(
      await verifyPushAuth(req({ authorization: `Bearer ${token}` }), AUTH_CASE_BODY, rotating),
      true,
    );
  }
  assert.equal(
    await verifyPushAuth(req({ authorization: "Bearer other" }), AUTH_CASE_BODY, rotating),
    false,
  );
  assert.equal(
    await verifyPushAuth(req({ authorization: "BEARER   new-token  " }), AUTH_CASE_BODY, rotating),
    true,
  );
  // An empty configured token never admits an empty presented one.
  assert.equal(
    await verifyPushAuth(req({ authorization: "Bearer " }), AUTH_CASE_BODY, { tokens: [""] }),
    false,
  );
  assert.equal(
    await verifyPushAuth(req({ authorization: "Bearer x" }), AUTH_CASE_BODY, { tokens: [""] }),
    false,
  );
});

test("verifyPushAuth() refuses everything when nothing is configured", async () => {
  for (const valid of pushValidCases(NOW)) {
    assert.equal(
      await verifyPushAuth(req(valid.headers), valid.body, { now: () => NOW * 1000 }),
      false,
      valid.name,
    );
  }
});

test("verifyPushAuth() takes the token from the query string only when allowed", async () => {
  const url = `http://127.0.0.1/jobs?token=${CORPUS_TOKEN}`;
  assert.equal(await verifyPushAuth(req({}, url), AUTH_CASE_BODY, options), false);
  assert.equal(
    await verifyPushAuth(req({}, url), AUTH_CASE_BODY, { ...options, allowQueryToken: true }),
    true,
  );
  assert.equal(
    await verifyPushAuth(req({}, "http://127.0.0.1/jobs?token=nope"), AUTH_CASE_BODY, {
      ...options,
      allowQueryToken: true,
    }),
    false,
  );
});

test("signPushRequest() produces the header node:crypto computes", async () => {
  const body = enc(`{"input":"é"}`);
  const header = await signPushRequest(body, CORPUS_HMAC_KEY, NOW);
  assert.equal(header, hmacHeader(body, CORPUS_HMAC_KEY, NOW));
  assert.equal(await signPushRequest(`{"input":"é"}`, CORPUS_HMAC_KEY, NOW), header);
  assert.match(await signPushRequest("x", "k"), /^t=\d+,v1=[0-9a-f]{64}$/);
});

test("signPushRequest() rejects bad arguments", async () => {
  await assert.rejects(signPushRequest("x", ""), TypeError);
  await assert.rejects(signPushRequest("x", 5 as unknown as string), TypeError);
  await assert.rejects(signPushRequest(5 as unknown as string, "k"), TypeError);
  await assert.rejects(signPushRequest("x", "k", -1), RangeError);
  await assert.rejects(signPushRequest("x", "k", 1.5), /non-negative integer: received 1.5/);
});

test("verifyPushAuth() HMAC: admits a signature within the window on either side, refuses outside", async () => {
  const body = AUTH_CASE_BODY;
  for (const t of [NOW - 300, NOW, NOW + 300]) {
    const headers = { "x-edgepod-signature": await signPushRequest(body, CORPUS_HMAC_KEY, t) };
    assert.equal(await verifyPushAuth(req(headers), body, options), true, `t = now ${t - NOW}`);
  }
  for (const t of [NOW - 301, NOW + 301]) {
    const headers = { "x-edgepod-signature": await signPushRequest(body, CORPUS_HMAC_KEY, t) };
    assert.equal(await verifyPushAuth(req(headers), body, options), false, `t = now ${t - NOW}`);
  }
  const wide = { ...options, toleranceSeconds: 3600 };
  const old = { "x-edgepod-signature": await signPushRequest(body, CORPUS_HMAC_KEY, NOW - 3000) };
  assert.equal(await verifyPushAuth(req(old), body, wide), true);
});

test("verifyPushAuth() HMAC: any configured key admits (rotation), and a binary body is signed as bytes", async () => {
  const body = new Uint8Array([0xff, 0x00, 0xfe, 0x7b]);
  const keys = { hmacKeys: ["old-key", "new-key"], now: () => NOW * 1000 };
  for (const key of ["old-key", "new-key"]) {
    const headers = { "x-edgepod-signature": await signPushRequest(body, key, NOW) };
    assert.equal(await verifyPushAuth(req(headers), body, keys), true, key);
  }
  const foreign = { "x-edgepod-signature": await signPushRequest(body, FOREIGN_KEY, NOW) };
  assert.equal(await verifyPushAuth(req(foreign), body, keys), false);
  // Spaces around the parts are tolerated.
  const spaced = hmacHeader(body, "new-key", NOW).replace(",", " , ");
  assert.equal(await verifyPushAuth(req({ "x-edgepod-signature": spaced }), body, keys), true);
});

test("verifyPushAuth() QStash: both signing keys admit; sub is matched on path and query", async () => {
  const body = AUTH_CASE_BODY;
  for (const key of CORPUS_QSTASH_KEYS) {
    const jwt = qstashSignature(body, NOW, { key, url: "https://public.example.com/jobs" });
    // Behind a proxy: another scheme and host, the same path.
    assert.equal(await verifyPushAuth(req({ "upstash-signature": jwt }), body, options), true, key);
  }
  const withQuery = qstashSignature(body, NOW, { url: "https://public.example.com/jobs?x=1" });
  assert.equal(await verifyPushAuth(req({ "upstash-signature": withQuery }), body, options), false);
  assert.equal(
    await verifyPushAuth(
      req({ "upstash-signature": withQuery }, "http://10.0.0.1/jobs?x=1"),
      body,
      options,
    ),
    true,
  );
});

test("verifyPushAuth() QStash: qstashUrl pins the full URL; no URL at all skips the sub check", async () => {
  const body = AUTH_CASE_BODY;
  const jwt = qstashSignature(body, NOW, { url: "https://public.example.com/jobs" });
  const pinned = { ...options, qstashUrl: "https://PUBLIC.example.com:443/jobs" };
  assert.equal(await verifyPushAuth(req({ "upstash-signature": jwt }), body, pinned), true);
  const other = qstashSignature(body, NOW, { url: "https://attacker.example.com/jobs" });
  assert.equal(await verifyPushAuth(req({ "upstash-signature": other }), body, pinned), false);
  const elsewhere = qstashSignature(body, NOW, { url: "https://public.example.com/elsewhere" });
  assert.equal(
    await verifyPushAuth(req({ "upstash-signature": elsewhere }, null), body, options),
    true,
  );
});

test("verifyPushAuth() QStash: exp and nbf allow the clock skew and no more", async () => {
  const body = AUTH_CASE_BODY;
  const check = (claims: Record<string, unknown>, skew?: number) =>
    verifyPushAuth(
      req({ "upstash-signature": qstashSignature(body, NOW, { claims }) }),
      body,
      { ...options, ...(skew === undefined ? {} : { qstashClockSkewSeconds: skew }) },
    );
  assert.equal(await check({ exp: NOW - 30 }), true);
  assert.equal(await check({ exp: NOW - 31 }), false);
  assert.equal(await check({ nbf: NOW + 30 }), true);
  assert.equal(await check({ nbf: NOW + 31 }), false);
  assert.equal(await check({ exp: NOW - 31 }, 60), true);
  assert.equal(await check({ exp: NOW - 1 }, 0), false);
  assert.equal(await check({ nbf: undefined }), true);
  assert.equal(await check({ nbf: "0" }), false);
});

test("verifyPushAuth() refuses every auth case of the hostile corpus", async () => {
  const cases = pushHostileCorpus(NOW).filter((c) => c.layer === "auth");
  assert.ok(cases.length >= 50, `only ${cases.length} auth cases`);
  for (const hostile of cases) {
    assert.equal(hostile.expectStatus, 401);
    assert.equal(
      await verifyPushAuth(req(hostile.headers), hostile.body, options),
      false,
      hostile.name,
    );
  }
});

test("verifyPushAuth() admits every valid case (the corpus's control group)", async () => {
  for (const valid of pushValidCases(NOW)) {
    assert.equal(await verifyPushAuth(req(valid.headers), valid.body, options), true, valid.name);
  }
});

test("verifyPushAuth() never throws on random headers and bodies", async () => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = "abcdefABCDEF0123456789=,.-_ tv1";
  const text = (n: number) =>
    Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
  const jwtLike = () => `${text(20)}.${text(40)}.${text(43)}`;
  for (let i = 0; i < 300; i++) {
    const headers: Record<string, string> = {};
    if (random() < 0.5) headers.authorization = `Bearer ${text(Math.floor(random() * 80))}`;
    if (random() < 0.5) {
      headers["x-edgepod-signature"] = `t=${random() < 0.5 ? NOW : text(5)},v1=${text(64)}`;
    }
    if (random() < 0.5) headers["upstash-signature"] = jwtLike();
    const body = new Uint8Array(Math.floor(random() * 64)).map(() => Math.floor(random() * 256));
    assert.equal(await verifyPushAuth(req(headers), body, options), false);
  }
});

test("verifyPushAuth() refuses, without throwing, what is not a request", async () => {
  assert.equal(
    await verifyPushAuth({} as unknown as { headers: Headers }, AUTH_CASE_BODY, options),
    false,
  );
  assert.equal(
    await verifyPushAuth(
      req({ authorization: `Bearer ${CORPUS_TOKEN}` }),
      "x" as unknown as Uint8Array,
      options,
    ),
    false,
  );
  const broken = { ...options, now: () => Number.NaN };
  const signed = { "x-edgepod-signature": hmacHeader(AUTH_CASE_BODY, CORPUS_HMAC_KEY, NOW) };
  assert.equal(await verifyPushAuth(req(signed), AUTH_CASE_BODY, broken), false);
  assert.equal(
    await verifyPushAuth(req(signed, "not a url"), AUTH_CASE_BODY, {
      ...options,
      allowQueryToken: true,
    }),
    true,
  );
});

test("verifyPushAuth() rejects a bad tolerance as a configuration error", async () => {
  await assert.rejects(
    verifyPushAuth(req({}), AUTH_CASE_BODY, { toleranceSeconds: -1 }),
    RangeError,
  );
  await assert.rejects(
    verifyPushAuth(req({}), AUTH_CASE_BODY, { qstashClockSkewSeconds: Number.POSITIVE_INFINITY }),
    /'qstashClockSkewSeconds' must be a non-negative number of seconds: received Infinity/,
  );
});

test("verifyPushAuth() HMAC signatures are independent of node:crypto's encoding of the key", () => {
  // The same key as UTF-8 bytes in both implementations: a non-ASCII key signs identically.
  const mac = createHmac("sha256", "ключ").update(`${NOW}.`).update(AUTH_CASE_BODY).digest("hex");
  return signPushRequest(AUTH_CASE_BODY, "ключ", NOW).then((header) =>
    assert.equal(header, `t=${NOW},v1=${mac}`)
  );
});

test("hasPushCredentials() is false exactly when no configured method could admit the request", async () => {
  const bodyless = new Uint8Array(0);
  assert.equal(hasPushCredentials(req({}), options), false);
  assert.equal(hasPushCredentials(req({ authorization: "Basic x" }), options), false);
  assert.equal(hasPushCredentials(req({ authorization: "Bearer x" }), options), true);
  assert.equal(hasPushCredentials(req({ "x-edgepod-signature": "x" }), options), true);
  assert.equal(hasPushCredentials(req({ "upstash-signature": "x" }), options), true);
  assert.equal(hasPushCredentials(req({ "upstash-signature": "x" }), { tokens: ["t"] }), false);
  assert.equal(hasPushCredentials(req({ authorization: "Bearer t" }), { hmacKeys: ["k"] }), false);
  assert.equal(hasPushCredentials(req({}, "http://h/jobs?token=t"), options), false);
  assert.equal(
    hasPushCredentials(req({}, "http://h/jobs?token=t"), { ...options, allowQueryToken: true }),
    true,
  );
  assert.equal(hasPushCredentials({} as unknown as { headers: Headers }, options), false);
  // Whenever it says false, verifyPushAuth refuses: over the whole corpus and its controls.
  const all = [...pushHostileCorpus(NOW), ...pushValidCases(NOW)];
  for (const one of all) {
    if (!hasPushCredentials(req(one.headers), options)) {
      assert.equal(await verifyPushAuth(req(one.headers), one.body, options), false, one.name);
    }
  }
  for (const valid of pushValidCases(NOW)) {
    assert.equal(hasPushCredentials(req(valid.headers), options), true, valid.name);
  }
  assert.equal(
    await verifyPushAuth(req({ authorization: `Bearer ${CORPUS_TOKEN}` }), bodyless, options),
    true,
  );
});
