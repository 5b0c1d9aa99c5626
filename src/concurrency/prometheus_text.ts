/**
 * A small parser for the Prometheus text exposition format (version 0.0.4, and the OpenMetrics
 * text that engines such as vLLM also serve): enough to read gauges and counters from an engine's
 * `/metrics` endpoint.
 *
 * @module
 */

/** One sample line: `name{label="value",...} 12.5 [timestamp]`. */
export interface PrometheusSample {
  /** The metric name, e.g. `vllm:num_requests_running`. */
  name: string;
  /** The labels, unescaped. */
  labels: Record<string, string>;
  /** The value (`NaN`, `+Inf` and `-Inf` included). */
  value: number;
}

const NAME_REGEXP = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME_REGEXP = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Options for {@linkcode parsePrometheusText}. */
export interface ParsePrometheusOptions {
  /**
   * Called with the error for each line that is not a valid sample, which is then skipped;
   * without it such a line fails the whole parse.
   */
  onInvalidLine?: (error: SyntaxError) => void;
}

/**
 * Parses Prometheus text into its samples, in order. `#` lines (HELP, TYPE, EOF, comments) and
 * blank lines are skipped.
 *
 * @param text The exposition text.
 * @param options `onInvalidLine`: skip lines that are not valid samples, telling it of each.
 * @returns The samples.
 * @throws {SyntaxError} When a line is not a valid sample and no `onInvalidLine` is given; the
 * message gives the line number and what was expected.
 *
 * @example Reading vLLM's gauges
 * ```ts
 * import { parsePrometheusText } from "./prometheus_text.ts";
 * const samples = parsePrometheusText(
 *   '# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="m"} 3.0\n',
 * );
 * console.assert(samples[0]!.value === 3 && samples[0]!.labels.model_name === "m");
 * ```
 *
 * @example Skipping a line that is not a sample
 * ```ts
 * import { parsePrometheusText } from "./prometheus_text.ts";
 * const bad: string[] = [];
 * const samples = parsePrometheusText("a 1\nb{oops 2\nc 3\n", {
 *   onInvalidLine: (error) => bad.push(error.message),
 * });
 * console.assert(samples.length === 2 && bad[0]!.startsWith("Cannot parse metrics line 2"));
 * ```
 */
export function parsePrometheusText(
  text: string,
  options: ParsePrometheusOptions = {},
): PrometheusSample[] {
  if (typeof text !== "string") {
    throw new TypeError(`'text' must be a string: received ${typeof text}`);
  }
  const onInvalidLine = options.onInvalidLine;
  if (onInvalidLine !== undefined && typeof onInvalidLine !== "function") {
    throw new TypeError(
      `'onInvalidLine' must be a function: received ${typeof onInvalidLine}`,
    );
  }
  const samples: PrometheusSample[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (onInvalidLine === undefined) {
      samples.push(parseLine(line, i + 1));
      continue;
    }
    try {
      samples.push(parseLine(line, i + 1));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      onInvalidLine(error);
    }
  }
  return samples;
}

/**
 * The value of a metric in parsed samples: the sum over its label sets (for counts spread over
 * several models or engines), or their maximum.
 *
 * @param samples Parsed samples.
 * @param name The metric name.
 * @param how `"sum"` or `"max"`. @default "sum"
 * @returns The value, or `undefined` when no sample has that name.
 *
 * @example
 * ```ts
 * import { metricValue, parsePrometheusText } from "./prometheus_text.ts";
 * const samples = parsePrometheusText('a{m="x"} 1\na{m="y"} 2\n');
 * console.assert(metricValue(samples, "a") === 3 && metricValue(samples, "a", "max") === 2);
 * console.assert(metricValue(samples, "b") === undefined);
 * ```
 */
export function metricValue(
  samples: readonly PrometheusSample[],
  name: string,
  how: "sum" | "max" = "sum",
): number | undefined {
  let found: number | undefined;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    found = found === undefined
      ? sample.value
      : how === "sum"
      ? found + sample.value
      : Math.max(found, sample.value);
  }
  return found;
}

function parseLine(line: string, number: number): PrometheusSample {
  const fail = (what: string): never => {
    const shown = line.length > 80 ? `${line.slice(0, 80)}…` : line;
    throw new SyntaxError(`Cannot parse metrics line ${number}: ${what}: received ${shown}`);
  };
  const name = NAME_REGEXP.exec(line)?.[0];
  if (!name) fail("expected a metric name");
  let rest = line.slice(name!.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    rest = rest.slice(1).trimStart();
    while (!rest.startsWith("}")) {
      const key = LABEL_NAME_REGEXP.exec(rest)?.[0];
      if (!key) fail("expected a label name or '}'");
      rest = rest.slice(key!.length).trimStart();
      if (!rest.startsWith('="')) fail(`expected '="' after label ${key}`);
      rest = rest.slice(2);
      let value = "";
      let end = -1;
      for (let i = 0; i < rest.length; i++) {
        const c = rest[i];
        if (c === "\\") {
          const next = rest[++i];
          value += next === "n" ? "\n" : next ?? "";
        } else if (c === '"') {
          end = i;
          break;
        } else value += c;
      }
      if (end === -1) fail(`expected a closing '"' for label ${key}`);
      labels[key!] = value;
      rest = rest.slice(end + 1).trimStart();
      if (rest.startsWith(",")) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith("}")) fail("expected ',' or '}' after a label");
    }
    rest = rest.slice(1);
  }
  if (!/^\s/.test(rest)) fail("expected a space before the value");
  // An OpenMetrics exemplar (` # {trace_id="..."} 0.5 [ts]`) follows the value: not part of it.
  const exemplar = rest.search(/\s#\s/);
  if (exemplar >= 0) rest = rest.slice(0, exemplar);
  const [raw, timestamp, extra] = rest.trim().split(/\s+/);
  if (raw === undefined || extra !== undefined) fail("expected a value and at most a timestamp");
  if (timestamp !== undefined && !Number.isFinite(Number(timestamp))) {
    fail("expected a numeric timestamp after the value");
  }
  const value = parseValue(raw!);
  if (value === undefined) fail("expected a number, NaN, +Inf or -Inf as the value");
  return { name: name!, labels, value: value! };
}

function parseValue(raw: string): number | undefined {
  if (raw === "NaN") return NaN;
  if (raw === "+Inf" || raw === "Inf") return Infinity;
  if (raw === "-Inf") return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) return undefined;
  return Number(raw);
}
