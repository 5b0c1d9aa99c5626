/**
 * An {@linkcode HttpClient} on `node:http`/`node:https` with keep-alive agents. On Node, `fetch`
 * (undici) costs more per request than the worker's own work; this client is what lets the
 * Node worker outrun a bare `fetch` loop.
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { HttpClient, HttpRequest, HttpResponse } from "../src/http_client.ts";

const agents = {
  "http:": new http.Agent({ keepAlive: true, scheduling: "lifo" }),
  "https:": new https.Agent({ keepAlive: true, scheduling: "lifo" }),
};

/**
 * Sends a request over a pooled keep-alive connection. A request on a reused connection that the
 * server closed meanwhile (`ECONNRESET` before any answer) is retried once on a fresh one, as
 * Node's documentation recommends; nothing was processed by the server in that case.
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
    if (request.body !== undefined) headers["content-length"] = Buffer.byteLength(request.body);
    const req = (url.protocol === "https:" ? https : http).request(url, {
      method: request.method,
      headers,
      agent,
      signal: request.signal,
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("error", reject);
      res.on("end", () => {
        const raw = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          header(name) {
            const value = raw[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
          },
          body,
        });
      });
    });
    req.on("error", (error) => {
      (error as Error & { reusedSocket?: boolean }).reusedSocket = req.reusedSocket;
      reject(request.signal?.aborted ? request.signal.reason : error);
    });
    req.end(request.body);
  });
}
