/**
 * The host-name resolver the three adapters share: `node:dns`, which Node, Deno and Bun all
 * provide, through `getaddrinfo` like their HTTP clients, so `/etc/hosts` answers as it would.
 *
 * @module
 */

import { lookup } from "node:dns/promises";

/**
 * Every address `hostname` resolves to, in the resolver's order.
 *
 * @param hostname A host name (an address literal resolves to itself).
 * @returns The addresses.
 * @throws When the name does not resolve (`ENOTFOUND`), or Deno lacks net permission for it.
 *
 * @example
 * ```ts
 * import { lookupHost } from "./_lookup_host.ts";
 * console.assert((await lookupHost("127.0.0.1"))[0] === "127.0.0.1");
 * ```
 */
export async function lookupHost(hostname: string): Promise<string[]> {
  const found = await lookup(hostname, { all: true, verbatim: true });
  return found.map((entry) => entry.address);
}

/**
 * Deno's {@linkcode lookupHost}: `undefined` when Deno refuses the lookup (`EPERM`), which it
 * does for a name its net permission grants only with a port (`--allow-net=hooks.example:443`)
 * although `fetch` may reach it. The permission is then the control, and the name is judged as
 * written, rather than every webhook failing.
 *
 * @param hostname A host name.
 * @returns The addresses, or `undefined` when Deno may not resolve the name.
 * @throws When the name does not resolve.
 *
 * @example
 * ```ts
 * import { lookupPermittedHost } from "./_lookup_host.ts";
 * console.assert((await lookupPermittedHost("127.0.0.1"))?.[0] === "127.0.0.1");
 * ```
 */
export async function lookupPermittedHost(hostname: string): Promise<string[] | undefined> {
  try {
    return await lookupHost(hostname);
  } catch (error) {
    if ((error as { code?: unknown }).code === "EPERM") return undefined;
    throw error;
  }
}
