/**
 * Waiting for a server's graceful stop, at most for its grace.
 *
 * @module
 */

import { deadline } from "../src/async/deadline.ts";

/**
 * Waits for `stopping` (a server letting its responses in flight finish), at most `graceMs`;
 * past it the caller closes what is left as its runtime can. A failure of `stopping` rejects.
 *
 * @param stopping The graceful stop.
 * @param graceMs The most to wait, in ms.
 * @returns Whether the stop finished within the grace.
 *
 * @example
 * ```ts
 * import { withinGrace } from "./_within_grace.ts";
 * console.assert(await withinGrace(Promise.resolve(), 10));
 * console.assert(!(await withinGrace(new Promise(() => {}), 10)));
 * ```
 */
export async function withinGrace(stopping: Promise<unknown>, graceMs: number): Promise<boolean> {
  try {
    await deadline(stopping, graceMs);
    return true;
  } catch (error) {
    if ((error as DOMException)?.name === "TimeoutError") return false;
    throw error;
  }
}
