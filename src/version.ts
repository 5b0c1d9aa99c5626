/**
 * edgepod's version, reported in error reports, pings and the User-Agent. A test keeps it equal
 * to `package.json` and `deno.json`.
 *
 * @example
 * ```ts
 * import { EDGEPOD_VERSION } from "./version.ts";
 * console.assert(/^\d+\.\d+\.\d+/.test(EDGEPOD_VERSION));
 * ```
 */
export const EDGEPOD_VERSION = "0.1.0";
