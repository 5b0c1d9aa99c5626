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
  /** Aborts the request, while it waits for the answer and while its body is read. */
  signal?: AbortSignal;
  /**
   * Called once the answer's status and headers have arrived, before its body is read. The
   * job-take uses it to tell a request that got no answer yet (safe to abort on shutdown) from
   * one whose answer is arriving (its body may hold jobs the server has already handed out, so
   * it is read to the end). A client that never calls it stays correct: its requests then count
   * as unanswered until they resolve. @default undefined
   */
  onResponse?: (status: number) => void;
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
 * Sends a request and reads the whole response. Rejects on network errors and aborts; a failure
 * after the status arrived should reject with a {@linkcode ResponseBodyError}.
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
  // The signal still governs the body: the caller decides whether a shutdown may cut it.
  request.onResponse?.(res.status);
  const body = await readText(res, request.signal);
  return { status: res.status, header: (name) => res.headers.get(name), body };
}

/**
 * The body as text, read chunk by chunk so that a failure can say what did arrive (as fast as
 * `text()` on Deno and Bun for the small answers a worker gets).
 */
async function readText(res: Response, signal: AbortSignal | undefined): Promise<string> {
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text + decoder.decode();
      text += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    throw new ResponseBodyError(res.status, text + decoder.decode(), {
      cause: signal?.aborted ? signal.reason : error,
    });
  }
}

/**
 * An answer's status and headers arrived, but its body could not be read to the end: the
 * connection failed, or the request was aborted, meanwhile. The built-in clients reject with it
 * then, so the caller knows that the server has processed the request and sees what arrived.
 *
 * @example
 * ```ts
 * import { ResponseBodyError } from "./http_client.ts";
 * const error = new ResponseBodyError(200, '{"id":"j1",', { cause: new Error("socket hang up") });
 * console.assert(error.message.includes("HTTP 200") && error.received === '{"id":"j1",');
 * ```
 */
export class ResponseBodyError extends Error {
  /** The answer's HTTP status. */
  readonly status: number;
  /** The body text that arrived before the failure. */
  readonly received: string;

  /**
   * @param status The answer's HTTP status.
   * @param received The body text that arrived before the failure.
   * @param options The failure (a network error, or the abort reason) as `cause`.
   */
  constructor(status: number, received: string, options?: { cause?: unknown }) {
    super(
      `Cannot read the body of the HTTP ${status} answer to the end: it stopped after ${received.length} characters (${
        describeCause(options?.cause)
      })`,
      options,
    );
    this.name = "ResponseBodyError";
    this.status = status;
    this.received = received;
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
}
