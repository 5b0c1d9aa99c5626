/**
 * Comparing secrets without leaking, through timing, where they first differ.
 *
 * @module
 */

const ONE_ZERO_BYTE = new Uint8Array(1);

/**
 * Compares a presented value with a secret in time that depends only on the secret's length:
 * exactly `secret.length` steps whatever `presented` holds or how long it is, with no early exit
 * on the first difference. A length mismatch makes the result `false` without changing the
 * time, so neither the secret's content nor its length can be learnt by varying `presented`
 * and timing the answers. Pass the value from the request first and the secret second.
 *
 * @param presented The value to check (from the request).
 * @param secret The expected value.
 * @returns `true` when both have the same length and the same bytes.
 * @throws {TypeError} When either argument is not a `Uint8Array`.
 *
 * @example Equal and unequal arrays
 * ```ts
 * import { timingSafeEqual } from "./timing_safe_equal.ts";
 * const enc = new TextEncoder();
 * console.assert(timingSafeEqual(enc.encode("secret"), enc.encode("secret")));
 * console.assert(!timingSafeEqual(enc.encode("secreT"), enc.encode("secret")));
 * console.assert(!timingSafeEqual(enc.encode("secrets"), enc.encode("secret")));
 * console.assert(!timingSafeEqual(enc.encode(""), enc.encode("secret")));
 * ```
 */
export function timingSafeEqual(presented: Uint8Array, secret: Uint8Array): boolean {
  if (!(presented instanceof Uint8Array) || !(secret instanceof Uint8Array)) {
    throw new TypeError(
      `timingSafeEqual() compares two Uint8Arrays: received ${describe(presented)} and ${
        describe(secret)
      }`,
    );
  }
  // The length mismatch is folded into the result instead of returning early, and `presented`
  // is read with its index wrapped, so every read is in bounds and the loop takes the same path
  // whether `presented` is shorter, as long or longer than the secret.
  const source = presented.length > 0 ? presented : ONE_ZERO_BYTE;
  const n = source.length;
  let difference = presented.length ^ secret.length;
  for (let i = 0; i < secret.length; i++) {
    difference |= source[i % n]! ^ secret[i]!;
  }
  return difference === 0;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}
