/**
 * Option checks and a quantile, shared by the concurrency modifiers (internal).
 *
 * @module
 */

/** An integer ≥ `least`; a TypeError for a non-number, else a RangeError naming the option. */
export function checkInteger(value: number, name: string, least: number): number {
  checkNumber(value, name);
  if (!(Number.isInteger(value) && value >= least)) {
    throw new RangeError(`'${name}' must be an integer of at least ${least}: received ${value}`);
  }
  return value;
}

/**
 * A number in [low, high] (`Infinity` only when `high` is); a TypeError for a non-number, else a
 * RangeError naming the option.
 */
export function checkRange(value: number, name: string, low: number, high = Infinity): number {
  checkNumber(value, name);
  if (!(value >= low && value <= high)) {
    throw new RangeError(
      `'${name}' must be a number from ${low} to ${high}: received ${String(value)}`,
    );
  }
  return value;
}

/**
 * Refuses a value that is not a number. Options read from the environment arrive as strings, and
 * "'max' must be an integer of at least 1: received 30" did not say what was wrong.
 */
function checkNumber(value: unknown, name: string): asserts value is number {
  if (typeof value === "number") return;
  const shown = typeof value === "string"
    ? `the string ${JSON.stringify(value)}`
    : typeof value === "bigint"
    ? `the bigint ${value}n`
    : typeof value === "boolean" || value == null
    ? String(value)
    : typeof value === "object"
    ? "an object"
    : `a ${typeof value}`;
  throw new TypeError(`'${name}' must be a number: received ${shown}`);
}

/** The `q` quantile of `values` (nearest rank); `values` must not be empty. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}
