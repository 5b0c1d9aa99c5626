/**
 * The production worker's environment (protocol §2): RunPod's URL templates with every
 * placeholder substituted, and the request URLs built from them.
 *
 * @module
 */

import type { WorkerInfo } from "../job_result.ts";

/** Reads an environment variable. */
export type EnvReader = (name: string) => string | undefined;

/** The RunPod endpoints and settings a pull worker uses, read once at start. */
export interface RunPodEnv {
  /** The raw API key, sent as `Authorization` without a `Bearer` prefix. */
  apiKey: string;
  /** The worker id substituted for `$ID` in the take URL and `$RUNPOD_POD_ID` everywhere. */
  workerId: string;
  /** The job-take URL, placeholders substituted. */
  takeUrl: string;
  /** The job-stop long-poll URL, or `undefined` when it cannot be derived. */
  stopUrl: string | undefined;
  /** The job-done template; `$ID` is replaced per job. */
  doneTemplate: string;
  /** The job-stream template; `$ID` is replaced per job. */
  streamTemplate: string;
  /** The ping URL, or `undefined` when unset. */
  pingUrl: string | undefined;
  /** The heartbeat period in ms. */
  pingIntervalMs: number;
  /** Problems found while reading, to log once a logger exists. */
  warnings: string[];
}

const DEFAULT_PING_INTERVAL = 10_000;
const MAX_PING_INTERVAL = 2_147_483_647;

/**
 * Reads `RUNPOD_WEBHOOK_GET_JOB`, `RUNPOD_WEBHOOK_POST_OUTPUT`, `RUNPOD_WEBHOOK_POST_STREAM`,
 * `RUNPOD_WEBHOOK_PING`, `RUNPOD_AI_API_KEY`, `RUNPOD_PING_INTERVAL` and
 * `RUNPOD_GPU_TYPE_ID`. Unlike the Python SDK, `$RUNPOD_POD_ID` and `$RUNPOD_GPU_TYPE_ID` are
 * substituted in every URL (unsubstituted templates made the platform answer 400/500), and the
 * ping interval keeps millisecond precision.
 *
 * @param env Reads a variable.
 * @param info The worker's identity (its id replaces `$ID`/`$RUNPOD_POD_ID`).
 * @returns The endpoints.
 * @throws {TypeError} When `RUNPOD_WEBHOOK_GET_JOB` is unset or not a URL.
 *
 * @example
 * ```ts
 * import { readRunPodEnv } from "./runpod_env.ts";
 * const vars: Record<string, string> = {
 *   RUNPOD_WEBHOOK_GET_JOB: "http://127.0.0.1:9/v2/ep/job-take/$ID?gpu=SIM",
 * };
 * const env = readRunPodEnv((n) => vars[n], { workerId: "pod1" } as never);
 * console.assert(env.stopUrl === "http://127.0.0.1:9/v2/ep/job-stop/pod1?gpu=SIM");
 * ```
 */
export function readRunPodEnv(env: EnvReader, info: Pick<WorkerInfo, "workerId">): RunPodEnv {
  const warnings: string[] = [];
  const workerId = info.workerId;
  const gpu = env("RUNPOD_GPU_TYPE_ID") ?? "";
  // Values are inserted literally (replacer functions: a replacement string would interpret
  // `$&`, `$$`, ...), with only the characters that would change the URL's structure encoded.
  const substitute = (template: string) =>
    template.replaceAll("$RUNPOD_POD_ID", () => urlSafe(workerId))
      .replaceAll("$RUNPOD_GPU_TYPE_ID", () => urlSafe(gpu));

  const rawTake = env("RUNPOD_WEBHOOK_GET_JOB");
  if (!rawTake) throw new TypeError("RUNPOD_WEBHOOK_GET_JOB must be set for the pull worker");
  const takeUrl = checkUrl(
    substitute(rawTake).replaceAll("$ID", () => urlSafe(workerId)),
    "RUNPOD_WEBHOOK_GET_JOB",
  );

  let stopUrl: string | undefined;
  if (new URL(takeUrl).pathname.includes("/job-take/")) {
    stopUrl = takeUrl.replace("/job-take/", "/job-stop/");
  } else {
    warnings.push(
      "RUNPOD_WEBHOOK_GET_JOB has no /job-take/ segment, so the job-stop channel is disabled",
    );
  }

  const template = (name: string) => {
    const raw = env(name);
    if (!raw) {
      warnings.push(`${name} is not set; results cannot be posted`);
      return "";
    }
    checkUrl(substitute(raw).replaceAll("$ID", () => "id"), name);
    return substitute(raw);
  };

  const rawPing = env("RUNPOD_WEBHOOK_PING");
  const pingUrl = rawPing ? checkUrl(substitute(rawPing), "RUNPOD_WEBHOOK_PING") : undefined;

  let pingIntervalMs = DEFAULT_PING_INTERVAL;
  const rawInterval = env("RUNPOD_PING_INTERVAL");
  if (rawInterval !== undefined && rawInterval !== "") {
    const n = Number(rawInterval);
    // Past the longest delay a timer can wait, the heartbeat would ping every millisecond.
    if (Number.isFinite(n) && n >= 1 && n <= MAX_PING_INTERVAL) pingIntervalMs = n;
    else {
      warnings.push(
        `RUNPOD_PING_INTERVAL=${rawInterval} is not a number of ms from 1 to ${MAX_PING_INTERVAL}; ` +
          `using ${DEFAULT_PING_INTERVAL}`,
      );
    }
  }

  return {
    apiKey: env("RUNPOD_AI_API_KEY") ?? "",
    workerId,
    takeUrl,
    stopUrl,
    doneTemplate: template("RUNPOD_WEBHOOK_POST_OUTPUT"),
    streamTemplate: template("RUNPOD_WEBHOOK_POST_STREAM"),
    pingUrl,
    pingIntervalMs,
    warnings,
  };
}

/**
 * The job-take URL for `count` jobs: `job-take` with `job_in_progress` for one, `job-take-batch`
 * with `batch_size` for more, parameters added through `URL.searchParams`.
 *
 * @param env The endpoints.
 * @param count Jobs wanted (at least 1).
 * @param inProgress Whether any job is queued or running in this worker.
 * @returns The URL.
 *
 * @example
 * ```ts
 * import { takeUrl } from "./runpod_env.ts";
 * const env = { takeUrl: "http://h/v2/ep/job-take/w?gpu=A" } as never;
 * console.assert(takeUrl(env, 3, true) === "http://h/v2/ep/job-take-batch/w?gpu=A&batch_size=3&job_in_progress=1");
 * ```
 */
export function takeUrl(
  env: Pick<RunPodEnv, "takeUrl">,
  count: number,
  inProgress: boolean,
): string {
  const url = new URL(
    count > 1 ? env.takeUrl.replace("/job-take/", "/job-take-batch/") : env.takeUrl,
  );
  if (count > 1) url.searchParams.set("batch_size", String(count));
  url.searchParams.set("job_in_progress", inProgress ? "1" : "0");
  return url.href;
}

/**
 * A result URL: the template with `$ID` replaced by the (URL-encoded) job id and `isStream` set.
 *
 * @param template `doneTemplate` or `streamTemplate`.
 * @param jobId The job id, an opaque string.
 * @param isStream The `isStream` query parameter.
 * @returns The URL.
 *
 * @example
 * ```ts
 * import { resultUrl } from "./runpod_env.ts";
 * console.assert(resultUrl("http://h/job-done/w/$ID?gpu=A", "j1", false) === "http://h/job-done/w/j1?gpu=A&isStream=false");
 * ```
 */
export function resultUrl(template: string, jobId: string, isStream: boolean): string {
  const url = new URL(template.replaceAll("$ID", () => encodeURIComponent(jobId)));
  url.searchParams.set("isStream", isStream ? "true" : "false");
  return url.href;
}

function checkUrl(value: string, name: string): string {
  try {
    return new URL(value).href;
  } catch {
    throw new TypeError(`${name} must be an absolute URL: received ${value}`);
  }
}

/** Percent-encodes the characters that would split a path segment or a query value. */
function urlSafe(value: string): string {
  return value.replace(/[%&#?/+ ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Stands for the job id while a result URL is precomputed; survives URL serialisation. */
const ID_MARKER = "EDGEPODJOBIDMARKER";

/**
 * A fast {@linkcode resultUrl} for one template and `isStream` value: the URL is parsed once and
 * split around the job id, so each call is a string concatenation (the same URL as
 * `resultUrl`).
 *
 * @param template `doneTemplate` or `streamTemplate`.
 * @param isStream The `isStream` query parameter.
 * @returns A function from job id to URL.
 * @throws {TypeError} When the template is not a URL.
 *
 * @example
 * ```ts
 * import { resultUrl, resultUrlBuilder } from "./runpod_env.ts";
 * const build = resultUrlBuilder("http://h/job-done/w/$ID?gpu=A", true);
 * console.assert(build("j/1") === resultUrl("http://h/job-done/w/$ID?gpu=A", "j/1", true));
 * ```
 */
export function resultUrlBuilder(template: string, isStream: boolean): (jobId: string) => string {
  const [before, ...after] = resultUrl(template, ID_MARKER, isStream).split(ID_MARKER);
  if (after.length === 0) return () => before!; // no $ID in the template
  return (jobId) => before + after.map((part) => encodeURIComponent(jobId) + part).join("");
}
