/**
 * Option checks and a quantile, shared by the concurrency modifiers (internal).
 *
 * @module
 */

/** An integer ≥ `least`, or a RangeError naming the option. */
export function checkInteger(value: number, name: string, least: number): number {
  if (!(Number.isInteger(value) && value >= least)) {
    throw new RangeError(`'${name}' must be an integer of at least ${least}: received ${value}`);
  }
  return value;
}

/** A finite number in [low, high], or a RangeError naming the option. */
export function checkRange(value: number, name: string, low: number, high = Infinity): number {
  if (!(typeof value === "number" && value >= low && value <= high && !Number.isNaN(value))) {
    throw new RangeError(
      `'${name}' must be a number from ${low} to ${high}: received ${String(value)}`,
    );
  }
  return value;
}

/** The `q` quantile of `values` (nearest rank); `values` must not be empty. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}
