/**
 * Internal: the `X-Edgepod-Signature` check, `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`, with one or more `v1` (key rotation).
 *
 * @module
 */

import { concatBytes, fromHex } from "./_encoding.ts";
import { ENCODER, hasSecrets, hmacKeys } from "./_secrets.ts";
import { timingSafeEqual } from "./timing_safe_equal.ts";

const MAX_SIGNATURE_HEADER_LENGTH = 4096;
const MAX_SIGNATURES = 16;
const DIGITS_REGEXP = /^[0-9]{1,15}$/;

/**
 * The MAC (computed here, under the configured key that matched) that admits the request, or
 * `undefined` when its `X-Edgepod-Signature` admits nothing. The same for every replay of one
 * signed request, however its header is dressed up, and different for any other `t` or body.
 */
export async function admittingMac(
  headers: Headers,
  rawBody: Uint8Array,
  keys: readonly string[] | undefined,
  nowSeconds: number,
  tolerance: number,
): Promise<Uint8Array | undefined> {
  if (!keys || !hasSecrets(keys)) return undefined;
  const header = headers.get("x-edgepod-signature");
  if (header === null || header.length > MAX_SIGNATURE_HEADER_LENGTH) return undefined;
  const parsed = parseSignatureHeader(header);
  if (!parsed) return undefined;
  if (Math.abs(nowSeconds - Number(parsed.t)) > tolerance) return undefined;
  const message = signedMessage(parsed.t, rawBody);
  const macs = await Promise.all(
    (await hmacKeys(keys)).map((key) => crypto.subtle.sign("HMAC", key, message)),
  );
  let admitting: Uint8Array | undefined;
  for (const buffer of macs) {
    const mac = new Uint8Array(buffer);
    for (const signature of parsed.v1) {
      // Every comparison runs, so the time taken does not tell which key or signature matched.
      if (timingSafeEqual(signature, mac) && admitting === undefined) admitting = mac;
    }
  }
  return admitting;
}

/** `t=` (digits, once) and one to {@linkcode MAX_SIGNATURES} `v1=` (64 hex digits); others ignored. */
function parseSignatureHeader(header: string): { t: string; v1: Uint8Array[] } | undefined {
  let t: string | undefined;
  const v1: Uint8Array[] = [];
  const parts = header.split(",");
  if (parts.length > MAX_SIGNATURES + 8) return undefined;
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq < 0) return undefined;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === "t") {
      if (t !== undefined || !DIGITS_REGEXP.test(value)) return undefined;
      t = value;
    } else if (name === "v1") {
      const bytes = value.length === 64 ? fromHex(value) : undefined;
      if (!bytes) return undefined;
      if (v1.length === MAX_SIGNATURES) return undefined;
      v1.push(bytes);
    }
  }
  return t !== undefined && v1.length > 0 ? { t, v1 } : undefined;
}

/** The signed text: `"<t>."` followed by the raw body. */
export function signedMessage(t: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  return concatBytes(ENCODER.encode(`${t}.`), body);
}
