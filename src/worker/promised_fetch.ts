/**
 * A `fetch` handler that always answers with a promise, without an async function's frame.
 *
 * @module
 */

/**
 * Wraps a handler that answers a `Response` or a promise of one (as Hono's `app.fetch` does) so
 * that it always answers a promise, a throw included (as a rejection). Not an async function:
 * an intake's `fetch` is on every request's path, and each async frame costs a promise and a
 * frame more.
 *
 * @param handler The handler.
 * @returns The same handler, answering a promise.
 *
 * @example
 * ```ts
 * import { promisedFetch } from "./promised_fetch.ts";
 * const fetch = promisedFetch((request: Request) => new Response(request.method));
 * const answer = fetch(new Request("http://w/", { method: "POST" }));
 * console.assert(answer instanceof Promise && (await (await answer).text()) === "POST");
 * const broken = promisedFetch((_request: Request): Response => {
 *   throw new Error("boom");
 * });
 * console.assert(await broken(new Request("http://w/")).then(() => false, () => true));
 * ```
 */
export function promisedFetch<E = unknown, C = unknown>(
  handler: (request: Request, env?: E, ctx?: C) => Response | Promise<Response>,
): (request: Request, env?: E, ctx?: C) => Promise<Response> {
  // Named parameters, not `...args`: `Deno.serve` passes no request to a handler whose `length`
  // is 0, and a rest parameter does not count.
  return (request, env, ctx) => {
    try {
      const answer = handler(request, env, ctx);
      return answer instanceof Promise ? answer : Promise.resolve(answer);
    } catch (error) {
      return Promise.reject(error);
    }
  };
}
