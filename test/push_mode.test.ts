// Push mode as users start it: the fixture worker as a child process on this runtime, with
// `--push` or `EDGEPOD_MODE=push`, reached over real HTTP on loopback.

import assert from "node:assert/strict";
import { test } from "node:test";
import { deferred } from "../src/async/deferred.ts";
import { type Child, startChild } from "./support/child.ts";
import { startOidcIssuer } from "./support/oidc_issuer.ts";
import { type WebhookReceiver, webhookReceiver } from "./support/webhook_receiver.ts";
import { currentRuntime, repoRoot, runtimeName } from "./support/runtime.ts";

const WORKER = `${repoRoot}test/fixtures/worker.ts`;

interface PushChild extends AsyncDisposable {
  child: Child;
  url: string;
}

async function startPush(
  args: string[],
  env: Record<string, string> = {},
  denoFlags?: string[],
): Promise<PushChild> {
  const child = startChild(WORKER, args, {
    env: { FIXTURE_HANDLER: "awaitUrl", ...env },
    denoFlags,
  });
  const ready = await child.waitForLine(/Push worker .* ready on http:\/\//);
  const url = ready.match(/ready on (http:\/\/[^:]+:\d+)/)![1]!;
  return {
    child,
    url,
    async [Symbol.asyncDispose]() {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** A loopback server whose answers the test releases: `awaitUrl` jobs wait on it. */
async function releaser() {
  const runtime = await currentRuntime();
  const arrived = deferred<void>();
  const answer = deferred<unknown>();
  const server = await runtime.serve(async () => {
    arrived.resolve();
    return Response.json(await answer.promise);
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${server.port}/`,
    arrived: arrived.promise,
    release: (value: unknown) => answer.resolve(value),
    close: () => server.close(),
  };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

test("push mode: --push serves jobs; SIGTERM refuses new work with 503, finishes the job in flight, exits 0", async () => {
  const gate = await releaser();
  try {
    await using push = await startPush(["--push", "--host", "127.0.0.1", "--port", "0"]);
    assert.equal((await fetch(`${push.url}/ping`)).status, 200);
    const inflight = post(push.url, { id: "inflight", input: { url: gate.url } });
    await gate.arrived;
    push.child.kill("SIGTERM");
    await push.child.waitForLine(/Shutting down \(SIGTERM received\)/);
    assert.equal((await fetch(`${push.url}/ping`)).status, 503);
    const refused = await post(push.url, { id: "late", input: { url: gate.url } });
    assert.equal(refused.status, 503);
    assert.ok(refused.headers.get("retry-after"));
    gate.release({ finished: true });
    const answer = await (await inflight).json();
    assert.equal(answer.status, "COMPLETED");
    assert.deepEqual(answer.output, { finished: true });
    assert.equal(await push.child.exited, 0);
    assert.match(push.child.stdout, /Worker stopped cleanly\./);
  } finally {
    await gate.close();
  }
});

test("push mode: EDGEPOD_MODE=push with HOST and PORT, and /ping also on PORT_HEALTH", async () => {
  await using push = await startPush([], {
    EDGEPOD_MODE: "push",
    HOST: "127.0.0.1",
    PORT: "0",
    PORT_HEALTH: "0",
    FIXTURE_HANDLER: "echo",
  });
  const answer = await (await post(push.url, { input: { hello: "push" } })).json();
  assert.deepEqual(answer.output, { hello: "push" });
  assert.equal(answer.status, "COMPLETED");
  const health = push.child.stdout.match(/\/ping also on port (\d+)/)?.[1];
  assert.ok(health, "the ready line names the health port");
  assert.equal((await fetch(`http://127.0.0.1:${health}/ping`)).status, 200);
});

test("push mode: a failing fitness check refuses to serve and exits 1", async () => {
  const child = startChild(WORKER, ["--push", "--port", "0"], {
    env: { FIXTURE_HANDLER: "echo", FIXTURE_FITNESS: "fail" },
  });
  assert.equal(await child.exited, 1);
  assert.match(child.stdout, /Fitness check failed: gpuAvailable \| Error: no GPU found/);
  assert.doesNotMatch(child.stdout, /ready on http/, "nothing was served");
});

test("push mode: PORT_HEALTH equal to PORT serves /ping on that one port", async () => {
  const runtime = await currentRuntime();
  const probe = await runtime.serve(() => new Response(), { hostname: "127.0.0.1" });
  const port = String(probe.port); // a port that was free a moment ago
  await probe.close();
  await using push = await startPush([], {
    EDGEPOD_MODE: "push",
    PORT: port,
    PORT_HEALTH: port,
    FIXTURE_HANDLER: "echo",
  });
  assert.equal(push.url, `http://127.0.0.1:${port}`);
  assert.equal((await fetch(`${push.url}/ping`)).status, 200);
  assert.doesNotMatch(push.child.stdout, /\/ping also on port/);
});

test("push mode: a non-loopback address without auth is refused at start, naming the settings", async () => {
  const child = startChild(WORKER, ["--push", "--host", "0.0.0.0", "--port", "0"], {
    env: { FIXTURE_HANDLER: "echo" },
  });
  assert.equal(await child.exited, 1);
  assert.match(child.stdout, /Refusing to serve push mode on 0\.0\.0\.0 without auth/);
  assert.match(child.stdout, /EDGEPOD_PUSH_TOKENS/);
  assert.match(child.stdout, /EDGEPOD_PUSH_DANGEROUSLY_ALLOW_UNAUTHENTICATED/);
});

test("push mode: with EDGEPOD_PUSH_TOKENS a non-loopback bind starts and demands the token", async () => {
  await using push = await startPush(["--push", "--host", "0.0.0.0", "--port", "0"], {
    FIXTURE_HANDLER: "echo",
    EDGEPOD_PUSH_TOKENS: "rotating-old, rotating-new",
  });
  const local = push.url.replace("0.0.0.0", "127.0.0.1");
  assert.equal((await fetch(`${local}/ping`)).status, 200);
  assert.equal((await post(local, { input: 1 })).status, 401);
  const ok = await post(local, { input: 2 }, { authorization: "Bearer rotating-new" });
  assert.equal((await ok.json()).output, 2);
});

test("push mode: with OIDC settings a non-loopback bind starts and admits only a Pub/Sub ID token", async () => {
  await using issuer = await startOidcIssuer();
  const audience = "https://worker.example.com/jobs";
  const email = "pusher@project.iam.gserviceaccount.com";
  await using push = await startPush(["--push", "--host", "0.0.0.0", "--port", "0"], {
    FIXTURE_HANDLER: "echo",
    EDGEPOD_PUSH_OIDC_AUDIENCE: audience,
    EDGEPOD_PUSH_OIDC_EMAILS: email,
    EDGEPOD_PUSH_OIDC_JWKS_URL: issuer.jwksUrl,
  });
  const local = push.url.replace("0.0.0.0", "127.0.0.1");
  const now = Math.floor(Date.now() / 1000);
  const token = (claims: Record<string, unknown>) =>
    issuer.sign({
      aud: audience,
      email,
      email_verified: true,
      iss: "https://accounts.google.com",
      iat: now,
      exp: now + 3600,
      ...claims,
    });
  const envelope = { message: { data: btoa('{"input": 7}'), messageId: "m-1" }, subscription: "s" };
  assert.equal((await post(local, envelope)).status, 401);
  const other = await post(local, envelope, { authorization: `Bearer ${token({ aud: "x" })}` });
  assert.equal(other.status, 401);
  const ok = await post(local, envelope, { authorization: `Bearer ${token({})}` });
  assert.equal(ok.status, 200);
  const first = await ok.json();
  assert.equal(first.id, "m-1");
  assert.equal(first.status, "COMPLETED");
  assert.equal(first.output, 7);
  // Pub/Sub's redelivery of the same message gets the stored result.
  const again = await post(local, envelope, { authorization: `Bearer ${token({})}` });
  assert.deepEqual(await again.json(), first);
});

test("push mode: incomplete OIDC settings exit 1 naming the missing variable", async () => {
  const child = startChild(WORKER, ["--push", "--port", "0"], {
    env: { FIXTURE_HANDLER: "echo", EDGEPOD_PUSH_OIDC_AUDIENCE: "https://w.example.com/jobs" },
  });
  assert.equal(await child.exited, 1);
  assert.match(child.stdout, /Refusing to serve push mode: EDGEPOD_PUSH_OIDC_EMAILS must list/);
});

test("push mode: a webhook named by host is resolved first, and an allowed name gets the result", async () => {
  await using push = await startPush(["--push", "--port", "0"], { FIXTURE_HANDLER: "echo" });
  await using hook = await webhookReceiver();
  // `localhost` goes through the runner's resolver (on Deno: node:dns under --allow-net).
  await assertDelivered(push.url, `http://localhost:${hook.port}/hook`, hook);
});

test("push mode on Deno: a webhook host granted only with its port is still delivered to", {
  skip: runtimeName !== "deno" && `Deno's net permission only: skipped on ${runtimeName}`,
}, async () => {
  await using hook = await webhookReceiver();
  // Deno refuses to resolve `localhost` under this grant, though fetch may reach it.
  await using push = await startPush(["--push", "--port", "0"], { FIXTURE_HANDLER: "echo" }, [
    "--allow-env",
    "--allow-read",
    `--allow-net=127.0.0.1,localhost:${hook.port}`,
  ]);
  await assertDelivered(push.url, `http://localhost:${hook.port}/hook`, hook);
});

/** Submits a sync job with `webhook` and checks that the receiver got its answer's body. */
async function assertDelivered(url: string, webhook: string, hook: WebhookReceiver) {
  const ok = await post(url, { input: 7, webhook });
  assert.equal(ok.status, 200);
  assert.deepEqual(await hook.first, await ok.json());
}

test("push mode: a port in use is a clean error and exit 1, not a crash", async () => {
  const runtime = await currentRuntime();
  const taken = await runtime.serve(() => new Response("taken"), { hostname: "127.0.0.1" });
  try {
    const child = startChild(WORKER, ["--push", "--port", String(taken.port)], {
      env: { FIXTURE_HANDLER: "echo" },
    });
    assert.equal(await child.exited, 1);
    assert.match(child.stdout, /ERROR {2}\| Worker failed: .*(EADDRINUSE|in use)/);
    assert.doesNotMatch(child.stderr, /Unhandled 'error' event/);
  } finally {
    await taken.close();
  }
});

test("push mode: EDGEPOD_WEBHOOK_HOSTS limits where webhooks go; an invalid entry exits 1", async () => {
  await using push = await startPush(["--push", "--port", "0"], {
    FIXTURE_HANDLER: "echo",
    EDGEPOD_WEBHOOK_HOSTS: "127.0.0.1, .hooks.example",
  });
  const elsewhere = await post(push.url, { input: 1, webhook: "http://localhost:9/hook" });
  assert.equal(elsewhere.status, 400);
  assert.match(
    (await elsewhere.json()).error,
    /'webhook' "http:\/\/localhost:9\/hook" may not be called: its host "localhost" is not among the allowed webhook hosts \(127\.0\.0\.1, \.hooks\.example\)/,
  );
  const metadata = await post(push.url, { input: 1, webhook: "http://169.254.169.254/" });
  assert.equal(metadata.status, 400);
  // An allowed receiver gets the result.
  await using hook = await webhookReceiver();
  await assertDelivered(push.url, `http://127.0.0.1:${hook.port}/hook`, hook);
  const invalid = startChild(WORKER, ["--push", "--port", "0"], {
    env: { FIXTURE_HANDLER: "echo", EDGEPOD_WEBHOOK_HOSTS: "https://hooks.example" },
  });
  assert.equal(await invalid.exited, 1);
  assert.match(invalid.stdout, /EDGEPOD_WEBHOOK_HOSTS is invalid: a webhook host must be/);
});

test("push mode: an invalid EDGEPOD_PUSH_QUEUE or port exits 1 saying what was expected", async () => {
  const queue = startChild(WORKER, ["--push", "--port", "0"], {
    env: { FIXTURE_HANDLER: "echo", EDGEPOD_PUSH_QUEUE: "lots" },
  });
  assert.equal(await queue.exited, 1);
  assert.match(queue.stdout, /EDGEPOD_PUSH_QUEUE must be a non-negative integer: received lots/);
  const port = startChild(WORKER, ["--push"], { env: { FIXTURE_HANDLER: "echo", PORT: "99999" } });
  assert.equal(await port.exited, 1);
  assert.match(port.stdout, /push port must be an integer from 0 to 65535: received 99999/);
});
