/**
 * Authentication of pushed jobs: bearer tokens, an HMAC signature over the raw body, Upstash
 * QStash's signed JWT, and Google-signed OIDC ID tokens (Pub/Sub push with authentication). Any
 * configured method admits a request; one that fails them all is refused, and the caller answers
 * 401 without saying which check failed (or 503 when the OIDC keys cannot be fetched).
 *
 * | Method | Configured by | The request carries |
 * |---|---|---|
 * | Bearer token | `EDGEPOD_PUSH_TOKENS` (comma-separated) | `Authorization: Bearer <token>` (or `?token=<token>` when `allowQueryToken` is set) |
 * | HMAC-SHA256 | `EDGEPOD_PUSH_HMAC_KEYS` (comma-separated) | `X-Edgepod-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` |
 * | QStash | `QSTASH_CURRENT_SIGNING_KEY`, `QSTASH_NEXT_SIGNING_KEY` | `Upstash-Signature: <HS256 JWT>` |
 * | OIDC (Pub/Sub) | `EDGEPOD_PUSH_OIDC_AUDIENCE` and `EDGEPOD_PUSH_OIDC_EMAILS` (comma-separated) | `Authorization: Bearer <Google-signed RS256 ID token>` |
 *
 * Several keys or tokens may be configured at once so that a secret can rotate without downtime.
 * Secrets are compared in constant time; everything read from the request is bounded in length
 * before it is parsed.
 *
 * @module
 */

import type { HttpClient } from "../http_client.ts";
import { toHex } from "./_encoding.ts";
import { admittingMac, signedMessage } from "./_hmac_header.ts";
import { checkOidc, checkOidcOptions, hasOidcToken } from "./_oidc_token.ts";
import { checkQStash } from "./_qstash_jwt.ts";
import { ENCODER, hasSecrets, hmacKeys, parseUrl, secrets } from "./_secrets.ts";
import { timingSafeEqual } from "./timing_safe_equal.ts";

/** What {@linkcode verifyPushAuth} accepts; every list may be empty (that method is off). */
export interface PushAuthOptions {
  /** Bearer tokens (`EDGEPOD_PUSH_TOKENS`); empty strings are ignored. @default none */
  tokens?: readonly string[];
  /** HMAC-SHA256 keys for `X-Edgepod-Signature` (`EDGEPOD_PUSH_HMAC_KEYS`). @default none */
  hmacKeys?: readonly string[];
  /** QStash signing keys (`QSTASH_CURRENT_SIGNING_KEY`, `QSTASH_NEXT_SIGNING_KEY`). @default none */
  qstashKeys?: readonly string[];
  /** How far `t=` in `X-Edgepod-Signature` may be from now, either way, in seconds. @default 300 */
  toleranceSeconds?: number;
  /** The clock, in milliseconds since the epoch. @default Date.now */
  now?: () => number;
  /**
   * The public URL QStash delivers to (`EDGEPOD_PUSH_QSTASH_URL`): the JWT's `sub` claim must be
   * this URL (compared after URL normalisation). Set it when a proxy sits in front of the worker.
   * Without it, `sub`'s path and query must be those of the request's `url`, and scheme and host
   * are not compared (proxies rewrite them and the `Host` header is the client's to choose
   * anyway). With neither a `qstashUrl` nor a request `url`, `sub` is not checked. @default none
   */
  qstashUrl?: string;
  /** Clock skew allowed on the QStash JWT's `exp` and `nbf`, in seconds. @default 30 */
  qstashClockSkewSeconds?: number;
  /**
   * Also accept a bearer token as the `token` query parameter of the request's `url`
   * (`EDGEPOD_PUSH_QUERY_TOKEN=1`), for senders that cannot set headers, such as a Pub/Sub push
   * subscription without OIDC. Query strings end up in access logs: prefer a header. @default false
   */
  allowQueryToken?: boolean;
  /**
   * Google-signed OIDC ID tokens, as a Pub/Sub push subscription with authentication sends them
   * (`EDGEPOD_PUSH_OIDC_AUDIENCE`, `EDGEPOD_PUSH_OIDC_EMAILS`, `EDGEPOD_PUSH_OIDC_JWKS_URL`).
   * @default off
   */
  oidc?: PushOidcOptions;
}

/**
 * The OIDC method: which ID tokens admit a request. Any Google account can get a token for any
 * audience, so the service accounts allowed are required, not optional.
 */
export interface PushOidcOptions {
  /** The `aud` claim required: the subscription's token audience (its push URL by default). */
  audience: string;
  /** The service accounts (`email` claims, with `email_verified`) allowed to push. */
  emails: readonly string[];
  /**
   * Where the signing keys are published.
   * @default Google's, https://www.googleapis.com/oauth2/v3/certs
   */
  jwksUrl?: string;
  /** The `iss` claims accepted. @default https://accounts.google.com and accounts.google.com */
  issuers?: readonly string[];
  /** Clock skew allowed on `exp`, `iat` and `nbf`, in seconds. @default 60 */
  clockSkewSeconds?: number;
  /** The client that fetches the keys. @default fetch */
  http?: HttpClient;
}

/** The request parts {@linkcode verifyPushAuth} reads. */
export interface PushAuthRequest {
  /** The request headers. */
  headers: Headers;
  /** The request URL, for QStash's `sub` and the query token. @default none */
  url?: string;
}

const MAX_AUTHORIZATION_LENGTH = 4096;
const DEFAULT_TOLERANCE_SECONDS = 300;
const DEFAULT_SKEW_SECONDS = 30;
const BEARER_REGEXP = /^bearer +([^ ]+) *$/i;

/**
 * Reads the push-auth settings from environment variables: `EDGEPOD_PUSH_TOKENS` and
 * `EDGEPOD_PUSH_HMAC_KEYS` (comma-separated), `QSTASH_CURRENT_SIGNING_KEY`,
 * `QSTASH_NEXT_SIGNING_KEY`, `EDGEPOD_PUSH_QSTASH_URL`, `EDGEPOD_PUSH_QUERY_TOKEN` (`1` or
 * `true`), and for OIDC `EDGEPOD_PUSH_OIDC_AUDIENCE`, `EDGEPOD_PUSH_OIDC_EMAILS`
 * (comma-separated) and `EDGEPOD_PUSH_OIDC_JWKS_URL`. Entries are trimmed and empty ones dropped.
 *
 * @param env Reads one variable (`runtime.env`).
 * @returns The options; lists are empty when nothing is configured.
 * @throws {TypeError} When the OIDC settings are incomplete (an audience without emails, or the
 * reverse) or the JWKS URL is not an http(s) URL.
 *
 * @example Rotating tokens
 * ```ts
 * import { pushAuthFromEnv } from "./push_auth.ts";
 * const vars: Record<string, string> = { EDGEPOD_PUSH_TOKENS: " new-token, ,old-token " };
 * const options = pushAuthFromEnv((name) => vars[name]);
 * console.assert(options.tokens!.join("|") === "new-token|old-token");
 * console.assert(options.qstashKeys!.length === 0);
 * ```
 */
export function pushAuthFromEnv(env: (name: string) => string | undefined): PushAuthOptions {
  const list = (name: string) => split(env(name));
  const qstashKeys = [env("QSTASH_CURRENT_SIGNING_KEY"), env("QSTASH_NEXT_SIGNING_KEY")]
    .map((key) => key?.trim() ?? "")
    .filter((key) => key.length > 0);
  const options: PushAuthOptions = {
    tokens: list("EDGEPOD_PUSH_TOKENS"),
    hmacKeys: list("EDGEPOD_PUSH_HMAC_KEYS"),
    qstashKeys: Object.freeze(qstashKeys),
  };
  const qstashUrl = env("EDGEPOD_PUSH_QSTASH_URL")?.trim();
  if (qstashUrl) options.qstashUrl = qstashUrl;
  const queryToken = env("EDGEPOD_PUSH_QUERY_TOKEN")?.trim().toLowerCase();
  if (queryToken === "1" || queryToken === "true") options.allowQueryToken = true;
  const audience = env("EDGEPOD_PUSH_OIDC_AUDIENCE")?.trim() ?? "";
  const emails = list("EDGEPOD_PUSH_OIDC_EMAILS");
  const jwksUrl = env("EDGEPOD_PUSH_OIDC_JWKS_URL")?.trim() || undefined;
  if (audience !== "" || emails.length > 0 || jwksUrl !== undefined) {
    if (audience === "") {
      throw new TypeError(
        "EDGEPOD_PUSH_OIDC_AUDIENCE must be set with the OIDC settings: the token audience of the Pub/Sub subscription (its push URL unless you set one)",
      );
    }
    if (emails.length === 0) {
      throw new TypeError(
        "EDGEPOD_PUSH_OIDC_EMAILS must list the service accounts allowed to push when EDGEPOD_PUSH_OIDC_AUDIENCE is set: any Google account can get a token for any audience",
      );
    }
    const oidc: PushOidcOptions = jwksUrl === undefined
      ? { audience, emails }
      : { audience, emails, jwksUrl };
    checkOidcOptions(oidc);
    options.oidc = Object.freeze(oidc);
  }
  return options;
}

/**
 * Whether any method is configured (a non-empty token or key). A push endpoint with none must
 * not listen on a non-loopback address.
 *
 * @param options The settings.
 * @returns `true` when at least one token or key is set.
 *
 * @example
 * ```ts
 * import { hasPushAuth } from "./push_auth.ts";
 * console.assert(!hasPushAuth({}));
 * console.assert(!hasPushAuth({ tokens: [""] }));
 * console.assert(hasPushAuth({ qstashKeys: ["sig_current"] }));
 * ```
 */
export function hasPushAuth(options: PushAuthOptions): boolean {
  const oidc = options.oidc;
  if (typeof oidc?.audience === "string" && oidc.audience.trim() !== "") {
    if (Array.isArray(oidc.emails) && hasSecrets(oidc.emails)) return true;
  }
  return [options.tokens, options.hmacKeys, options.qstashKeys]
    .some((list) => (list ?? []).some((secret) => typeof secret === "string" && secret !== ""));
}

/**
 * Whether the request carries a credential for a configured method at all: a bearer
 * `Authorization` (or a `token` query parameter when allowed) with tokens configured, an
 * `X-Edgepod-Signature` with HMAC keys, an `Upstash-Signature` with QStash keys. Cheap and
 * synchronous: when it is false, {@linkcode verifyPushAuth} refuses whatever the body, so a
 * route can answer 401 before reading (up to the body limit of) an unauthenticated upload.
 * True does not mean valid.
 *
 * @param request The headers and, for the query token, the URL.
 * @param options The settings.
 * @returns `false` when no configured method could admit the request.
 *
 * @example Refusing before the body is read
 * ```ts
 * import { hasPushCredentials } from "./push_auth.ts";
 * const options = { hmacKeys: ["k"] };
 * console.assert(!hasPushCredentials({ headers: new Headers() }, options));
 * // A bearer token is no credential when only HMAC keys are configured.
 * const bearer = new Headers({ authorization: "Bearer t" });
 * console.assert(!hasPushCredentials({ headers: bearer }, options));
 * const signed = new Headers({ "x-edgepod-signature": "t=1,v1=00" });
 * console.assert(hasPushCredentials({ headers: signed }, options));
 * ```
 */
export function hasPushCredentials(request: PushAuthRequest, options: PushAuthOptions): boolean {
  const headers = request?.headers;
  if (typeof headers?.get !== "function") return false;
  if (options.tokens && hasSecrets(options.tokens)) {
    if (/^bearer /i.test(headers.get("authorization") ?? "")) return true;
    if (
      options.allowQueryToken && request.url && parseUrl(request.url)?.searchParams.has("token")
    ) {
      return true;
    }
  }
  if (options.hmacKeys && hasSecrets(options.hmacKeys) && headers.has("x-edgepod-signature")) {
    return true;
  }
  if (options.oidc && hasOidcToken(request)) return true;
  return Boolean(
    options.qstashKeys && hasSecrets(options.qstashKeys) && headers.has("upstash-signature"),
  );
}

/**
 * Checks a pushed request against every configured method. True when any admits it: a bearer
 * token equal to a configured one; an `X-Edgepod-Signature` within `toleranceSeconds` whose `v1`
 * is the HMAC of `"<t>.<raw body>"` under a configured key; or an `Upstash-Signature` JWT signed
 * (HS256) with a QStash key, with `iss` `Upstash`, `exp`/`nbf` in force, `body` equal to the
 * base64url SHA-256 of the raw body and `sub` matching (see
 * {@linkcode PushAuthOptions.qstashUrl}); or a bearer ID token signed (RS256) by a key of the
 * OIDC JWKS, for the configured audience and one of the allowed service accounts (see
 * {@linkcode PushOidcOptions}). Hostile input never throws: it is refused.
 *
 * Keep one options object for the server's life: imported HMAC keys and encoded tokens are
 * cached per list (a `WeakMap` on the arrays), so a fresh array per request re-imports them, and
 * the OIDC signing keys are cached per `oidc` object.
 *
 * @param request The headers and, for QStash's `sub` and the query token, the URL.
 * @param rawBody The body exactly as received (before any parsing).
 * @param options The settings.
 * @returns Whether the request is admitted.
 * @throws {RangeError} When `toleranceSeconds` or `qstashClockSkewSeconds` is not a
 * non-negative finite number (a configuration error, found before the request is read).
 *
 * @example A signed request is admitted, the same signature on another body is not
 * ```ts
 * import { signPushRequest, verifyPushAuth } from "./push_auth.ts";
 * const body = new TextEncoder().encode('{"input":1}');
 * const headers = new Headers({ "x-edgepod-signature": await signPushRequest(body, "k1") });
 * console.assert(await verifyPushAuth({ headers }, body, { hmacKeys: ["k1"] }));
 * const other = new TextEncoder().encode('{"input":2}');
 * console.assert(!(await verifyPushAuth({ headers }, other, { hmacKeys: ["k1"] })));
 * ```
 */
export async function verifyPushAuth(
  request: PushAuthRequest,
  rawBody: Uint8Array,
  options: PushAuthOptions,
): Promise<boolean> {
  return (await authorizePush(request, rawBody, options)).admitted;
}

/** What {@linkcode authorizePush} decided. */
export interface PushAuthorization {
  /** Whether a configured method admits the request. */
  admitted: boolean;
  /**
   * Set when the request was admitted by a signature: `sig-` and the hex MAC of its
   * `X-Edgepod-Signature`, or `qstash-` and the signature of its `Upstash-Signature` JWT (one
   * per QStash delivery). The same for every replay of one signed request (however its headers
   * are dressed up) and different for another `t`, body or delivery, so the push app takes it as
   * the job id of a signed submission that names none, and remembers which job each key ran: a
   * replay within the signature's window finds the first run's job instead of running again,
   * even with a different id header. Two identical bodies signed in the same second are
   * therefore one job (give them ids to run both).
   */
  replayKey?: string;
  /**
   * Set when no method admitted the request and one could not decide: an ID token whose
   * signing keys could not be fetched. The reason is for the operator's log; the push app
   * answers 503 with `Retry-After`, so the sender retries instead of dropping the job.
   */
  unavailable?: string;
}

/**
 * {@linkcode verifyPushAuth}, also telling the replay key of a request its signature admitted,
 * from the same single HMAC check.
 *
 * @param request The headers and, for QStash's `sub` and the query token, the URL.
 * @param rawBody The body exactly as received (before any parsing).
 * @param options The settings.
 * @returns Whether the request is admitted, and its replay key when a signature admitted it.
 * @throws {RangeError} When `toleranceSeconds` or `qstashClockSkewSeconds` is not a
 * non-negative finite number.
 *
 * @example The key is the same for a replay, and absent for a bearer token
 * ```ts
 * import { authorizePush, signPushRequest } from "./push_auth.ts";
 * const body = new TextEncoder().encode('{"input":1}');
 * const headers = new Headers({ "x-edgepod-signature": await signPushRequest(body, "k1") });
 * const first = await authorizePush({ headers }, body, { hmacKeys: ["k1"] });
 * const replay = await authorizePush({ headers }, body, { hmacKeys: ["k1"] });
 * console.assert(first.admitted && /^sig-[0-9a-f]{64}$/.test(first.replayKey!));
 * console.assert(replay.replayKey === first.replayKey);
 * const bearer = new Headers({ authorization: "Bearer t" });
 * console.assert((await authorizePush({ headers: bearer }, body, { tokens: ["t"] })).replayKey === undefined);
 * ```
 */
export async function authorizePush(
  request: PushAuthRequest,
  rawBody: Uint8Array,
  options: PushAuthOptions,
): Promise<PushAuthorization> {
  const tolerance = seconds(
    options.toleranceSeconds,
    DEFAULT_TOLERANCE_SECONDS,
    "toleranceSeconds",
  );
  const skew = seconds(
    options.qstashClockSkewSeconds,
    DEFAULT_SKEW_SECONDS,
    "qstashClockSkewSeconds",
  );
  try {
    if (!(rawBody instanceof Uint8Array) || typeof request?.headers?.get !== "function") {
      return REFUSED;
    }
    const nowSeconds = (options.now ?? Date.now)() / 1000;
    if (!Number.isFinite(nowSeconds)) return REFUSED;
    if (checkBearer(request, options)) return ADMITTED;
    const mac = await admittingMac(
      request.headers,
      rawBody,
      options.hmacKeys,
      nowSeconds,
      tolerance,
    );
    if (mac) return { admitted: true, replayKey: `sig-${toHex(mac)}` };
    const qstash = await checkQStash(request, rawBody, options, nowSeconds, skew);
    if (qstash !== undefined) return { admitted: true, replayKey: qstash };
    if (!options.oidc) return REFUSED;
    const clock = options.now ?? Date.now;
    const verdict = await checkOidc(request, options.oidc, nowSeconds * 1000, clock);
    if (verdict === "admitted") return ADMITTED;
    return verdict === "refused" ? REFUSED : { admitted: false, unavailable: verdict.unavailable };
  } catch {
    return REFUSED;
  }
}

const ADMITTED: PushAuthorization = Object.freeze({ admitted: true });
const REFUSED: PushAuthorization = Object.freeze({ admitted: false });

/**
 * Signs a push request for `X-Edgepod-Signature`: the HMAC-SHA256, under `key`, of the decimal
 * unix time, a dot and the raw body.
 *
 * @param body The exact body that will be sent (a string is sent as UTF-8).
 * @param key The HMAC key (one of the receiver's `EDGEPOD_PUSH_HMAC_KEYS`).
 * @param nowSeconds The signing time. @default the current unix time
 * @returns The header value, `t=<seconds>,v1=<hex>`.
 * @throws {TypeError} When `key` is not a non-empty string or `body` not a string or Uint8Array.
 * @throws {RangeError} When `nowSeconds` is not a non-negative integer.
 *
 * @example A sender
 * ```ts
 * import { signPushRequest } from "./push_auth.ts";
 * const body = JSON.stringify({ input: { prompt: "hi" } });
 * const header = await signPushRequest(body, "my-key", 1700000000);
 * console.assert(/^t=1700000000,v1=[0-9a-f]{64}$/.test(header));
 * // fetch(url, { method: "POST", body, headers: { "x-edgepod-signature": header } })
 * ```
 */
export async function signPushRequest(
  body: string | Uint8Array,
  key: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`'key' must be a non-empty string: received ${describe(key)}`);
  }
  if (typeof body !== "string" && !(body instanceof Uint8Array)) {
    throw new TypeError(`'body' must be a string or a Uint8Array: received ${describe(body)}`);
  }
  if (!Number.isSafeInteger(nowSeconds) || nowSeconds < 0) {
    throw new RangeError(`'nowSeconds' must be a non-negative integer: received ${nowSeconds}`);
  }
  const bytes = typeof body === "string" ? ENCODER.encode(body) : body;
  const [cryptoKey] = await hmacKeys([key]);
  const mac = await crypto.subtle.sign("HMAC", cryptoKey!, signedMessage(`${nowSeconds}`, bytes));
  return `t=${nowSeconds},v1=${toHex(new Uint8Array(mac))}`;
}

// --- bearer -------------------------------------------------------------------------------------

const tokenBytesCache = new WeakMap<readonly string[], Uint8Array[]>();

function checkBearer(request: PushAuthRequest, options: PushAuthOptions): boolean {
  const tokens = options.tokens;
  if (!tokens || !hasSecrets(tokens)) return false;
  const presented: string[] = [];
  const header = request.headers.get("authorization");
  if (header !== null && header.length <= MAX_AUTHORIZATION_LENGTH) {
    const match = BEARER_REGEXP.exec(header);
    if (match) presented.push(match[1]!);
  }
  if (options.allowQueryToken && request.url) {
    const token = parseUrl(request.url)?.searchParams.get("token");
    if (token && token.length <= MAX_AUTHORIZATION_LENGTH) presented.push(token);
  }
  if (presented.length === 0) return false;
  let expected = tokenBytesCache.get(tokens);
  if (!expected) {
    expected = secrets(tokens).map((token) => ENCODER.encode(token));
    tokenBytesCache.set(tokens, expected);
  }
  let admitted = false;
  for (const token of presented) {
    const bytes = ENCODER.encode(token);
    // Every configured token is compared, each in time set by its own length only.
    for (const candidate of expected) {
      const equal = timingSafeEqual(bytes, candidate);
      admitted = admitted || equal;
    }
  }
  return admitted;
}

// --- shared -------------------------------------------------------------------------------------

function split(value: string | undefined): readonly string[] {
  return Object.freeze((value ?? "").split(",").map((s) => s.trim()).filter((s) => s !== ""));
}

function seconds(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`'${name}' must be a non-negative number of seconds: received ${value}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === "") return "an empty string";
  return typeof value;
}
