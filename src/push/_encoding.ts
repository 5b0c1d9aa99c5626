/**
 * Internal byte encodings for the push intake: hex, base64 and base64url, strict on input (any
 * character outside the alphabet is a failure, never skipped), on Web APIs only.
 *
 * @module
 */

const HEX_REGEXP = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64_REGEXP = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL_REGEXP = /^[A-Za-z0-9_-]*={0,2}$/;

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, "0");
  return out;
}

/** The bytes of an even-length hex string, or `undefined` when it is not one. */
export function fromHex(text: string): Uint8Array | undefined {
  if (!HEX_REGEXP.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Unpadded base64url of `bytes` (RFC 4648 §5, as JWTs use). */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Decodes base64 in the standard or the URL-safe alphabet (not mixed), with or without `=`
 * padding. Returns `undefined` for anything else: other characters, whitespace, bad padding, a
 * length that no encoding produces.
 */
export function fromBase64(
  text: string,
  alphabet: "standard" | "url" | "either",
): Uint8Array | undefined {
  let standard: string;
  if ((alphabet === "standard" || alphabet === "either") && BASE64_REGEXP.test(text)) {
    standard = text;
  } else if ((alphabet === "url" || alphabet === "either") && BASE64URL_REGEXP.test(text)) {
    standard = text.replace(/-/g, "+").replace(/_/g, "/");
  } else {
    return undefined;
  }
  const unpadded = standard.replace(/=+$/, "");
  const padding = standard.length - unpadded.length;
  if (unpadded.length % 4 === 1) return undefined;
  if (padding > 0 && (unpadded.length + padding) % 4 !== 0) return undefined;
  let binary: string;
  try {
    binary = atob(unpadded + "=".repeat((4 - (unpadded.length % 4)) % 4));
  } catch {
    return undefined;
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** `a` followed by `b` in one new array. */
export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** A copy of `bytes` backed by a plain `ArrayBuffer` (what `crypto.subtle` accepts everywhere). */
export function ownBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A JWT part (base64url of UTF-8 JSON) as the JSON object it encodes, or `undefined` when it is
 * not valid base64url, UTF-8 or JSON, or not an object.
 */
export function decodeJwtPart(part: string): Record<string, unknown> | undefined {
  const bytes = fromBase64(part, "url");
  if (!bytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(STRICT_UTF8.decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}
