/**
 * Small statistics helpers for the benchmarks: median, percentiles, formatting.
 *
 * @module
 */

/**
 * The `p`-th percentile (nearest rank) of some numbers.
 *
 * @param values The samples (not modified).
 * @param p The percentile, from 0 to 100.
 * @returns The percentile, or `NaN` when there are no samples.
 * @throws {RangeError} When `p` is outside 0..100.
 *
 * @example The 50th and 100th percentiles
 * ```ts
 * import { percentile } from "./_stats.ts";
 * console.assert(percentile([3, 1, 2], 50) === 2);
 * console.assert(percentile([3, 1, 2], 100) === 3);
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(`'p' must be between 0 and 100: received ${p}`);
  }
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/**
 * The median of some numbers (the mean of the two middle ones for an even count).
 *
 * @param values The samples (not modified).
 * @returns The median, or `NaN` when there are no samples.
 *
 * @example
 * ```ts
 * import { median } from "./_stats.ts";
 * console.assert(median([4, 1, 3, 2]) === 2.5);
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Formats a number with a fixed count of decimals, `n/a` for `NaN` or `undefined`.
 *
 * @param value The number.
 * @param digits Decimals. @default 1
 * @returns The text.
 *
 * @example
 * ```ts
 * import { fmt } from "./_stats.ts";
 * console.assert(fmt(1.234, 2) === "1.23" && fmt(NaN) === "n/a" && fmt(-0.01) === "0.0");
 * ```
 */
export function fmt(value: number | undefined, digits = 1): string {
  if (value === undefined || Number.isNaN(value)) return "n/a";
  // No "-0.0" for values that round to zero.
  return (Math.abs(value) < 0.5 * 10 ** -digits ? 0 : value).toFixed(digits);
}

/**
 * Formats an integer with thin thousands separators (`12 345`).
 *
 * @param value The number (rounded).
 * @returns The text, `n/a` for `NaN` or `undefined`.
 *
 * @example
 * ```ts
 * import { fmtInt } from "./_stats.ts";
 * console.assert(fmtInt(12345.4) === "12 345");
 * ```
 */
export function fmtInt(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "n/a";
  return String(Math.round(value)).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

/**
 * The current time as milliseconds since the epoch with sub-millisecond precision, comparable
 * across processes on one machine (`performance.timeOrigin + performance.now()`).
 *
 * @returns The time.
 *
 * @example
 * ```ts
 * import { epochNow } from "./_stats.ts";
 * console.assert(Math.abs(epochNow() - Date.now()) < 1000);
 * ```
 */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}
