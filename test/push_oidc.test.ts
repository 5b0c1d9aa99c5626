/**
 * Push auth by OIDC ID token (Pub/Sub push with authentication): the claims, the signature
 * against a JWKS served on loopback, key rotation, caching and an unreachable key endpoint, the
 * settings read from the environment, and the push app's 401 and 503 answers over HTTP.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createPushApp } from "../src/push/create_push_app.ts";
import {
  authorizePush,
  hasPushAuth,
  hasPushCredentials,
  pushAuthFromEnv,
  type PushAuthOptions,
  type PushOidcOptions,
} from "../src/push/push_auth.ts";
import { FAILURE_RETRY_MS, MISS_REFETCH_MS, STALE_MS } from "../src/push/_jwks_keys.ts";
import { base64url, issuerKey, type OidcIssuer, startOidcIssuer } from "./support/oidc_issuer.ts";
import { currentRuntime } from "./support/runtime.ts";

const NOW = 1_764_000_000; // seconds
const AUDIENCE = "https://worker.example.com/jobs";
const PUSHER = "pusher@project.iam.gserviceaccount.com";
const BODY = new TextEncoder().encode('{"input":1}');

/** Claims as Pub/Sub puts them in its push tokens. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aud: AUDIENCE,
    azp: "1234567890",
    email: PUSHER,
    email_verified: true,
    exp: NOW + 3600,
    iat: NOW,
    iss: "https://accounts.google.com",
    sub: "1234567890",
    ...overrides,
  };
}

/** Fresh auth options (the key cache lives on the `oidc` object) and a clock the test moves. */
function setup(issuer: OidcIssuer, oidc: Partial<PushOidcOptions> = {}) {
  let clockMs = NOW * 1000;
  const options: PushAuthOptions = {
    oidc: { audience: AUDIENCE, emails: [PUSHER], jwksUrl: issuer.jwksUrl, ...oidc },
    now: () => clockMs,
  };
  const check = (token: string) =>
    authorizePush({ headers: new Headers({ authorization: `Bearer ${token}` }) }, BODY, options);
  return {
    options,
    check,
    advance(ms: number) {
      clockMs += ms;
    },
  };
}

test("OIDC: a token signed by the JWKS key, for the audience and an allowed account, is admitted", async () => {
  await using issuer = await startOidcIssuer();
  const { check } = setup(issuer);
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await check(issuer.sign(claims())), { admitted: true });
  }
  assert.equal(issuer.hits, 1, "the keys are fetched once and cached");
  // The other issuer spelling, an audience list, and the email in another case.
  const variants = [
    claims({ iss: "accounts.google.com" }),
    claims({ aud: ["https://other.example.com", AUDIENCE] }),
    claims({ email: PUSHER.toUpperCase() }),
    claims({ exp: NOW - 59, iat: NOW + 59 }), // within the 60 s skew
  ];
  for (const variant of variants) {
    assert.equal((await check(issuer.sign(variant))).admitted, true, JSON.stringify(variant));
  }
});

test("OIDC: every claim that is wrong or missing refuses the token", async () => {
  await using issuer = await startOidcIssuer();
  const { check } = setup(issuer);
  const bad: [string, Record<string, unknown>][] = [
    ["another audience", claims({ aud: "https://worker.example.com/other" })],
    ["an audience list without ours", claims({ aud: ["https://a.example.com"] })],
    ["no audience", claims({ aud: undefined })],
    ["another issuer", claims({ iss: "https://evil.example.com" })],
    ["no issuer", claims({ iss: undefined })],
    ["another account", claims({ email: "someone@gmail.com" })],
    ["no email", claims({ email: undefined })],
    ["an unverified email", claims({ email_verified: false })],
    ["email_verified as a string", claims({ email_verified: "true" })],
    ["expired past the skew", claims({ exp: NOW - 61 })],
    ["no exp", claims({ exp: undefined })],
    ["exp as a string", claims({ exp: String(NOW + 3600) })],
    ["issued in the future", claims({ iat: NOW + 61 })],
    ["no iat", claims({ iat: undefined })],
    ["not valid before later", claims({ nbf: NOW + 120 })],
  ];
  for (const [why, wrong] of bad) {
    assert.deepEqual(await check(issuer.sign(wrong)), { admitted: false }, why);
  }
  assert.equal(issuer.hits, 0, "a token not meant for this worker never fetches keys");
  // A blank entry in the allow-list admits no one, not even an empty email claim.
  const blank = setup(issuer, { emails: [PUSHER, " "] });
  assert.deepEqual(await blank.check(issuer.sign(claims({ email: "" }))), { admitted: false });
});

test("OIDC: forged, tampered and malformed tokens are refused without throwing", async () => {
  await using issuer = await startOidcIssuer();
  const { check } = setup(issuer);
  const good = issuer.sign(claims());
  const [head, payload, signature] = good.split(".") as [string, string, string];
  const foreign = issuerKey("key-1"); // same kid, another key
  const hs256Secret = issuer.key.publicKey.export({ format: "pem", type: "spki" }).toString();
  const hsHead = base64url(JSON.stringify({ alg: "HS256", kid: "key-1", typ: "JWT" }));
  const hsInput = `${hsHead}.${payload}`;
  const hsSig = base64url(createHmac("sha256", hs256Secret).update(hsInput).digest());
  const forged: [string, string][] = [
    ["signed by another key under the same kid", issuer.sign(claims(), { key: foreign })],
    [
      "payload swapped",
      `${head}.${base64url(JSON.stringify(claims({ email: "x@y.z" })))}.${signature}`,
    ],
    [
      "signature of another token",
      `${head}.${payload}.${issuer.sign(claims({ sub: "2" })).split(".")[2]}`,
    ],
    ["HS256 keyed with the public key (alg confusion)", `${hsInput}.${hsSig}`],
    ["alg none", `${base64url(JSON.stringify({ alg: "none", kid: "key-1" }))}.${payload}.`],
    ["no kid", issuer.sign(claims(), { header: { kid: undefined } })],
    ["typ other than JWT", issuer.sign(claims(), { header: { typ: "at+jwt" } })],
    ["four parts", `${good}.${signature}`],
    ["padding in a part", `${head}=.${payload}.${signature}`],
    ["a truncated signature", `${head}.${payload}.${signature.slice(0, 40)}`],
    ["not base64url JSON", `${base64url("{")}.${payload}.${signature}`],
    ["an oversized token", `${head}.${payload}${"A".repeat(9000)}.${signature}`],
  ];
  for (const [why, token] of forged) {
    assert.deepEqual(await check(token), { admitted: false }, why);
  }
  const schemes = [`Basic ${good}`, good, `Bearer  ${good} extra`, `Bearer`];
  for (const authorization of schemes) {
    const headers = new Headers({ authorization });
    const verdict = await authorizePush({ headers }, BODY, setup(issuer).options);
    assert.equal(verdict.admitted, false, authorization.slice(0, 12));
  }
});

test("OIDC: a rotated key is fetched on its first token; unknown kids refetch at most every 30 s", async () => {
  await using issuer = await startOidcIssuer();
  const { check, advance } = setup(issuer);
  assert.equal((await check(issuer.sign(claims()))).admitted, true);
  assert.equal(issuer.hits, 1);
  const next = issuerKey("key-2");
  issuer.answer({ keys: [issuer.key, next], cacheControl: "max-age=3600" });
  advance(MISS_REFETCH_MS);
  assert.equal((await check(issuer.sign(claims(), { key: next }))).admitted, true);
  assert.equal(issuer.hits, 2, "the unknown kid refetched the set");
  // A flood of made-up kids costs no fetch within the window, and is refused.
  for (let i = 0; i < 10; i++) {
    const fake = issuer.sign(claims(), { header: { kid: `made-up-${i}` } });
    assert.deepEqual(await check(fake), { admitted: false });
  }
  assert.equal(issuer.hits, 2);
  advance(MISS_REFETCH_MS);
  assert.deepEqual(await check(issuer.sign(claims(), { header: { kid: "made-up" } })), {
    admitted: false,
  });
  assert.equal(issuer.hits, 3, "past the window, an unknown kid may refetch again");
});

test("OIDC: the keys are kept as long as max-age says (at least a minute), then refetched", async () => {
  await using issuer = await startOidcIssuer();
  issuer.answer({ keys: [issuer.key], cacheControl: "public, max-age=120, must-revalidate" });
  const { check, advance } = setup(issuer);
  const token = issuer.sign(claims({ exp: NOW + 36_000 }));
  assert.equal((await check(token)).admitted, true);
  advance(119_000);
  assert.equal((await check(token)).admitted, true);
  assert.equal(issuer.hits, 1);
  advance(1000);
  assert.equal((await check(token)).admitted, true);
  assert.equal(issuer.hits, 2, "expired keys are refetched");
  // A key dropped from the set stops admitting once the set is refetched.
  issuer.answer({ keys: [issuerKey("key-9")], cacheControl: "max-age=0" });
  advance(120_000);
  assert.deepEqual(await check(token), { admitted: false });
  assert.equal(issuer.hits, 3);
});

test("OIDC: an unreachable key endpoint is 'unavailable' (not a refusal), retried after 10 s", async () => {
  await using issuer = await startOidcIssuer();
  issuer.answer({ status: 502, body: "bad gateway" });
  const { check, advance } = setup(issuer);
  const token = issuer.sign(claims({ exp: NOW + 36_000 }));
  const first = await check(token);
  assert.equal(first.admitted, false);
  assert.match(
    first.unavailable ?? "",
    /could not be fetched from http:\/\/127\.0\.0\.1:\d+\/certs: it answered HTTP 502/,
  );
  assert.equal((await check(token)).admitted, false);
  assert.equal(issuer.hits, 1, "no retry within 10 s of a failure");
  issuer.answer({ keys: [issuer.key] });
  advance(FAILURE_RETRY_MS);
  assert.deepEqual(await check(token), { admitted: true });
  assert.equal(issuer.hits, 2);
  // A token nobody could verify anyway is still refused, not 'unavailable', when claims fail.
  issuer.answer({ status: 500, body: "" });
  assert.deepEqual(await check(issuer.sign(claims({ aud: "x" }))), { admitted: false });
});

test("OIDC: held keys outlive a failing endpoint for an hour past their expiry, then give out", async () => {
  await using issuer = await startOidcIssuer();
  issuer.answer({ keys: [issuer.key], cacheControl: "max-age=60" });
  const { check, advance } = setup(issuer);
  const token = issuer.sign(claims({ exp: NOW + 100_000 }));
  assert.equal((await check(token)).admitted, true);
  issuer.answer({ status: 503, body: "" });
  advance(60_000);
  assert.deepEqual(await check(token), { admitted: true }, "stale keys keep working");
  assert.equal(issuer.hits, 2);
  advance(STALE_MS);
  const late = await check(token);
  assert.equal(late.admitted, false);
  assert.match(late.unavailable ?? "", /HTTP 503/);
});

test("OIDC: hostile JWKS answers are failures, and bad keys in a good answer are skipped", async () => {
  await using issuer = await startOidcIssuer();
  const token = issuer.sign(claims());
  const answers: [string, string, RegExp][] = [
    ["not JSON", "<html>", /not JSON/],
    ["no keys array", '{"keys": {}}', /no "keys" array/],
    [
      "only keys of other types",
      '{"keys":[{"kty":"EC","kid":"key-1","x":"a","y":"b"}]}',
      /no RS256/,
    ],
    [
      "an RSA key without a modulus",
      '{"keys":[{"kty":"RSA","kid":"key-1","e":"AQAB"}]}',
      /no RS256/,
    ],
    ["oversized", JSON.stringify({ keys: [], pad: "x".repeat(70_000) }), /over 65536 characters/],
  ];
  for (const [why, body, reason] of answers) {
    issuer.answer({ status: 200, body });
    const verdict = await setup(issuer).check(token);
    assert.equal(verdict.admitted, false, why);
    assert.match(verdict.unavailable ?? "", reason, why);
  }
  // A good key beside junk still verifies.
  const good = { ...issuer.key.publicKey.export({ format: "jwk" }), kid: "key-1", alg: "RS256" };
  const mixed = {
    keys: [{ kty: "RSA", kid: "junk", n: "@", e: "@" }, { kty: "oct", k: "x" }, good],
  };
  issuer.answer({ status: 200, body: JSON.stringify(mixed) });
  assert.deepEqual(await setup(issuer).check(token), { admitted: true });
});

test("OIDC settings: read from the environment; incomplete or malformed settings throw, naming the variable", () => {
  const read = (vars: Record<string, string>) => pushAuthFromEnv((name) => vars[name]);
  const options = read({
    EDGEPOD_PUSH_OIDC_AUDIENCE: ` ${AUDIENCE} `,
    EDGEPOD_PUSH_OIDC_EMAILS: `${PUSHER}, ,other@project.iam.gserviceaccount.com`,
  });
  assert.deepEqual(options.oidc, {
    audience: AUDIENCE,
    emails: [PUSHER, "other@project.iam.gserviceaccount.com"],
  });
  assert.equal(hasPushAuth(options), true);
  assert.equal(read({}).oidc, undefined);
  assert.equal(
    read({
      EDGEPOD_PUSH_OIDC_AUDIENCE: AUDIENCE,
      EDGEPOD_PUSH_OIDC_EMAILS: PUSHER,
      EDGEPOD_PUSH_OIDC_JWKS_URL: "http://127.0.0.1:1/certs",
    }).oidc?.jwksUrl,
    "http://127.0.0.1:1/certs",
  );
  assert.throws(() => read({ EDGEPOD_PUSH_OIDC_AUDIENCE: AUDIENCE }), {
    name: "TypeError",
    message: /EDGEPOD_PUSH_OIDC_EMAILS must list the service accounts/,
  });
  assert.throws(
    () => read({ EDGEPOD_PUSH_OIDC_EMAILS: PUSHER }),
    /EDGEPOD_PUSH_OIDC_AUDIENCE must be set/,
  );
  assert.throws(
    () =>
      read({
        EDGEPOD_PUSH_OIDC_AUDIENCE: AUDIENCE,
        EDGEPOD_PUSH_OIDC_EMAILS: PUSHER,
        EDGEPOD_PUSH_OIDC_JWKS_URL: "ftp://x/certs",
      }),
    /'oidc.jwksUrl' must be an http\(s\) URL: received ftp:\/\/x\/certs/,
  );
  // The app refuses incomplete options at construction.
  const handler = (job: { input: unknown }) => job.input;
  assert.throws(
    () => createPushApp({ handler, auth: { oidc: { audience: AUDIENCE, emails: [] } } }),
    /'oidc.emails' must list the service accounts/,
  );
  assert.throws(
    () => createPushApp({ handler, auth: { oidc: { audience: " ", emails: [PUSHER] } } }),
    /'oidc.audience' must be the token audience/,
  );
});

test("OIDC credentials: a JWT-shaped bearer counts before the body is read; nothing else does", () => {
  const options: PushAuthOptions = { oidc: { audience: AUDIENCE, emails: [PUSHER] } };
  const has = (authorization?: string) =>
    hasPushCredentials(
      { headers: new Headers(authorization ? { authorization } : {}) },
      options,
    );
  assert.equal(has("Bearer aaa.bbb.ccc"), true);
  assert.equal(has("Bearer opaque-token"), false);
  assert.equal(has("Basic aaa.bbb.ccc"), false);
  assert.equal(has(), false);
});

test("OIDC over HTTP: a Pub/Sub push with a valid token runs; a bad token or an unknown key is 401", async () => {
  await using issuer = await startOidcIssuer();
  const runtime = await currentRuntime();
  const push = createPushApp({
    handler: (job) => job.input,
    auth: { oidc: { audience: AUDIENCE, emails: [PUSHER], jwksUrl: issuer.jwksUrl } },
  });
  const server = await runtime.serve(push.fetch, { hostname: "127.0.0.1", port: 0 });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const now = Math.floor(Date.now() / 1000);
    const token = issuer.sign(claims({ iat: now, exp: now + 3600 }));
    const envelope = (id: string) => ({
      message: { data: btoa(JSON.stringify({ prompt: "hi" })), messageId: id },
      subscription: "projects/p/subscriptions/edgepod-jobs",
    });
    const send = (authorization: string, id: string) =>
      fetch(`${base}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization },
        body: JSON.stringify(envelope(id)),
      });
    const ok = await send(`Bearer ${token}`, "m-1");
    assert.equal(ok.status, 200);
    assert.deepEqual((await ok.json()).output, { prompt: "hi" });
    const forged = issuer.sign(claims({ iat: now, exp: now + 3600, email: "x@gmail.com" }));
    const refused = await send(`Bearer ${forged}`, "m-2");
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), { error: "Unauthorized" });

    // The issuer's endpoint fails and a token under a kid the worker has never seen arrives.
    issuer.answer({ status: 500, body: "" });
    const unseen = issuer.sign(claims({ iat: now, exp: now + 3600 }), { key: issuerKey("key-7") });
    const unavailable = await send(`Bearer ${unseen}`, "m-3");
    assert.equal(unavailable.status, 401, "within 30 s of a good fetch an unknown kid is refused");
    await unavailable.body?.cancel();
    const metrics = await (await fetch(`${base}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
    })).text();
    assert.match(metrics, /edgepod_rejected_total\{reason="unauthorized"\} 2/);
  } finally {
    await server.close();
  }
});

test("OIDC over HTTP: keys that cannot be fetched answer 503 with Retry-After, and the job runs once they can", async () => {
  await using issuer = await startOidcIssuer();
  issuer.answer({ status: 503, body: "" });
  const runtime = await currentRuntime();
  let clockMs = Date.now();
  const push = createPushApp({
    handler: (job) => job.input,
    auth: {
      oidc: { audience: AUDIENCE, emails: [PUSHER], jwksUrl: issuer.jwksUrl },
      now: () => clockMs,
    },
  });
  const server = await runtime.serve(push.fetch, { hostname: "127.0.0.1", port: 0 });
  try {
    const now = Math.floor(clockMs / 1000);
    const token = issuer.sign(claims({ iat: now, exp: now + 3600 }));
    const send = () =>
      fetch(`http://127.0.0.1:${server.port}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ id: "job-1", input: 5 }),
      });
    const busy = await send();
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get("retry-after"), "10");
    assert.deepEqual(await busy.json(), { error: "Authentication is unavailable; retry later" });
    issuer.answer({ keys: [issuer.key] });
    clockMs += FAILURE_RETRY_MS;
    const ok = await send();
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).output, 5);
  } finally {
    await server.close();
  }
});
