/**
 * The baseline: `BARE_CONCURRENCY` concurrent loops, each `GET job-take` (single) with `fetch`,
 * then `POST job-done` with the headers edgepod sends (raw `Authorization`,
 * `Content-Type: application/x-www-form-urlencoded`, `charset: utf-8`, `X-Request-ID`), until
 * the queue is empty (a take answered 204). No logging, no heartbeat, no job-stop polling, no
 * retries: the least a worker can do over HTTP.
 *
 * It reads the same environment as the worker (`RUNPOD_WEBHOOK_GET_JOB`,
 * `RUNPOD_WEBHOOK_POST_OUTPUT`, `RUNPOD_AI_API_KEY`, `RUNPOD_POD_ID`). A job whose input is
 * `{ "hold": true }` is held until `SIGUSR2` before its result is posted.
 *
 * Run: `bun bench/bare_loop.ts`, `deno run -A bench/bare_loop.ts`, `node dist/bench/bare_loop.js`.
 *
 * @module
 */

import process from "node:process";
import { installGcSignal, installReleaseSignal, released, watchParent } from "./_release.ts";

const env = process.env;
const podId = env.RUNPOD_POD_ID ?? "bare";
const auth = env.RUNPOD_AI_API_KEY ?? "";
const takeUrl = `${(env.RUNPOD_WEBHOOK_GET_JOB ?? "").replaceAll("$ID", podId)}&job_in_progress=0`;
const doneTemplate = (env.RUNPOD_WEBHOOK_POST_OUTPUT ?? "").replaceAll("$RUNPOD_POD_ID", podId);
const concurrency = Number(env.BARE_CONCURRENCY ?? "1");
const takeHeaders = { authorization: auth };

async function loop(): Promise<void> {
  while (true) {
    const res = await fetch(takeUrl, { headers: takeHeaders });
    if (res.status === 204) {
      await res.text();
      return;
    }
    if (res.status !== 200) throw new Error(`job-take answered HTTP ${res.status}`);
    const job = await res.json() as { id: string; input: { hold?: boolean } | null };
    if (job.input?.hold) await released();
    const done = await fetch(
      `${doneTemplate.replace("$ID", encodeURIComponent(job.id))}&isStream=false`,
      {
        method: "POST",
        headers: {
          authorization: auth,
          "content-type": "application/x-www-form-urlencoded",
          charset: "utf-8",
          "x-request-id": job.id,
        },
        body: JSON.stringify({ output: job.input }),
      },
    );
    await done.text();
    if (done.status !== 200) throw new Error(`job-done answered HTTP ${done.status}`);
  }
}

installReleaseSignal();
installGcSignal();
const stopWatching = watchParent();
await Promise.all(Array.from({ length: concurrency }, loop));
stopWatching();
process.exit(0);
