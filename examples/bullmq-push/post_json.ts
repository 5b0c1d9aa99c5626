/**
 * `POST` a JSON body over `node:http(s)` with a keep-alive agent, reading a bounded answer.
 *
 * The dispatcher uses this rather than `fetch`: on Node 20, `fetch` (undici) measured about four
 * times the CPU per request of `node:http` at 64 concurrent requests on this machine, and the
 * dispatcher's CPU is the pipeline's ceiling (BENCHMARKS.md, the pool section).
 *
 * @module
 */

import http from "node:http";
import https from "node:https";

/** Options for {@linkcode postJson}. */
export interface PostJsonOptions {
  /** Extra headers. @default {} */
  headers?: Record<string, string>;
  /** The whole exchange's deadline. @default 300_000 */
  timeoutMs?: number;
  /** The largest answer body read. @default 1_048_576 */
  maxBytes?: number;
  /**
   * How long a new connection may take to open. Past it the request fails as not sent
   * ({@linkcode NotSentError}, code `ETIMEDOUT`): a pool host that vanished or froze drops the
   * connection attempt, which would otherwise wait for the kernel to give up. @default 10_000
   */
  connectTimeoutMs?: number;
  /** The keep-alive agent (one per dispatcher). */
  agent: http.Agent;
}

/** An answer: its status, its headers (lower-case names) and its body text. */
export interface JsonAnswer {
  /** The HTTP status. */
  status: number;
  /** Header values by lower-case name. */
  headers: http.IncomingHttpHeaders;
  /** The body, decoded as UTF-8. */
  text: string;
}

/** Connect errors: the request never left this process, so nothing can have run it. */
const NOT_SENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * An error from {@linkcode postJson} before the connection was made (the pool's address refused
 * or did not resolve): the request was not sent, so sending it later cannot run the job twice.
 *
 * @example
 * ```ts
 * import { NotSentError } from "./post_json.ts";
 * console.assert(new NotSentError("ECONNREFUSED").name === "NotSentError");
 * ```
 */
export class NotSentError extends Error {
  /** The system error code (`ECONNREFUSED`, ...). */
  readonly code: string;
  /**
   * @param code The system error code.
   * @param options The cause.
   */
  constructor(code: string, options?: ErrorOptions) {
    super(`The pool could not be reached (${code})`, options);
    this.name = "NotSentError";
    this.code = code;
  }
}

/**
 * Sends one request.
 *
 * @param url The target.
 * @param body The JSON text.
 * @param options Agent, headers, deadline and answer bound.
 * @returns The answer.
 * @throws {NotSentError} When the connection could not be made (nothing was sent).
 * @throws {Error} On another network error, the deadline, or an answer over `maxBytes`.
 *
 * @example
 * ```ts ignore
 * import http from "node:http";
 * const agent = new http.Agent({ keepAlive: true });
 * const answer = await postJson("http://127.0.0.1:8080/jobs", '{"input":{}}', { agent });
 * console.assert(answer.status === 200);
 * ```
 */
export function postJson(url: URL, body: string, options: PostJsonOptions): Promise<JsonAnswer> {
  const maxBytes = options.maxBytes ?? 1_048_576;
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(url, {
      method: "POST",
      agent: options.agent,
      timeout: options.timeoutMs ?? 300_000,
      headers: {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        ...options.headers,
      },
    }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          request.destroy(new Error(`The answer exceeds ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.once("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: Buffer.concat(chunks).toString("utf8"),
        }));
      response.once("error", reject);
    });
    request.once("timeout", () => request.destroy(new Error("The request timed out")));
    request.once("socket", (socket) => {
      if (!socket.connecting) return; // a kept-alive connection, open already
      const timer = setTimeout(
        () => request.destroy(new NotSentError("ETIMEDOUT")),
        options.connectTimeoutMs ?? 10_000,
      );
      const done = () => clearTimeout(timer);
      socket.once("connect", done);
      socket.once("close", done);
    });
    request.once("error", (error: NodeJS.ErrnoException) => {
      if (error instanceof NotSentError) return reject(error);
      const code = error.code ?? "";
      reject(NOT_SENT.has(code) ? new NotSentError(code, { cause: error }) : error);
    });
    request.end(body);
  });
}
