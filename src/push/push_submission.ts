/**
 * Turning a pushed request (headers and raw body) into a job submission, whichever sender
 * pushed it: a native client, Google Pub/Sub (wrapped or unwrapped), Google Cloud Tasks or
 * Upstash QStash.
 *
 * | Sender | Recognised by | Job id | Body |
 * |---|---|---|---|
 * | Native | none of the below | the body's `id`, if any | `{id?, input, webhook?, policy?: {executionTimeout?}}`; no `input` → 400 |
 * | Pub/Sub push | a JSON body `{message: {data, messageId, attributes}, subscription}` with no `input` key | the decoded native body's `id`, else `message.messageId` | `message.data`, base64-decoded: a JSON object with an `input` key is a native body; any other JSON value, or the UTF-8 text when it is not JSON, is the input; a message without data (attributes only) has the input `null` |
 * | Pub/Sub push, unwrapped with metadata | header `x-goog-pubsub-message-id` | the native body's `id`, else that header | the raw body, by the same rule as `message.data`; `Content-Type` is not checked |
 * | Cloud Tasks | header `X-CloudTasks-TaskName` | the body's `id`, else that header | a native body; no `input` → 400 |
 * | QStash | header `Upstash-Message-Id` | the body's `id`, else that header | a native body; no `input` → 400 |
 *
 * Headers are looked at in the order of the table's last three rows, then the body's shape. An
 * `id` the sender put in a native body wins over the transport's id: it is the key the sender
 * chose to deduplicate on. `null` for `id`, `webhook` or `policy` counts as absent. A native
 * body's other keys (RunPod clients send `s3Config`, `webhookV2`, ...) are the job's other keys,
 * as in the pull worker's jobs.
 *
 * The transport's metadata is on the job too, under one key per transport (it replaces a body
 * key of that name): `pubsub` (`messageId`, `publishTime`, `subscription`, `orderingKey`,
 * `deliveryAttempt`, `attributes` from a wrapped message; `messageId`, `publishTime`,
 * `subscription` from an unwrapped one's headers), `cloudTasks` (`taskName`, `queueName`,
 * `retryCount`, `executionCount`, `eta`, `previousResponse`, `retryReason`) and `qstash`
 * (`messageId`, `retried`). Each field is there when the transport sent it.
 *
 * `Content-Type` (except for unwrapped Pub/Sub): `application/json` and `application/*+json`,
 * with or without parameters, are parsed as JSON (invalid JSON → 400); so is a request without
 * one. `text/plain` and `application/octet-stream` (what Cloud Tasks sends when no type was
 * set) are accepted when the body is JSON, else 415. Any other type, or a charset other than
 * UTF-8, is a 415.
 *
 * @module
 */

import * as v from "valibot";
import { webhookRefusal } from "../worker/webhook_target.ts";
import { fromBase64 } from "./_encoding.ts";
import { contentType, decodeUtf8, exceedsDepth, notJson } from "./_json_body.ts";

/** One job, as a push sender submitted it. */
export interface PushSubmission {
  /** The job id: the body's own, else the transport's (see the table above); else none. */
  id?: string;
  /** The handler's `job.input`. */
  input: unknown;
  /** An http(s) URL to POST the result to. */
  webhook?: string;
  /** Per-job policy. */
  policy?: { executionTimeout?: number };
  /** Which sender format the request was read as. */
  source: "native" | "pubsub" | "pubsub-unwrapped" | "cloud-tasks" | "qstash";
  /**
   * The job's other keys: a native body's keys but `id`, `input`, `webhook` and `policy`, and
   * the transport's metadata (`pubsub`, `cloudTasks` or `qstash`, see the module's table).
   */
  extra?: Readonly<Record<string, unknown>>;
}

/** The outcome of {@linkcode parseSubmission}: a submission, or the answer to give. */
export type ParsedSubmission =
  | { ok: true; submission: PushSubmission }
  | { ok: false; status: 400 | 415; message: string };

/** Options for {@linkcode parseSubmission}. */
export interface ParseSubmissionOptions {
  /** The deepest nesting of arrays and objects accepted in a JSON body. @default 64 */
  maxDepth?: number;
  /**
   * Read every request as a native body (RunPod's own, as the dev API takes it): the Pub/Sub,
   * Cloud Tasks and QStash headers and the Pub/Sub envelope are not looked for. Only
   * `Content-Type` is read. @default false
   */
  nativeOnly?: boolean;
  /**
   * The hosts a `webhook` may name, normalised by `webhookHostEntry` (a leading dot admits
   * subdomains). Empty: any host but link-local, unspecified, multicast or reserved addresses
   * and the cloud metadata names, which are refused whatever the list. @default []
   */
  webhookHosts?: readonly string[];
}

/** The longest job id, in UTF-16 code units (Cloud Tasks task names reach 500). */
export const MAX_JOB_ID_LENGTH = 512;
/** The longest `webhook` URL. */
export const MAX_WEBHOOK_LENGTH = 2048;
/** The longest `policy.executionTimeout`: 7 days in ms, RunPod's maximum. */
export const MAX_EXECUTION_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000;

const DEFAULT_MAX_DEPTH = 64;
const CONTROL_OR_LONE_SURROGATE_REGEXP = /[\p{Cc}\p{Cs}]/u;
/** What `String.prototype.trim` keeps (`\s` is its white space and line ends), without a copy. */
const NON_BLANK_REGEXP = /\S/;

const ID_SCHEMA = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_JOB_ID_LENGTH),
  v.check((id) => !CONTROL_OR_LONE_SURROGATE_REGEXP.test(id)),
  // `/jobs/.` and `/jobs/..` are rewritten by URL parsers: such a job could not be polled.
  v.check((id) => id !== "." && id !== ".."),
);
const ID_EXPECTED =
  `a string of 1 to ${MAX_JOB_ID_LENGTH} characters without control characters, not "." or ".."`;
const WEBHOOK_SCHEMA = v.pipe(
  v.string(),
  v.maxLength(MAX_WEBHOOK_LENGTH),
  v.check(isHttpUrl),
);
const WEBHOOK_EXPECTED = `an http or https URL of at most ${MAX_WEBHOOK_LENGTH} characters`;
const TIMEOUT_SCHEMA = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(1),
  v.maxValue(MAX_EXECUTION_TIMEOUT_MS),
);
const TIMEOUT_EXPECTED = `a positive integer of milliseconds, at most ${MAX_EXECUTION_TIMEOUT_MS}`;
const ATTRIBUTES_SCHEMA = v.record(v.string(), v.string());

type Source = PushSubmission["source"];
/** A native body's keys read into the submission itself; any other key goes to `extra`. */
const SUBMISSION_KEYS = new Set(["id", "input", "webhook", "policy"]);
const TRANSPORT_HEADERS = [
  ["upstash-message-id", "qstash"],
  ["x-cloudtasks-taskname", "cloud-tasks"],
] as const;
type Failure = { ok: false; status: 400 | 415; message: string };

/**
 * Reads a pushed request as a job submission (see the module's table for each sender). Never
 * throws on hostile input: a bad body gives `{ok: false, status, message}`, where the message
 * names the key or header at fault and what was expected, ready for the 400 or 415 answer.
 *
 * @param headers The request headers.
 * @param rawBody The whole body, as received (already bounded by `readBodyLimited`).
 * @param options Nesting limit.
 * @returns The submission, or the status and message to answer with.
 * @throws {TypeError} When `headers` is not a `Headers` or `rawBody` not a `Uint8Array`.
 * @throws {RangeError} When `maxDepth` is not a positive integer.
 *
 * @example A native body and a Pub/Sub envelope
 * ```ts
 * import { parseSubmission } from "./push_submission.ts";
 * const json = new Headers({ "content-type": "application/json" });
 * const enc = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
 * const native = parseSubmission(json, enc({ id: "job-1", input: { prompt: "hi" } }));
 * console.assert(native.ok && native.submission.id === "job-1");
 * const data = btoa(JSON.stringify({ prompt: "hi" }));
 * const pubsub = parseSubmission(json, enc({ message: { data, messageId: "42" }, subscription: "s" }));
 * console.assert(pubsub.ok && pubsub.submission.id === "42" && pubsub.submission.source === "pubsub");
 * const missing = parseSubmission(json, enc({ prompt: "hi" }));
 * console.assert(!missing.ok && missing.status === 400 && missing.message.includes("'input'"));
 * ```
 */
export function parseSubmission(
  headers: Headers,
  rawBody: Uint8Array,
  options: ParseSubmissionOptions = {},
): ParsedSubmission {
  if (typeof headers?.get !== "function") {
    throw new TypeError(`'headers' must be a Headers: received ${typeName(headers)}`);
  }
  if (!(rawBody instanceof Uint8Array)) {
    throw new TypeError(`'rawBody' must be a Uint8Array: received ${typeName(rawBody)}`);
  }
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1) {
    throw new RangeError(`'maxDepth' must be a positive integer: received ${maxDepth}`);
  }

  const parsed = parse(headers, rawBody, maxDepth, options.nativeOnly === true);
  const webhook = parsed.ok ? parsed.submission.webhook : undefined;
  if (webhook === undefined) return parsed;
  const refusal = webhookRefusal(webhook, options.webhookHosts);
  if (refusal === undefined) return parsed;
  return failure(400, `'webhook' ${received(webhook)} may not be called: ${refusal}`);
}

function parse(
  headers: Headers,
  rawBody: Uint8Array,
  maxDepth: number,
  nativeOnly: boolean,
): ParsedSubmission {
  const pubsubId = nativeOnly ? null : headers.get("x-goog-pubsub-message-id");
  if (pubsubId !== null) {
    const id = headerId(pubsubId, "x-goog-pubsub-message-id");
    if (typeof id !== "string") return id;
    const parsed = fromPayload(rawBody, "pubsub-unwrapped", id, "the body", maxDepth);
    return withTransport(parsed, "pubsub", {
      messageId: id,
      publishTime: headers.get("x-goog-pubsub-publish-time") ?? undefined,
      subscription: headers.get("x-goog-pubsub-subscription-name") ?? undefined,
    });
  }
  let source: Source = "native";
  let transportId: string | undefined;
  for (const [name, from] of nativeOnly ? [] : TRANSPORT_HEADERS) {
    const value = headers.get(name);
    if (value === null) continue;
    const id = headerId(value, name);
    if (typeof id !== "string") return id;
    source = from;
    transportId = id;
    break;
  }

  const type = contentType(headers.get("content-type"));
  if (type.kind === "refused") return failure(415, type.message);
  const text = decodeUtf8(rawBody);
  if (text === undefined) {
    return type.kind === "sniffed"
      ? failure(415, notJson(type.label))
      : failure(400, "the body is not valid UTF-8");
  }
  if (!NON_BLANK_REGEXP.test(text)) {
    return failure(400, `the body is empty: expected JSON such as {"input": ...}`);
  }
  if (exceedsDepth(text, maxDepth)) {
    return failure(400, `the body's JSON is nested deeper than ${maxDepth} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (type.kind === "sniffed") return failure(415, notJson(type.label));
    const detail = String((error as Error)?.message).slice(0, 200);
    return failure(400, `the body is not valid JSON: ${detail}`);
  }
  if (!nativeOnly && source === "native" && isPubSubEnvelope(value)) {
    return fromEnvelope(value, maxDepth);
  }
  const parsed = fromNative(value, source, transportId, "the body");
  if (source === "cloud-tasks") {
    return withTransport(parsed, "cloudTasks", {
      taskName: transportId,
      queueName: headers.get("x-cloudtasks-queuename") ?? undefined,
      retryCount: count(headers.get("x-cloudtasks-taskretrycount")),
      executionCount: count(headers.get("x-cloudtasks-taskexecutioncount")),
      eta: headers.get("x-cloudtasks-tasketa") ?? undefined,
      previousResponse: count(headers.get("x-cloudtasks-taskpreviousresponse")),
      retryReason: headers.get("x-cloudtasks-taskretryreason") ?? undefined,
    });
  }
  if (source === "qstash") {
    return withTransport(parsed, "qstash", {
      messageId: transportId,
      retried: count(headers.get("upstash-retried")),
    });
  }
  return parsed;
}

/** Puts the transport's metadata (its fields that are set) on a parsed submission's job. */
function withTransport(
  parsed: ParsedSubmission,
  key: "pubsub" | "cloudTasks" | "qstash",
  fields: Record<string, unknown>,
): ParsedSubmission {
  if (!parsed.ok) return parsed;
  const metadata: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) metadata[name] = value;
  }
  const submission = parsed.submission;
  submission.extra = { ...submission.extra, [key]: Object.freeze(metadata) };
  return parsed;
}

/** A header's whole number (a retry count), else `undefined`. */
function count(value: string | null): number | undefined {
  return value !== null && /^\d{1,9}$/.test(value.trim()) ? Number(value) : undefined;
}

/** A string field of a sender's JSON, else `undefined`. */
function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function fromEnvelope(envelope: Record<string, unknown>, maxDepth: number): ParsedSubmission {
  const message = envelope.message as Record<string, unknown>;
  const rawId = own(message, "messageId") ?? own(message, "message_id");
  let id: string | undefined;
  if (rawId !== undefined && rawId !== null) {
    if (!v.is(ID_SCHEMA, rawId)) {
      return failure(
        400,
        `'message.messageId' must be ${ID_EXPECTED}: received ${received(rawId)}`,
      );
    }
    id = rawId;
  }
  const rawAttributes = own(message, "attributes");
  let attributes: Record<string, string> | undefined;
  if (rawAttributes !== undefined && rawAttributes !== null) {
    if (!isPlainObject(rawAttributes) || !v.is(ATTRIBUTES_SCHEMA, rawAttributes)) {
      return failure(
        400,
        `'message.attributes' must be an object of strings: received ${received(rawAttributes)}`,
      );
    }
    attributes = Object.freeze(Object.fromEntries(Object.entries(rawAttributes)));
  }
  const data = own(message, "data");
  let parsed: ParsedSubmission;
  if (data === undefined || data === null || data === "") {
    // Pub/Sub allows a message of attributes only; a 400 would have it redelivered for ever.
    parsed = success("pubsub", id, null);
  } else {
    const bytes = typeof data === "string" ? fromBase64(data, "either") : undefined;
    if (!bytes) {
      return failure(400, `'message.data' must be a base64 string: received ${received(data)}`);
    }
    parsed = fromPayload(bytes, "pubsub", id, "'message.data'", maxDepth);
  }
  const attempt = own(envelope, "deliveryAttempt");
  return withTransport(parsed, "pubsub", {
    messageId: id,
    publishTime: text(own(message, "publishTime") ?? own(message, "publish_time")),
    subscription: text(own(envelope, "subscription")),
    orderingKey: text(own(message, "orderingKey") ?? own(message, "ordering_key")),
    deliveryAttempt: Number.isSafeInteger(attempt) ? attempt : undefined,
    attributes,
  });
}

/** Pub/Sub's payload rule: a JSON object with `input` is a native body, anything else the input. */
function fromPayload(
  bytes: Uint8Array,
  source: Source,
  transportId: string | undefined,
  label: string,
  maxDepth: number,
): ParsedSubmission {
  const text = decodeUtf8(bytes);
  if (text === undefined) return failure(400, `${label} is not valid UTF-8 text`);
  if (text === "") return failure(400, `${label} is empty: expected the job's input`);
  if (exceedsDepth(text, maxDepth)) {
    return failure(400, `${label} is JSON nested deeper than ${maxDepth} levels`);
  }
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: the text itself is the input.
  }
  if (isPlainObject(value) && Object.hasOwn(value, "input")) {
    return fromNative(value, source, transportId, label);
  }
  return success(source, transportId, value);
}

function fromNative(
  body: unknown,
  source: Source,
  transportId: string | undefined,
  label: string,
): ParsedSubmission {
  if (!isPlainObject(body)) {
    return failure(
      400,
      `${label} must be a JSON object with an 'input' key: received ${received(body)}`,
    );
  }
  if (!Object.hasOwn(body, "input")) {
    return failure(
      400,
      `${label} has no 'input': expected {"input": ..., "id"?, "webhook"?, "policy"?}`,
    );
  }
  const id = own(body, "id");
  if (id !== undefined && id !== null && !v.is(ID_SCHEMA, id)) {
    return failure(400, `'id' must be ${ID_EXPECTED}: received ${received(id)}`);
  }
  const webhook = own(body, "webhook");
  if (webhook !== undefined && webhook !== null && !v.is(WEBHOOK_SCHEMA, webhook)) {
    return failure(400, `'webhook' must be ${WEBHOOK_EXPECTED}: received ${received(webhook)}`);
  }
  const rawPolicy = own(body, "policy");
  let policy: PushSubmission["policy"];
  if (rawPolicy !== undefined && rawPolicy !== null) {
    if (!isPlainObject(rawPolicy)) {
      return failure(400, `'policy' must be an object: received ${received(rawPolicy)}`);
    }
    const timeout = own(rawPolicy, "executionTimeout");
    policy = {};
    if (timeout !== undefined && timeout !== null) {
      if (!v.is(TIMEOUT_SCHEMA, timeout)) {
        return failure(
          400,
          `'policy.executionTimeout' must be ${TIMEOUT_EXPECTED}: received ${received(timeout)}`,
        );
      }
      policy.executionTimeout = timeout;
    }
  }
  const submission = success(source, (id as string | null | undefined) ?? transportId, body.input);
  if (typeof webhook === "string") submission.submission.webhook = webhook;
  if (policy) submission.submission.policy = policy;
  const others = Object.entries(body).filter(([key]) => !SUBMISSION_KEYS.has(key));
  // fromEntries defines data properties: an own "__proto__" key stays a key, not a prototype.
  if (others.length > 0) submission.submission.extra = Object.fromEntries(others);
  return submission;
}

function success(
  source: Source,
  id: string | undefined,
  input: unknown,
): { ok: true; submission: PushSubmission } {
  const submission: PushSubmission = id === undefined ? { input, source } : { id, input, source };
  return { ok: true, submission };
}

function failure(status: 400 | 415, message: string): Failure {
  return { ok: false, status, message };
}

function headerId(value: string, header: string): string | Failure {
  if (v.is(ID_SCHEMA, value)) return value;
  return failure(400, `the ${header} header must be ${ID_EXPECTED}: received ${received(value)}`);
}

function isPubSubEnvelope(value: unknown): value is Record<string, unknown> {
  if (!isPlainObject(value) || Object.hasOwn(value, "input")) return false;
  const message = own(value, "message");
  if (!isPlainObject(message)) return false;
  return Object.hasOwn(message, "data") || Object.hasOwn(message, "messageId") ||
    Object.hasOwn(message, "message_id") || typeof own(value, "subscription") === "string";
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An own property only: a JSON `__proto__` key is data, never the prototype's properties. */
function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function received(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") {
    return value.length > 80 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return `a ${typeof value}`;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}
