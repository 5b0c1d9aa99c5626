/**
 * The worker environment that points a RunPod worker at a job API, in the production URL
 * shapes.
 *
 * @module
 */

/** Options for {@linkcode simulatorEnv}. */
export interface SimulatorEnvOptions {
  /** The endpoint id in every URL. @default "ep" */
  endpointId?: string;
  /** Adds `RUNPOD_AI_API_KEY` with this key. @default undefined */
  apiKey?: string;
  /** The `gpu` query parameter of every URL. @default "SIM" */
  gpu?: string;
  /** Adds `RUNPOD_POD_ID` with this worker id. @default undefined */
  podId?: string;
}

/**
 * Builds the `RUNPOD_WEBHOOK_*` templates for a job API served at `baseUrl`, with the
 * placeholders the worker fills in (`$ID`, `$RUNPOD_POD_ID`) left in place.
 *
 * @param baseUrl Where the API is served, such as `http://127.0.0.1:8123` (a trailing `/` is
 * ignored).
 * @param options Endpoint id, API key, `gpu` value and worker id.
 * @returns `RUNPOD_WEBHOOK_GET_JOB`, `RUNPOD_WEBHOOK_POST_OUTPUT`, `RUNPOD_WEBHOOK_POST_STREAM`
 * and `RUNPOD_WEBHOOK_PING`, plus `RUNPOD_AI_API_KEY` and `RUNPOD_POD_ID` when given.
 *
 * @example The job-take template
 * ```ts
 * import { simulatorEnv } from "./simulator_env.ts";
 * const env = simulatorEnv("http://127.0.0.1:8123/", { podId: "pod123" });
 * const take = env.RUNPOD_WEBHOOK_GET_JOB;
 * console.assert(take === "http://127.0.0.1:8123/v2/ep/job-take/$ID?gpu=SIM");
 * console.assert(env.RUNPOD_POD_ID === "pod123");
 * ```
 */
export function simulatorEnv(
  baseUrl: string,
  options: SimulatorEnvOptions = {},
): Record<string, string> {
  const { endpointId = "ep", apiKey, gpu = "SIM", podId } = options;
  const base = `${baseUrl.replace(/\/+$/, "")}/v2/${endpointId}`;
  const query = `?${new URLSearchParams({ gpu })}`;
  const env: Record<string, string> = {
    RUNPOD_WEBHOOK_GET_JOB: `${base}/job-take/$ID${query}`,
    RUNPOD_WEBHOOK_POST_OUTPUT: `${base}/job-done/$RUNPOD_POD_ID/$ID${query}`,
    RUNPOD_WEBHOOK_POST_STREAM: `${base}/job-stream/$RUNPOD_POD_ID/$ID${query}`,
    RUNPOD_WEBHOOK_PING: `${base}/ping/$RUNPOD_POD_ID${query}`,
  };
  if (apiKey !== undefined) env.RUNPOD_AI_API_KEY = apiKey;
  if (podId !== undefined) env.RUNPOD_POD_ID = podId;
  return env;
}
