/**
 * Reading a job-take answer (protocol §3.2) without ever trusting it: every answer becomes jobs,
 * rejected entries with the reason, or an instruction to back off.
 *
 * @module
 */

import type { HttpResponse } from "../http_client.ts";
import { isPlainObject } from "../job_result.ts";
import type { Job } from "../types.ts";

/** An entry that is not a valid job. */
export interface RejectedJob {
  /** The id, when the entry had a usable one: it then gets a FAILED result. */
  id?: string;
  /** What was wrong. */
  reason: string;
}

/** What a take answer means. */
export type TakeOutcome =
  | { kind: "jobs"; jobs: Job[]; rejected: RejectedJob[] }
  | { kind: "none"; note?: string }
  | { kind: "throttled"; retryAfterMs?: number }
  | { kind: "error"; type: string; message: string };

/**
 * Interprets a job-take answer. 204, 400 (expected with FlashBoot), an empty body and a body
 * that is not JSON mean no job; 429 means back off (honouring `Retry-After`); other 4xx/5xx are
 * errors. A job needs a string (or number) `id` and an `input` key; bad entries are rejected one
 * by one, so one bad element of a batch never loses the others.
 *
 * @param response The HTTP answer.
 * @returns What to do.
 *
 * @example
 * ```ts
 * import { readTakeResponse } from "./take_response.ts";
 * const res = { status: 200, header: () => "application/json", body: '[{"id":"a","input":1},{"input":2}]' };
 * const out = readTakeResponse(res);
 * console.assert(out.kind === "jobs" && out.jobs.length === 1 && out.rejected.length === 1);
 * ```
 */
export function readTakeResponse(response: HttpResponse): TakeOutcome {
  const { status } = response;
  if (status === 204) return { kind: "none" };
  if (status === 400) {
    return { kind: "none", note: "HTTP 400 (expected when FlashBoot is enabled)" };
  }
  if (status === 429) {
    return { kind: "throttled", retryAfterMs: retryAfter(response.header("retry-after")) };
  }
  if (status >= 400) {
    return {
      kind: "error",
      type: "HTTPError",
      message: `HTTP ${status}: ${snippet(response.body)}`,
    };
  }
  if (response.body.trim() === "") {
    return { kind: "none", note: `HTTP ${status} with an empty body` };
  }
  let payload: unknown;
  try {
    payload = JSON.parse(response.body);
  } catch {
    return {
      kind: "none",
      note: `HTTP ${status} with a body that is not JSON: ${snippet(response.body)}`,
    };
  }
  if (Array.isArray(payload) && payload.length === 0) return { kind: "none" };
  const entries = Array.isArray(payload) ? payload : [payload];
  const jobs: Job[] = [];
  const rejected: RejectedJob[] = [];
  for (const entry of entries) {
    const checked = checkJob(entry);
    if ("job" in checked) jobs.push(checked.job);
    else rejected.push(checked);
  }
  return { kind: "jobs", jobs, rejected };
}

function checkJob(entry: unknown): { job: Job } | RejectedJob {
  if (!isPlainObject(entry)) {
    return {
      reason: `a job must be a JSON object with "id" and "input": received ${
        snippet(JSON.stringify(entry))
      }`,
    };
  }
  const rawId = entry.id;
  const id = typeof rawId === "string" && rawId !== ""
    ? rawId
    : typeof rawId === "number" && Number.isFinite(rawId)
    ? String(rawId)
    : undefined;
  if (id === undefined) {
    return {
      reason: `the job has no usable "id" (received ${
        rawId === undefined ? "none" : snippet(JSON.stringify(rawId))
      }); keys: ${Object.keys(entry).join(", ") || "none"}`,
    };
  }
  if (!("input" in entry) || entry.input === undefined) {
    return { id, reason: `job ${id} has no "input" key; the job was not run` };
  }
  return { job: id === rawId ? (entry as Job) : ({ ...entry, id } as Job) };
}

/**
 * Parses `Retry-After`: delta-seconds or an HTTP date.
 *
 * @param value The header value.
 * @returns Milliseconds to wait, or `undefined` when absent or unreadable.
 *
 * @example
 * ```ts
 * import { retryAfter } from "./take_response.ts";
 * console.assert(retryAfter("2") === 2000);
 * ```
 */
export function retryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  // RFC 9110: delta-seconds (a non-negative integer) or an HTTP-date; "-1" is neither (but
  // Date.parse would read it as a year).
  if (/^\s*[-+]?[\d.]+\s*$/.test(value)) {
    const seconds = Number(value);
    return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function snippet(text: string | undefined): string {
  if (text === undefined) return String(text);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
