/**
 * Internal: the OIDC check, a Google-signed RS256 ID token in `Authorization: Bearer`, as a
 * Pub/Sub push subscription with authentication sends it. The claims are checked first (they
 * are cheap, and a token not meant for this worker never costs a key fetch), then the signature
 * against the JWKS keys.
 *
 * @module
 */

import { fetchClient } from "../http_client.ts";
import { decodeJwtPart, fromBase64 } from "./_encoding.ts";
import { JwksKeys } from "./_jwks_keys.ts";
import { ENCODER, parseUrl } from "./_secrets.ts";
import type { PushAuthRequest, PushOidcOptions } from "./push_auth.ts";

/** Google's JWKS URL, where its ID-token signing keys are published. */
export const GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs";
/** The issuers of Google ID tokens. */
export const GOOGLE_ISSUERS: readonly string[] = Object.freeze([
  "https://accounts.google.com",
  "accounts.google.com",
]);

const MAX_JWT_LENGTH = 8192;
const DEFAULT_SKEW_SECONDS = 60;
const BEARER_REGEXP = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i;
/** What is derived once per options object: the normalised allow-lists and the key cache. */
interface OidcState {
  audience: string;
  emails: ReadonlySet<string>;
  keys: JwksKeys;
}
const states = new WeakMap<PushOidcOptions, OidcState>();

function stateOf(oidc: PushOidcOptions, clock: () => number): OidcState {
  let state = states.get(oidc);
  if (!state) {
    state = {
      audience: oidc.audience.trim(),
      emails: new Set(
        oidc.emails.filter((email) => typeof email === "string")
          .map((email) => email.trim().toLowerCase())
          .filter((email) => email !== ""),
      ),
      keys: new JwksKeys(oidc.jwksUrl ?? GOOGLE_JWKS_URL, oidc.http ?? fetchClient, clock),
    };
    states.set(oidc, state);
  }
  return state;
}

/** What {@linkcode checkOidc} decided. */
export type OidcVerdict = "admitted" | "refused" | { unavailable: string };

/**
 * Checks options for the OIDC method, as a configuration error before any request.
 *
 * @param oidc The options.
 * @throws {TypeError} When the audience, the emails, the JWKS URL or the issuers are missing or
 * malformed.
 * @throws {RangeError} When `clockSkewSeconds` is not a non-negative number.
 */
export function checkOidcOptions(oidc: PushOidcOptions): void {
  if (typeof oidc?.audience !== "string" || oidc.audience.trim() === "") {
    throw new TypeError(
      `'oidc.audience' must be the token audience the sender was given (the push URL by default): received ${
        typeof oidc?.audience === "string" ? "an empty string" : typeof oidc?.audience
      }`,
    );
  }
  const emails = oidc.emails;
  if (!Array.isArray(emails) || !emails.some((email) => typeof email === "string" && email)) {
    throw new TypeError(
      "'oidc.emails' must list the service accounts allowed to push (any Google account can get a token for any audience): received none",
    );
  }
  const url = oidc.jwksUrl === undefined ? undefined : parseUrl(oidc.jwksUrl);
  if (oidc.jwksUrl !== undefined && !(url?.protocol === "https:" || url?.protocol === "http:")) {
    throw new TypeError(`'oidc.jwksUrl' must be an http(s) URL: received ${oidc.jwksUrl}`);
  }
  if (
    oidc.issuers !== undefined &&
    (!Array.isArray(oidc.issuers) || !oidc.issuers.every((s) => typeof s === "string" && s))
  ) {
    throw new TypeError("'oidc.issuers' must be a list of non-empty strings");
  }
  const skew = oidc.clockSkewSeconds;
  if (skew !== undefined && !(typeof skew === "number" && Number.isFinite(skew) && skew >= 0)) {
    throw new RangeError(
      `'oidc.clockSkewSeconds' must be a non-negative number of seconds: received ${skew}`,
    );
  }
}

/** Whether the request carries an ID token at all (the cheap check before the body is read). */
export function hasOidcToken(request: PushAuthRequest): boolean {
  const header = request.headers.get("authorization");
  return header !== null && header.length <= MAX_JWT_LENGTH && BEARER_REGEXP.test(header);
}

/**
 * Checks the request's ID token: `alg` RS256 with a `kid`; `iss` one of the issuers; `aud` the
 * audience; `exp`, `iat` (and `nbf` when present) within the clock skew; `email` one of the
 * allowed service accounts (compared case-insensitively) with `email_verified` true; then the
 * signature under the JWKS key named by `kid`.
 *
 * @param request The headers.
 * @param oidc The options (checked with {@linkcode checkOidcOptions}).
 * @param nowMs The clock, in ms since the epoch.
 * @param clock The clock the key cache runs on, in ms.
 * @returns Admitted, refused, or unavailable (the keys could not be fetched) with the reason.
 */
export async function checkOidc(
  request: PushAuthRequest,
  oidc: PushOidcOptions,
  nowMs: number,
  clock: () => number,
): Promise<OidcVerdict> {
  const header = request.headers.get("authorization");
  if (header === null || header.length > MAX_JWT_LENGTH) return "refused";
  const token = BEARER_REGEXP.exec(header)?.[1];
  if (token === undefined) return "refused";
  const [headPart, payloadPart, signaturePart] = token.split(".") as [string, string, string];
  const head = decodeJwtPart(headPart);
  if (!head || head.alg !== "RS256" || typeof head.kid !== "string") return "refused";
  if (head.typ !== undefined && head.typ !== "JWT") return "refused";
  const claims = decodeJwtPart(payloadPart);
  const state = stateOf(oidc, clock);
  if (!claims || !claimsAdmit(claims, oidc, state, nowMs / 1000)) return "refused";
  const signature = fromBase64(signaturePart, "url");
  if (!signature || signature.length < 128 || signature.length > 1024) return "refused";

  const lookup = await state.keys.find(head.kid);
  if (lookup.found === "unavailable") return { unavailable: lookup.reason };
  if (lookup.found === "none") return "refused";
  const signed = ENCODER.encode(`${headPart}.${payloadPart}`);
  const valid = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    lookup.key,
    signature as Uint8Array<ArrayBuffer>,
    signed,
  );
  return valid ? "admitted" : "refused";
}

function claimsAdmit(
  claims: Record<string, unknown>,
  oidc: PushOidcOptions,
  state: OidcState,
  now: number,
): boolean {
  const skew = oidc.clockSkewSeconds ?? DEFAULT_SKEW_SECONDS;
  const issuers = oidc.issuers ?? GOOGLE_ISSUERS;
  if (typeof claims.iss !== "string" || !issuers.includes(claims.iss)) return false;
  const aud = claims.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((value) => value === state.audience)) return false;
  if (typeof claims.exp !== "number" || !(now <= claims.exp + skew)) return false;
  if (typeof claims.iat !== "number" || !(claims.iat - skew <= now)) return false;
  if (claims.nbf !== undefined && !(typeof claims.nbf === "number" && claims.nbf - skew <= now)) {
    return false;
  }
  if (claims.email_verified !== true || typeof claims.email !== "string") return false;
  return state.emails.has(claims.email.toLowerCase());
}
