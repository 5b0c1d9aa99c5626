/**
 * The dev API's guard against other web pages: it has no auth (a local server, like RunPod's
 * Python one), so a page on another origin must not be able to make it run the user's handler.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { json } from "../worker/json_response.ts";

/** Options for {@linkcode localRequestGuard}. */
export interface LocalRequestGuardOptions {
  /**
   * Accept any `Host` header: for a server bound to a non-loopback address, reached by a LAN
   * name or address. Cross-origin browser requests are still refused. @default false
   */
  anyHost?: boolean;
}

const LOOPBACK_HOST_REGEXP =
  /^(?:localhost|[a-z0-9-]+\.localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/**
 * Refuses, with `403`, a request a browser sent on behalf of another page:
 *
 * - `Sec-Fetch-Site` other than `same-origin` or `none` (a page on another origin or port, even
 *   one with no CORS preflight, such as a `no-cors` POST of `text/plain`);
 * - an `Origin` other than the request's own (`http://<Host>`), `null` included;
 * - unless `anyHost`, a `Host` that is not a loopback name or address, which is what a DNS
 *   rebinding page sends (its own name, now resolving to 127.0.0.1).
 *
 * Clients that are not browsers (`runpod-sdk`, `curl`) send neither `Origin` nor
 * `Sec-Fetch-Site`, and the playground's own requests are same-origin, so both pass.
 *
 * @param options Whether any `Host` is accepted.
 * @returns The Hono middleware.
 *
 * @example A page on another origin is refused; the same origin passes
 * ```ts
 * import { Hono } from "hono";
 * import { localRequestGuard } from "./local_request_guard.ts";
 * const app = new Hono().use("*", localRequestGuard()).post("/run", (c) => c.text("ran"));
 * const post = (headers: Record<string, string>) =>
 *   app.fetch(new Request("http://127.0.0.1:8000/run", { method: "POST", headers }));
 * console.assert((await post({ host: "127.0.0.1:8000", origin: "https://evil.example" })).status === 403);
 * console.assert((await post({ host: "127.0.0.1:8000", origin: "http://127.0.0.1:8000" })).status === 200);
 * ```
 */
export function localRequestGuard(options: LocalRequestGuardOptions = {}): MiddlewareHandler {
  const anyHost = options.anyHost ?? false;
  return async (c, next) => {
    const refusal = refusalOf(c.req.raw.headers, anyHost);
    if (refusal !== undefined) {
      return json(403, {
        error: `The dev API answers only this machine's own clients and its playground: ${refusal}`,
      });
    }
    await next();
  };
}

function refusalOf(headers: Headers, anyHost: boolean): string | undefined {
  const host = headers.get("host");
  if (!anyHost && host !== null && !LOOPBACK_HOST_REGEXP.test(host)) {
    return `the Host ${JSON.stringify(host)} is not a loopback name or address`;
  }
  const site = headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return `the request came from a ${site} page (Sec-Fetch-Site)`;
  }
  const origin = headers.get("origin");
  if (origin !== null && (host === null || !sameOrigin(origin, host))) {
    return `the page's origin ${JSON.stringify(origin)} is not this server's`;
  }
  return undefined;
}

function sameOrigin(origin: string, host: string): boolean {
  const lower = origin.toLowerCase();
  const own = host.toLowerCase();
  return lower === `http://${own}` || lower === `https://${own}`;
}
