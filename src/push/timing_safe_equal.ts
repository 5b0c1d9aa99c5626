/**
 * Comparing secrets without leaking, through timing, where they first differ.
 *
 * @module
 */

/**
 * Compares two byte arrays in time that depends only on their lengths, never on their contents:
 * every byte of the longer one is visited and there is no early exit on the first difference.
 * Arrays of different lengths are unequal (the loop still runs over the longer one). To keep the
 * length itself secret, compare fixed-length digests (`SHA-256` of both sides), as
 * `verifyPushAuth` does for bearer tokens.
 *
 * @param a One array.
 * @param b The other array.
 * @returns `true` when both have the same length and the same bytes.
 * @throws {TypeError} When either argument is not a `Uint8Array`.
 *
 * @example Equal and unequal arrays
 * ```ts
 * import { timingSafeEqual } from "./timing_safe_equal.ts";
 * const enc = new TextEncoder();
 * console.assert(timingSafeEqual(enc.encode("secret"), enc.encode("secret")));
 * console.assert(!timingSafeEqual(enc.encode("secret"), enc.encode("secreT")));
 * console.assert(!timingSafeEqual(enc.encode("secret"), enc.encode("secrets")));
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) {
    throw new TypeError(
      `timingSafeEqual() compares two Uint8Arrays: received ${describe(a)} and ${describe(b)}`,
    );
  }
  const length = Math.max(a.length, b.length);
  // A length mismatch is folded into the result instead of returning early.
  let difference = a.length ^ b.length;
  for (let i = 0; i < length; i++) {
    // Out-of-range reads give undefined; `| 0` makes them 0 without a branch on the data.
    difference |= (a[i]! | 0) ^ (b[i]! | 0);
  }
  return difference === 0;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}
