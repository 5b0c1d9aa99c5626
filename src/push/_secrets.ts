/**
 * Internal helpers shared by the push auth checks: configured secrets, HMAC keys imported once
 * per list, and URL parsing that never throws.
 *
 * @module
 */

/** UTF-8, as every secret and signed text is encoded. */
export const ENCODER: TextEncoder = new TextEncoder();

const hmacKeyCache = new WeakMap<readonly string[], Promise<CryptoKey[]>>();

/** The HMAC-SHA256 keys of `keys` (empty entries dropped), imported once per list. */
export function hmacKeys(keys: readonly string[]): Promise<CryptoKey[]> {
  let imported = hmacKeyCache.get(keys);
  if (!imported) {
    imported = Promise.all(
      secrets(keys).map((key) =>
        crypto.subtle.importKey(
          "raw",
          ENCODER.encode(key),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign", "verify"],
        )
      ),
    );
    hmacKeyCache.set(keys, imported);
  }
  return imported;
}

/** The non-empty entries of `list`. */
export function secrets(list: readonly string[]): string[] {
  return list.filter((secret) => typeof secret === "string" && secret !== "");
}

/** Whether `list` has a non-empty entry. */
export function hasSecrets(list: readonly string[]): boolean {
  return list.some((secret) => typeof secret === "string" && secret !== "");
}

/** `text` as a URL, or `undefined` when it is not one (or is over 64 KiB). */
export function parseUrl(text: string): URL | undefined {
  if (text.length > 65536) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
