/**
 * A stand-in for Google's ID-token issuer: a JWKS served on loopback by this runtime's server,
 * and RS256 tokens signed with node:crypto (so the Web Crypto verification is checked against an
 * independent implementation). The test can rotate the key, break the endpoint and count its
 * fetches.
 *
 * @module
 */

import { createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { currentRuntime } from "./runtime.ts";

/** One signing key and the `kid` it is published under. */
export interface IssuerKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** What the JWKS endpoint answers: its keys, or a failure. */
export type JwksAnswer =
  | { keys: IssuerKey[]; cacheControl?: string }
  | { status: number; body: string };

/** The running issuer. */
export interface OidcIssuer extends AsyncDisposable {
  /** The JWKS URL. */
  jwksUrl: string;
  /** The key tokens are signed with unless told otherwise. */
  key: IssuerKey;
  /** How many times the JWKS was fetched. */
  readonly hits: number;
  /** Sets what the endpoint answers from now on. */
  answer(next: JwksAnswer): void;
  /** A signed token with these claims (and header fields). */
  sign(claims: Record<string, unknown>, options?: SignOptions): string;
}

/** Options for {@linkcode OidcIssuer.sign}. */
export interface SignOptions {
  /** The key. @default the issuer's key */
  key?: IssuerKey;
  /** Header fields to add or override (`alg`, `kid`, `typ`). */
  header?: Record<string, unknown>;
}

/**
 * A new RSA key.
 *
 * @param kid Its key id.
 * @returns The key.
 */
export function issuerKey(kid: string): IssuerKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

/**
 * Starts an issuer on 127.0.0.1 with one key.
 *
 * @returns The issuer; dispose of it to stop the server.
 */
export async function startOidcIssuer(): Promise<OidcIssuer> {
  const runtime = await currentRuntime();
  const key = issuerKey("key-1");
  let current: JwksAnswer = { keys: [key], cacheControl: "public, max-age=3600" };
  let hits = 0;
  const server = await runtime.serve((request) => {
    if (new URL(request.url).pathname !== "/certs") return new Response(null, { status: 404 });
    hits++;
    if ("status" in current) return new Response(current.body, { status: current.status });
    const keys = current.keys.map((k) => ({
      ...k.publicKey.export({ format: "jwk" }),
      kid: k.kid,
      alg: "RS256",
      use: "sig",
    }));
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (current.cacheControl) headers["cache-control"] = current.cacheControl;
    return new Response(JSON.stringify({ keys }), { headers });
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    jwksUrl: `http://127.0.0.1:${server.port}/certs`,
    key,
    get hits() {
      return hits;
    },
    answer(next) {
      current = next;
    },
    sign(claims, options = {}) {
      const signer = options.key ?? key;
      const header = { alg: "RS256", kid: signer.kid, typ: "JWT", ...options.header };
      const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
      const signature = createSign("RSA-SHA256").update(input).sign(signer.privateKey);
      return `${input}.${base64url(signature)}`;
    },
    async [Symbol.asyncDispose]() {
      await server.close();
    },
  };
}

/**
 * Unpadded base64url.
 *
 * @param data Text (as UTF-8) or bytes.
 * @returns The encoding.
 */
export function base64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}
