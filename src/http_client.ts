/**
 * A minimal HTTP client contract, so the Node adapter can use a faster client than `fetch`
 * (undici) while the core stays on Web APIs.
 *
 * @module
 */

/** One HTTP request. */
export interface HttpRequest {
  /** The method. */
  method: "GET" | "POST";
  /** The absolute URL. */
  url: string;
  /** Request headers. */
  headers: Record<string, string>;
  /** A text body (UTF-8). */
  body?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
  /**
   * `"manual"`: a 3xx is the answer, its `Location` is not followed (webhooks use it, so an
   * allowed host cannot redirect the worker elsewhere). The Node adapter's client never follows
   * redirects. @default "follow"
   */
  redirect?: "follow" | "manual";
}

/** A response, read whole. */
export interface HttpResponse {
  /** The HTTP status. */
  status: number;
  /** Reads a response header (case-insensitive); `null` when absent. */
  header(name: string): string | null;
  /** The body as text. */
  body: string;
}

/**
 * Sends a request and reads the whole response. Rejects on network errors and aborts.
 *
 * @example
 * ```ts
 * import { fetchClient } from "./http_client.ts";
 * const res = await fetchClient({ method: "GET", url: "http://127.0.0.1:9/", headers: {} })
 *   .catch(() => undefined);
 * ```
 */
export type HttpClient = (request: HttpRequest) => Promise<HttpResponse>;

/**
 * The portable {@linkcode HttpClient}: `fetch`.
 *
 * @param request The request to send.
 * @returns The response, read whole.
 *
 * @example
 * ```ts
 * import { fetchClient } from "./http_client.ts";
 * const res = await fetchClient({ method: "GET", url: "http://127.0.0.1:9/", headers: {} })
 *   .catch((error) => ({ status: 0, error }));
 * ```
 */
export async function fetchClient(request: HttpRequest): Promise<HttpResponse> {
  const res = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: request.signal,
    redirect: request.redirect ?? "follow",
  });
  const body = await res.text();
  return { status: res.status, header: (name) => res.headers.get(name), body };
}
