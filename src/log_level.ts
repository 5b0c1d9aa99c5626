/**
 * RunPod's log levels and their parsing, forgiving where the Python SDK crashes.
 *
 * @module
 */

/** The levels in order; a line prints when its level is at or above the logger's level. */
export const LOG_LEVELS = ["NOTSET", "TRACE", "DEBUG", "INFO", "WARN", "ERROR"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

const ALIASES: Record<string, LogLevel> = { WARNING: "WARN", ERR: "ERROR", FATAL: "ERROR" };

/**
 * Parses a level name or index as RunPod users write it: case-insensitive names, `WARNING` as an
 * alias of `WARN` (RunPod's docs list it; the Python SDK crashes on it), and integers `0`-`5`
 * as indices into {@linkcode LOG_LEVELS}.
 *
 * @param value The text, e.g. from `RUNPOD_LOG_LEVEL` or `--rp_log_level`.
 * @returns The level, or `undefined` when `value` names none.
 *
 * @example
 * ```ts
 * import { parseLogLevel } from "./log_level.ts";
 * console.assert(parseLogLevel("warning") === "WARN");
 * console.assert(parseLogLevel("3") === "INFO");
 * console.assert(parseLogLevel("LOUD") === undefined);
 * ```
 */
export function parseLogLevel(value: string): LogLevel | undefined {
  const text = value.trim().toUpperCase();
  if (/^\d+$/.test(text)) return LOG_LEVELS[Number(text)];
  if ((LOG_LEVELS as readonly string[]).includes(text)) return text as LogLevel;
  return ALIASES[text];
}
