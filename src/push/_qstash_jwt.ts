/**
 * Internal: the QStash `Upstash-Signature` check, an HS256 JWT over the delivery whose `body`
 * claim is the base64url SHA-256 of the raw body.
 *
 * @module
 */

import { decodeJwtPart, fromBase64, ownBytes, toBase64Url } from "./_encoding.ts";
import { ENCODER, hasSecrets, hmacKeys, parseUrl } from "./_secrets.ts";
import type { PushAuthOptions, PushAuthRequest } from "./push_auth.ts";

const MAX_JWT_LENGTH = 8192;
const BASE64URL_PART_REGEXP = /^[A-Za-z0-9_-]+$/;

/**
 * Whether the request carries a valid QStash JWT for `rawBody` (see `PushAuthOptions`): its
 * replay key (`qstash-` and the JWT's signature, unique per delivery) when it does.
 */
export async function checkQStash(
  request: PushAuthRequest,
  rawBody: Uint8Array,
  options: PushAuthOptions,
  nowSeconds: number,
  skew: number,
): Promise<string | undefined> {
  const keys = options.qstashKeys;
  if (!keys || !hasSecrets(keys)) return undefined;
  const jwt = request.headers.get("upstash-signature");
  if (jwt === null || jwt.length > MAX_JWT_LENGTH) return undefined;
  const parts = jwt.split(".");
  if (parts.length !== 3 || !parts.every((part) => BASE64URL_PART_REGEXP.test(part))) {
    return undefined;
  }
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJwtPart(headerPart);
  if (!header || header.alg !== "HS256") return undefined;
  if (header.typ !== undefined && header.typ !== "JWT") return undefined;
  const signature = fromBase64(signaturePart, "url");
  if (!signature || signature.length !== 32) return undefined;
  const signingInput = ENCODER.encode(`${headerPart}.${payloadPart}`);
  const signatureBytes = ownBytes(signature);
  const cryptoKeys = await hmacKeys(keys);
  // The body's hash is computed alongside the signature checks; the claims are read only once
  // the signature is known to be QStash's.
  const [verdicts, digest] = await Promise.all([
    Promise.all(
      cryptoKeys.map((key) => crypto.subtle.verify("HMAC", key, signatureBytes, signingInput)),
    ),
    // A body backed by a SharedArrayBuffer makes digest throw: refused by the caller's catch.
    crypto.subtle.digest("SHA-256", rawBody as Uint8Array<ArrayBuffer>),
  ]);
  if (!verdicts.includes(true)) return undefined;
  const claims = decodeJwtPart(payloadPart);
  if (!claims || claims.iss !== "Upstash") return undefined;
  if (typeof claims.exp !== "number" || !(nowSeconds <= claims.exp + skew)) return undefined;
  if (claims.nbf !== undefined) {
    if (typeof claims.nbf !== "number" || !(nowSeconds >= claims.nbf - skew)) return undefined;
  }
  if (typeof claims.body !== "string") return undefined;
  if (claims.body.replace(/=+$/, "") !== toBase64Url(new Uint8Array(digest))) return undefined;
  if (!subjectMatches(claims.sub, request.url, options.qstashUrl)) return undefined;
  return `qstash-${signaturePart}`;
}

function subjectMatches(sub: unknown, url: string | undefined, qstashUrl: string | undefined) {
  if (qstashUrl !== undefined) {
    return typeof sub === "string" && normaliseUrl(sub) !== undefined &&
      normaliseUrl(sub) === normaliseUrl(qstashUrl);
  }
  if (url === undefined) return true;
  if (typeof sub !== "string") return false;
  const expected = parseUrl(url);
  const actual = parseUrl(sub);
  return expected !== undefined && actual !== undefined &&
    expected.pathname === actual.pathname && expected.search === actual.search;
}

function normaliseUrl(text: string): string | undefined {
  return parseUrl(text)?.href;
}
