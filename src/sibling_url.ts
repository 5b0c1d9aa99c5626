/**
 * Resolving a module next to the current one whether the code runs from TypeScript sources or
 * from compiled JavaScript (`dist/`): thread entry points are loaded by URL, which no compiler
 * rewrites.
 *
 * @module
 */

/**
 * The URL of module `name` (written without extension) beside `base`, with `base`'s extension.
 *
 * @param name The sibling's path without extension, e.g. `"./heartbeat_thread"`.
 * @param base `import.meta.url` of the calling module.
 * @returns The sibling's URL.
 *
 * @example
 * ```ts
 * import { siblingUrl } from "./sibling_url.ts";
 * console.assert(siblingUrl("./b", "file:///x/a.js").href === "file:///x/b.js");
 * console.assert(siblingUrl("./b", "file:///x/a.ts").href === "file:///x/b.ts");
 * ```
 */
export function siblingUrl(name: string, base: string): URL {
  const ext = /\.[cm]?[jt]s$/.exec(new URL(base).pathname)?.[0] ?? ".js";
  return new URL(`${name}${ext}`, base);
}
