/**
 * Internal: the RS256 verification keys of a JWKS URL (Google's, for Pub/Sub's OIDC tokens),
 * fetched on first use and kept as long as the answer's `Cache-Control: max-age` says.
 *
 * A token whose `kid` is unknown refetches the set (Google rotates its keys), at most once per
 * {@linkcode MISS_REFETCH_MS}, so a stream of forged `kid`s cannot turn into a stream of
 * fetches. A failed fetch is retried no sooner than {@linkcode FAILURE_RETRY_MS}; meanwhile the
 * keys already held keep working for up to {@linkcode STALE_MS} past their expiry.
 *
 * @module
 */

import type { HttpClient } from "../http_client.ts";

/** The largest JWKS answer read (Google's is about 2 KB). */
export const MAX_JWKS_CHARS = 64 * 1024;
/** At most this many keys are kept from one answer. */
export const MAX_JWKS_KEYS = 32;
/** An unknown `kid` refetches the keys at most this often. */
export const MISS_REFETCH_MS = 30_000;
/** After a failed fetch, the next attempt waits at least this long. */
export const FAILURE_RETRY_MS = 10_000;
/** Keys past their expiry keep working this long while fetches fail. */
export const STALE_MS = 60 * 60_000;
/** How long a JWKS fetch may take. */
export const FETCH_TIMEOUT_MS = 5000;

const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 24 * 60 * 60_000;
const DEFAULT_TTL_MS = 60 * 60_000;
const MAX_KID_LENGTH = 256;
const RS256: RsaHashedImportParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

/** What {@linkcode JwksKeys.find} found. */
export type KeyLookup =
  | { found: "key"; key: CryptoKey }
  | { found: "none" }
  | { found: "unavailable"; reason: string };

/** The keys of one JWKS URL, with their cache state. */
export class JwksKeys {
  readonly #url: string;
  readonly #http: HttpClient;
  readonly #now: () => number;
  #keys = new Map<string, CryptoKey>();
  #expires = -Infinity;
  #attemptedAt = -Infinity;
  #failure?: string;
  #fetching?: Promise<void>;

  /**
   * @param url The JWKS URL.
   * @param http The client that fetches it.
   * @param now The clock, in ms.
   */
  constructor(url: string, http: HttpClient, now: () => number) {
    this.#url = url;
    this.#http = http;
    this.#now = now;
  }

  /**
   * The key with this `kid`, fetching the set when it has expired or does not have it.
   *
   * @param kid The token header's `kid`.
   * @returns The key; `none` when a fresh set does not have it; `unavailable` when the set
   * could not be fetched and no held key matches.
   */
  async find(kid: string): Promise<KeyLookup> {
    if (kid.length === 0 || kid.length > MAX_KID_LENGTH) return { found: "none" };
    const now = this.#now();
    if (this.#shouldFetch(kid, now)) {
      this.#fetching ??= this.#fetch(now).finally(() => (this.#fetching = undefined));
      await this.#fetching;
    } else if (this.#fetching) await this.#fetching;
    if (this.#now() >= this.#expires + STALE_MS) this.#keys.clear();
    const key = this.#keys.get(kid);
    if (key) return { found: "key", key };
    if (this.#failure !== undefined) return { found: "unavailable", reason: this.#failure };
    return { found: "none" };
  }

  #shouldFetch(kid: string, now: number): boolean {
    const since = now - this.#attemptedAt;
    if (this.#failure !== undefined && since < FAILURE_RETRY_MS) return false;
    if (now >= this.#expires) return true;
    return !this.#keys.has(kid) && since >= MISS_REFETCH_MS;
  }

  async #fetch(now: number): Promise<void> {
    this.#attemptedAt = now;
    try {
      const res = await this.#http({
        method: "GET",
        url: this.#url,
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (res.status !== 200) throw new Error(`it answered HTTP ${res.status}`);
      if (res.body.length > MAX_JWKS_CHARS) {
        throw new Error(`its answer is over ${MAX_JWKS_CHARS} characters`);
      }
      const keys = await importKeys(res.body);
      this.#keys = keys;
      this.#expires = this.#now() + ttl(res.header("cache-control"));
      this.#failure = undefined;
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      this.#failure = `the OIDC signing keys could not be fetched from ${this.#url}: ${why}`;
    }
  }
}

async function importKeys(text: string): Promise<Map<string, CryptoKey>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error("its answer is not JSON");
  }
  const list = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error('its answer has no "keys" array');
  const keys = new Map<string, CryptoKey>();
  for (const jwk of list.slice(0, MAX_JWKS_KEYS)) {
    if (!isRs256Jwk(jwk) || keys.has(jwk.kid)) continue;
    try {
      const key = await crypto.subtle.importKey(
        "jwk",
        { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true },
        RS256,
        false,
        ["verify"],
      );
      keys.set(jwk.kid, key);
    } catch {
      // A malformed key is skipped; the others still verify.
    }
  }
  if (keys.size === 0) throw new Error("its answer has no RS256 signing key");
  return keys;
}

interface Rs256Jwk {
  kid: string;
  n: string;
  e: string;
}

function isRs256Jwk(value: unknown): value is Rs256Jwk {
  if (typeof value !== "object" || value === null) return false;
  const jwk = value as Record<string, unknown>;
  return jwk.kty === "RSA" && (jwk.alg === undefined || jwk.alg === "RS256") &&
    (jwk.use === undefined || jwk.use === "sig") && typeof jwk.kid === "string" &&
    jwk.kid.length > 0 && jwk.kid.length <= MAX_KID_LENGTH && typeof jwk.n === "string" &&
    typeof jwk.e === "string";
}

/** How long an answer may be kept: its `max-age`, within 1 minute and 24 hours. */
function ttl(cacheControl: string | null): number {
  const match = /(?:^|[,\s])max-age\s*=\s*"?(\d{1,10})"?/i.exec(cacheControl ?? "");
  if (!match) return DEFAULT_TTL_MS;
  return Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, Number(match[1]) * 1000));
}
