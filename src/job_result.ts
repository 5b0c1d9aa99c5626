/**
 * Turning what a handler produced into RunPod's result shape (protocol §5.2-§5.6).
 *
 * @module
 */

import type { JobResult } from "./types.ts";

/** Who is reporting, for error reports. */
export interface WorkerInfo {
  /** The worker id (`RUNPOD_POD_ID`, else random). */
  workerId: string;
  /** `RUNPOD_ENDPOINT_ID`, when set. */
  endpointId: string | undefined;
  /** `RUNPOD_POD_HOSTNAME`, else `"unknown"`. */
  hostname: string;
  /** The runtime and its version, e.g. `node 20.20.2`. */
  runtime: string;
  /** edgepod's version. */
  version: string;
}

/**
 * The report a thrown error becomes, JSON-encoded into the result's `error` string as the Python
 * SDK does. `error_type` is the error's `name` (`TypeError`), not Python's `<class '...'>`.
 */
export interface ErrorReport {
  /** The error's `name`, or the thrown value's type for non-errors. */
  error_type: string;
  /** The error's message. */
  error_message: string;
  /** The stack trace. */
  error_traceback: string;
  /** `RUNPOD_POD_HOSTNAME`. */
  hostname: string;
  /** The worker id. */
  worker_id: string;
  /** The runtime and its version. */
  runtime: string;
  /** edgepod's version. */
  edgepod_version: string;
}

/**
 * Normalises a handler's return value with RunPod's rules: a plain object's `error` key makes the
 * job fail (non-string errors are JSON-stringified, since the platform reports an object `error`
 * as COMPLETED with no output), `refresh_worker: true` becomes `stopPod: true`, and an object
 * left empty has no `output`. Any other value is the output (`undefined` becomes `null`).
 *
 * @param value What the handler returned (awaited).
 * @returns The result.
 *
 * @example
 * ```ts
 * import { resultFromValue } from "./job_result.ts";
 * const r = resultFromValue({ error: "custom err", foo: 1 });
 * console.assert(r.error === "custom err" && (r.output as { foo: number }).foo === 1);
 * console.assert(!("output" in resultFromValue({})));
 * ```
 */
export function resultFromValue(value: unknown): JobResult {
  if (!isPlainObject(value)) return { output: value === undefined ? null : value };
  if (!("error" in value) && !("refresh_worker" in value)) {
    // Nothing to take out: the object itself is the output (no copy), unless it is empty.
    for (const _ in value) return { output: value };
    return {};
  }
  const { error, refresh_worker: refresh, ...rest } = value;
  const result: JobResult = {};
  if (Object.keys(rest).length > 0) result.output = rest;
  if (error) result.error = errorText(error);
  if (refresh) result.stopPod = true;
  return result;
}

/**
 * The failure a yielded `{ error }` item stands for in a streaming handler, or `undefined` when
 * the item is an ordinary output.
 *
 * @param item A streamed item.
 * @returns The error text, or `undefined`.
 *
 * @example
 * ```ts
 * import { streamedError } from "./job_result.ts";
 * console.assert(streamedError({ error: "x" }) === "x");
 * console.assert(streamedError("token") === undefined);
 * ```
 */
export function streamedError(item: unknown): string | undefined {
  if (!isPlainObject(item) || !item.error) return undefined;
  return errorText(item.error);
}

/**
 * Builds the report for a thrown error.
 *
 * @param error What was thrown.
 * @param info Who is reporting.
 * @returns The report.
 *
 * @example
 * ```ts
 * import { errorReport } from "./job_result.ts";
 * const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: "node 20", version: "0.1.0" };
 * console.assert(errorReport(new RangeError("boom"), info).error_type === "RangeError");
 * ```
 */
export function errorReport(error: unknown, info: WorkerInfo): ErrorReport {
  const isError = error instanceof Error;
  return {
    error_type: isError ? error.name : typeof error,
    error_message: isError ? error.message : errorText(error),
    error_traceback: isError ? error.stack ?? `${error.name}: ${error.message}` : "",
    hostname: info.hostname,
    worker_id: info.workerId,
    runtime: info.runtime,
    edgepod_version: info.version,
  };
}

/**
 * The failed result for a thrown error: `{ error: <JSON of the report> }`.
 *
 * @param error What was thrown.
 * @param info Who is reporting.
 * @returns The result.
 *
 * @example
 * ```ts
 * import { resultFromError } from "./job_result.ts";
 * const info = { workerId: "w", endpointId: undefined, hostname: "h", runtime: "bun 1", version: "0.1.0" };
 * const r = resultFromError(new Error("boom"), info);
 * console.assert(JSON.parse(r.error!).error_message === "boom");
 * ```
 */
export function resultFromError(error: unknown, info: WorkerInfo): JobResult {
  return { error: JSON.stringify(errorReport(error, info)) };
}

/** The outcome of {@linkcode encodeResult}. */
export interface EncodedResult {
  /** The result actually sent: the input, or a small FAILED result explaining why not. */
  result: JobResult;
  /** `result` as compact JSON. */
  body: string;
}

/**
 * Encodes a result as JSON strictly: values JSON would silently drop or mangle (functions,
 * symbols, `Map`, `Set`, typed arrays, promises, streams) and values it cannot encode (`BigInt`,
 * cycles) make a small FAILED result naming the path, and so does a body over `maxBytes`.
 * Nothing is ever dropped silently.
 *
 * @param result The result.
 * @param options `maxBytes`: the largest body allowed, in UTF-8 bytes (default 20 MB).
 * @returns The result sent and its body.
 *
 * @example
 * ```ts
 * import { encodeResult } from "./job_result.ts";
 * const { result } = encodeResult({ output: { n: 10n } });
 * console.assert(result.error!.includes("output.n"));
 * ```
 */
export function encodeResult(
  result: JobResult,
  options: { maxBytes?: number } = {},
): EncodedResult {
  const maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
  let body: string;
  try {
    body = strictStringify(result);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return failed(
      `Cannot return the job result as it is not JSON-serialisable: ${message}`,
      result,
    );
  }
  // A UTF-8 byte is at most 3 per UTF-16 unit, so only long bodies need measuring.
  if (body.length * 3 > maxBytes) {
    const bytes = utf8Length(body);
    if (bytes > maxBytes) {
      return failed(
        `Cannot return the job result as it is ${bytes} bytes, over the ${maxBytes}-byte limit`,
        result,
      );
    }
  }
  return { result, body };
}

function failed(message: string, original: JobResult): EncodedResult {
  const result: JobResult = { error: message };
  if (original.stopPod) result.stopPod = true;
  return { result, body: JSON.stringify(result) };
}

/**
 * `JSON.stringify` that throws, naming the path, where JSON would lose data silently.
 *
 * @param value The value.
 * @returns Its JSON.
 * @throws {TypeError} For values JSON cannot represent faithfully.
 *
 * @example
 * ```ts
 * import { strictStringify } from "./job_result.ts";
 * console.assert(strictStringify({ a: [1, "x"] }) === '{"a":[1,"x"]}');
 * ```
 */
export function strictStringify(value: unknown): string {
  // Most results are plain data: one cheap walk proves it, and JSON.stringify runs without a
  // replacer (calling one per value costs several times the encoding itself).
  if (isPlainData(value, 0)) return JSON.stringify(value) ?? "null";
  return checkedStringify(value);
}

/** The deepest plain data {@linkcode isPlainData} walks before leaving it to the replacer. */
const PLAIN_DEPTH = 64;

/**
 * Whether `value` is made only of what JSON encodes as it is: strings, finite numbers, booleans, `null`, `undefined` (dropped or `null`, as JSON does), arrays and plain objects,
 * no deeper than {@linkcode PLAIN_DEPTH} (so a cycle ends the walk too).
 */
function isPlainData(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return true;
    case "number":
      return Number.isFinite(value); // JSON turns NaN and Infinity into null
    case "object": {
      if (value === null) return true;
      if (depth === PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainData(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      const record = value as Record<string, unknown>;
      for (const key in record) if (!isPlainData(record[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/** The replacer path: names the first value JSON would lose, with its path. */
function checkedStringify(value: unknown): string {
  const path: string[] = [];
  const parents: unknown[] = [];
  return JSON.stringify(value, function (this: unknown, key: string, val: unknown) {
    // Track the path: `this` is the holder of `key`.
    while (parents.length > 0 && parents[parents.length - 1] !== this) {
      parents.pop();
      path.pop();
    }
    const where = () => [...path, key].filter((p) => p !== "").join(".") || "(root)";
    switch (typeof val) {
      case "bigint":
        throw new TypeError(`${where()} is a BigInt (${val}n); convert it to a string or number`);
      case "function":
      case "symbol":
        throw new TypeError(`${where()} is a ${typeof val}, which JSON cannot represent`);
      case "number":
        if (!Number.isFinite(val)) {
          throw new TypeError(
            `${where()} is ${val}, which JSON cannot represent (it would become null)`,
          );
        }
        break;
      case "object": {
        if (val === null) break;
        if (parents.includes(val)) {
          throw new TypeError(`${where()} is a circular reference, which JSON cannot represent`);
        }
        if (Array.isArray(val) || isPlainObject(val)) break;
        const kind = opaqueKind(val);
        if (kind) throw new TypeError(`${where()} is a ${kind}, which JSON cannot represent`);
        break;
      }
    }
    // `toJSON` ran before the replacer: a Buffer arrives as `{ type, data }`, so check the original.
    const original = (this as Record<string, unknown>)[key];
    if (original !== val && typeof original === "object" && original !== null) {
      if (ArrayBuffer.isView(original)) {
        throw new TypeError(`${where()} is a ${opaqueKind(original)}, which JSON cannot represent`);
      }
    }
    if (typeof val === "object" && val !== null) {
      parents.push(val);
      path.push(key);
    }
    return val;
  }) ?? "null";
}

function opaqueKind(value: object): string | undefined {
  if (value instanceof Error) {
    return `${value.name} (JSON keeps none of an error's fields; return its message)`;
  }
  if (value instanceof Map) return "Map";
  if (value instanceof Set) return "Set";
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} (binary data; base64-encode it)`;
  if (value instanceof ArrayBuffer) return "ArrayBuffer (binary data; base64-encode it)";
  if (value instanceof Promise) return "Promise (await it first)";
  if (value instanceof ReadableStream) return "ReadableStream";
  if (value instanceof WeakMap || value instanceof WeakSet) return value.constructor.name;
  return undefined;
}

/**
 * Tells whether a value is a plain object (`{}` or `Object.create(null)`), the only values whose
 * keys carry result semantics.
 *
 * @param value Anything.
 * @returns `true` for plain objects.
 *
 * @example
 * ```ts
 * import { isPlainObject } from "./job_result.ts";
 * console.assert(isPlainObject({}) && !isPlainObject([]) && !isPlainObject(new Date()));
 * ```
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function errorText(error: unknown): string {
  if (typeof error === "string") return error;
  // JSON.stringify(new Error("x")) is "{}": keep the message instead.
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * The UTF-8 length of a string without encoding it.
 *
 * @param text The string.
 * @returns Its length in UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./job_result.ts";
 * console.assert(utf8Length("é") === 2);
 * ```
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3; // including a lone surrogate, encoded as U+FFFD
  }
  return bytes;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
