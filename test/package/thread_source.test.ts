/**
 * The heartbeat thread's source string is the build's output of src/pull/heartbeat_thread.ts:
 * regenerated here and compared with the committed file, and checked to be a plain script the
 * runtimes can start without a file system.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { HEARTBEAT_THREAD_SOURCE } from "../../src/pull/heartbeat_thread_source.ts";
import { repoRoot } from "../support/runtime.ts";
import { BIN, run } from "./_support.ts";

test("thread source: src/pull/heartbeat_thread_source.ts is what the build generates now", async () => {
  const done = await run([BIN.node, "scripts/thread_source.mjs", "--check"], { cwd: repoRoot });
  assert.equal(done.code, 0, done.stderr);
});

test("thread source: a plain script declaring threadMain, with no imports or compiler helpers", () => {
  assert.match(HEARTBEAT_THREAD_SOURCE, /^var threadMain = /m);
  assert.doesNotMatch(HEARTBEAT_THREAD_SOURCE, /^\s*(import|export)\b/m);
  assert.doesNotMatch(HEARTBEAT_THREAD_SOURCE, /\bimport\s*\(|\brequire\s*\(/);
  assert.doesNotMatch(HEARTBEAT_THREAD_SOURCE, /__name\b/, "tsx's keepNames helper leaked in");
  assert.doesNotMatch(HEARTBEAT_THREAD_SOURCE, /\b(Deno|Bun|process)\./);
  // It parses as a script (a syntax error would only show in the thread, as a missing heartbeat).
  assert.doesNotThrow(() => new Function(HEARTBEAT_THREAD_SOURCE));
});
