/**
 * An {@linkcode HttpClient} on `node:http`/`node:https` with keep-alive agents. On Node, `fetch`
 * (undici) costs more per request than the worker's own work; this client is what lets the
 * Node worker outrun a bare `fetch` loop.
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import {
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
  ResponseBodyError,
} from "../src/http_client.ts";

const agents = {
  "http:": new http.Agent({ keepAlive: true, scheduling: "lifo" }),
  "https:": new https.Agent({ keepAlive: true, scheduling: "lifo" }),
};

/**
 * Sends a request over a pooled keep-alive connection. A request on a reused connection that the
 * server closed meanwhile (`ECONNRESET` before any answer) is retried once on a fresh one, as
 * Node's documentation recommends; nothing was processed by the server in that case. The signal
 * aborts the body read too; `onResponse` is called as soon as the status and headers arrive, and
 * a failure after that rejects with a {@linkcode ResponseBodyError} (never retried).
 *
 * @param request The request.
 * @returns The response, read whole.
 *
 * @example
 * ```ts ignore
 * const res = await nodeHttpClient({ method: "GET", url: "http://127.0.0.1:8000/", headers: {} });
 * ```
 */
export const nodeHttpClient: HttpClient = (request) =>
  send(request).catch((error: Error & { reusedSocket?: boolean; code?: string }) => {
    if (error.reusedSocket && error.code === "ECONNRESET" && !request.signal?.aborted) {
      return send(request);
    }
    throw error;
  });

function send(request: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(request.url);
    const agent = agents[url.protocol as keyof typeof agents];
    if (!agent) {
      reject(new TypeError(`Cannot request ${request.url} as only http: and https: are supported`));
      return;
    }
    const headers: Record<string, string | number> = { ...request.headers };
    let status: number | undefined;
    let body = "";
    if (request.body !== undefined) headers["content-length"] = Buffer.byteLength(request.body);
    const req = (url.protocol === "https:" ? https : http).request(url, {
      method: request.method,
      headers,
      agent,
    }, (res) => {
      const code = status = res.statusCode ?? 0;
      request.onResponse?.(code);
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("error", (error) => {
        const cause = request.signal?.aborted ? request.signal.reason : error;
        reject(new ResponseBodyError(code, body, { cause }));
      });
      res.on("end", () => {
        const raw = res.headers;
        resolve({
          status: code,
          header(name) {
            const value = raw[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
          },
          body,
        });
      });
    });
    // The signal by hand: every post has one (its timeout aborts it), and Node's own `signal`
    // option cost about 25 µs more per request than this listener on loopback.
    const signal = request.signal;
    if (signal !== undefined) {
      const onAbort = () => void req.destroy(signal.reason);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        req.once("close", () => signal.removeEventListener("abort", onAbort));
      }
    }
    req.on("error", (error) => {
      const cause = request.signal?.aborted ? request.signal.reason : error;
      if (status !== undefined) {
        // The server has processed the request (a job-take's jobs are handed out): no retry.
        reject(new ResponseBodyError(status, body, { cause }));
        return;
      }
      (error as Error & { reusedSocket?: boolean }).reusedSocket = req.reusedSocket;
      reject(cause);
    });
    req.end(request.body);
  });
}
