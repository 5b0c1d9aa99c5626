/**
 * The dispatcher's HTTP post (`examples/bullmq-push/post_json.ts`) against a pool host that froze:
 * a listener whose process is stopped (SIGSTOP) and whose accept queue is full, so the kernel drops
 * new connection attempts, as it does for a host that vanished. Such a post must fail soon, as not
 * sent (the job is deferred, not spent as an attempt), instead of waiting for the kernel.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import process from "node:process";
import { test } from "node:test";
import { NotSentError, postJson } from "../../examples/bullmq-push/post_json.ts";

/** A listener on 127.0.0.1 in a stopped process, its accept queue full. */
async function frozenListener(): Promise<AsyncDisposable & { port: number }> {
  const script = `const s = require("node:net").createServer().listen(` +
    `{ port: 0, host: "127.0.0.1", backlog: 1 }, () => console.log(s.address().port));`;
  const child: ChildProcess = spawn(process.execPath, ["-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (data: Buffer) => resolve(Number(String(data).trim())));
    child.once("exit", (code) => reject(new Error(`the listener exited with ${code}`)));
  });
  child.kill("SIGSTOP");
  // Backlog 1 (0 is Node's default of 511): two connections the stopped process never accepts
  // fill the queue, and the kernel drops the next attempts.
  const fillers = [net.connect(port, "127.0.0.1"), net.connect(port, "127.0.0.1")];
  await Promise.all(
    fillers.map((filler) =>
      new Promise<void>((resolve, reject) => filler.once("connect", resolve).once("error", reject))
    ),
  );
  return {
    port,
    async [Symbol.asyncDispose]() {
      for (const filler of fillers) filler.destroy();
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

test("postJson() to a host that takes no connection fails within connectTimeoutMs, as not sent", async () => {
  await using frozen = await frozenListener();
  const agent = new http.Agent({ keepAlive: true });
  try {
    const posting = postJson(new URL(`http://127.0.0.1:${frozen.port}/jobs`), "{}", {
      agent,
      connectTimeoutMs: 300,
      timeoutMs: 60_000,
    });
    await assert.rejects(posting, (error) => {
      assert.ok(error instanceof NotSentError, String(error));
      assert.equal(error.code, "ETIMEDOUT");
      return true;
    });
  } finally {
    agent.destroy();
  }
});

test("postJson() keeps the connect deadline off a connection that opened: a slow answer is not cut", async () => {
  let arrived!: (answer: () => void) => void;
  const request = new Promise<() => void>((resolve) => (arrived = resolve));
  const server = http.createServer((_request, response) => {
    // Answers only when the test says so, after the connect deadline has passed.
    arrived(() => response.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const agent = new http.Agent({ keepAlive: true });
  try {
    const { port } = server.address() as net.AddressInfo;
    const posting = postJson(new URL(`http://127.0.0.1:${port}/jobs`), "{}", {
      agent,
      connectTimeoutMs: 50,
    });
    const answer = await request; // the connection opened and the request arrived
    // Time passing is what is under test here: three connect deadlines, which must not fire.
    await new Promise((resolve) => setTimeout(resolve, 150));
    answer();
    assert.equal((await posting).status, 200);
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
