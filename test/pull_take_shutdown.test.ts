/**
 * A job-take whose answer is arriving when the worker shuts down (protocol §10.1, §12 "lost job
 * on shutdown"): the shutdown may abort a take only while no answer has come; once a 2xx status
 * has arrived, the server has handed the jobs out, so the body is read to the end and its jobs
 * delivered, or their loss is logged with what arrived. Over real loopback HTTP, with both
 * built-in clients, on every runtime.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { nodeHttpClient } from "../adapters/_node_http_client.ts";
import { type Deferred, deferred } from "../src/async/deferred.ts";
import { ConcurrencyGate } from "../src/concurrency_gate.ts";
import { fetchClient, type HttpClient } from "../src/http_client.ts";
import { type ClientTimeouts, RunPodClient } from "../src/pull/runpod_client.ts";
import { readRunPodEnv } from "../src/pull/runpod_env.ts";
import { TakeLoop } from "../src/pull/take_loop.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Server } from "../src/runtime.ts";
import type { Job } from "../src/types.ts";
import { TEST_WORKER_INFO } from "./support/http_doubles.ts";
import { within } from "./support/pull_harness.ts";
import { currentRuntime } from "./support/runtime.ts";

const CLIENTS: [string, HttpClient][] = [["fetchClient", fetchClient], [
  "nodeHttpClient",
  nodeHttpClient,
]];

/** The first part of the take answer's body, sent with the status. */
const HEAD = '{"id":"raced",';
/** The rest of it, sent once the test releases it. */
const TAIL = '"input":1}';

/** A job-take endpoint on loopback whose answers the test controls. */
interface TakeServer extends AsyncDisposable {
  /** The client, which resolves `answered` when a status arrives. */
  http: HttpClient;
  /** A `RunPodClient` over `http` pointed at the server. */
  client(timeouts?: ClientTimeouts): RunPodClient;
  /** Resolves once the worker side has the status and headers of an answer (or fails in 10 s). */
  readonly answered: Promise<void>;
  /** Resolves once a take reached the server (or fails in 10 s). */
  readonly arrived: Promise<void>;
  /** Sends the rest of the body. */
  release(): void;
  /** Takes the server saw. */
  takes: number;
}

/**
 * Serves job-take: `"slow body"` answers 200 with {@linkcode HEAD} at once and {@linkcode TAIL}
 * on `release()`; `"no answer"` sends nothing until `release()` (then 204).
 */
async function takeServer(http: HttpClient, mode: "slow body" | "no answer"): Promise<TakeServer> {
  const runtime = await currentRuntime();
  const answered = deferred<void>();
  const arrived = deferred<void>();
  const released: Deferred<void> = deferred();
  let takes = 0;
  const server: Server = await runtime.serve(async () => {
    takes++;
    arrived.resolve();
    if (mode === "no answer") {
      await released.promise;
      return new Response(null, { status: 204 });
    }
    const encoder = new TextEncoder();
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(HEAD));
        released.promise.then(() => {
          if (cancelled) return; // the client went away (the test's dispose releases it)
          controller.enqueue(encoder.encode(TAIL));
          controller.close();
        });
      },
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  }, { hostname: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${server.port}/v2/ep`;
  const vars: Record<string, string> = {
    RUNPOD_WEBHOOK_GET_JOB: `${base}/job-take/$ID?gpu=SIM`,
    RUNPOD_AI_API_KEY: "test-key",
    RUNPOD_POD_ID: "pod-test",
  };
  const watched: HttpClient = (request) =>
    http({
      ...request,
      onResponse(status) {
        request.onResponse?.(status);
        answered.resolve();
      },
    });
  return {
    http: watched,
    client: (timeouts) =>
      new RunPodClient({
        http: watched,
        env: readRunPodEnv((name) => vars[name], TEST_WORKER_INFO),
        info: TEST_WORKER_INFO,
        timeouts,
      }),
    get answered() {
      return within(answered.promise, "the client's onResponse with the take's status", 10_000);
    },
    get arrived() {
      return within(arrived.promise, "the take at the server", 10_000);
    },
    release: () => released.resolve(),
    get takes() {
      return takes;
    },
    async [Symbol.asyncDispose]() {
      released.resolve();
      await server.close();
    },
  };
}

for (const [name, http] of CLIENTS) {
  test(`RunPodClient.take() over ${name} returns the jobs of a 2xx answer still arriving when its signal aborts`, async () => {
    await using server = await takeServer(http, "slow body");
    const client = server.client();
    const shutdown = new AbortController();
    const taking = client.take(1, false, shutdown.signal);
    await server.answered;
    shutdown.abort(new Error("SIGTERM received"));
    server.release();
    const outcome = await taking;
    assert.equal(outcome.kind, "jobs");
    assert.deepEqual(outcome.kind === "jobs" && outcome.jobs, [{ id: "raced", input: 1 }]);
    assert.equal(client.lostTakes, 0);
  });

  test(`RunPodClient.take() over ${name} still aborts at once a take that has no answer yet`, async () => {
    await using server = await takeServer(http, "no answer");
    const shutdown = new AbortController();
    const taking = server.client().take(1, false, shutdown.signal);
    await server.arrived;
    const reason = new Error("SIGTERM received");
    shutdown.abort(reason);
    await assert.rejects(taking, (error) => error === reason);
  });

  test(`RunPodClient.take() over ${name} reports a 2xx answer whose body never ends as lost, quoting what arrived`, async () => {
    await using server = await takeServer(http, "slow body");
    // The body bound is what ends this take: the shutdown does not.
    const client = server.client({ takeBody: 50 });
    const shutdown = new AbortController();
    const taking = client.take(1, false, shutdown.signal);
    await server.answered;
    shutdown.abort(new Error("SIGTERM received"));
    const outcome = await taking;
    assert.equal(outcome.kind, "error");
    const message = outcome.kind === "error" ? outcome.message : "";
    assert.match(message, /^job-take answered HTTP 200, but its body could not be read/);
    assert.match(message, /TimeoutError: The body did not arrive within 50 ms of the status/);
    assert.match(message, /up to 1\) were handed to this worker and are lost/);
    assert.ok(
      message.endsWith(`; 14 characters of its body arrived, naming the ids "raced": ${HEAD}`),
      message,
    );
    assert.equal(client.lostTakes, 1);
  });
}

/** A take loop over `client` at concurrency 1, recording what it delivers and logs. */
function loopOver(client: RunPodClient, signal: AbortSignal) {
  const lines: string[] = [];
  const accepted: Job[] = [];
  const logger = new RunPodLogger({ level: "DEBUG", write: (text) => void lines.push(text) });
  const loop = new TakeLoop({
    client,
    gate: new ConcurrencyGate({ limit: 1 }),
    logger,
    signal,
    inProgress: () => accepted.length > 0,
    isRunning: () => false,
    accept: (jobs) => void accepted.push(...jobs.map(({ job }) => job)),
    reject: (id, reason) => assert.fail(`rejected ${id}: ${reason}`),
  });
  return { loop, lines, accepted, logger };
}

test("TakeLoop delivers the jobs of a take whose answer was arriving at shutdown, then ends", async () => {
  await using server = await takeServer(fetchClient, "slow body");
  const shutdown = new AbortController();
  const { loop, accepted } = loopOver(server.client(), shutdown.signal);
  const running = loop.run();
  await server.answered;
  shutdown.abort(new Error("SIGTERM received"));
  server.release();
  await running;
  assert.deepEqual(accepted, [{ id: "raced", input: 1 }]);
  assert.equal(server.takes, 1, "no take after the shutdown");
});

test("TakeLoop logs a take lost at shutdown as an error that names what arrived, without a retry", async () => {
  await using server = await takeServer(fetchClient, "slow body");
  const shutdown = new AbortController();
  const client = server.client({ takeBody: 50 });
  const { loop, accepted, lines, logger } = loopOver(client, shutdown.signal);
  const running = loop.run();
  await server.answered;
  shutdown.abort(new Error("SIGTERM received"));
  await running;
  logger.flush();
  assert.deepEqual(accepted, []);
  const errors = lines.join("").split("\n").filter((line) => line.startsWith("ERROR"));
  assert.equal(errors.length, 1, lines.join(""));
  assert.match(errors[0]!, /Failed to get job\. \| Error Type: TimeoutError \|/);
  assert.match(
    errors[0]!,
    /are lost; 14 characters of its body arrived, naming the ids "raced": \{"id":"raced", \(not retrying: shutting down\)$/,
  );
  assert.equal(client.lostTakes, 1);
  assert.equal(server.takes, 1);
});
