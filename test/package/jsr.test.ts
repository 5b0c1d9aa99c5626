/**
 * The JSR side of the package: deno.json exports the TypeScript sources, and `deno publish
 * --dry-run` (which type-checks them and looks for slow types in the public API) passes without
 * network access to anything but what is cached.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { repoRoot } from "../support/runtime.ts";
import { BIN, run } from "./_support.ts";

test("jsr: deno publish --dry-run passes", async () => {
  const done = await run([BIN.deno, "publish", "--dry-run", "--allow-dirty"], {
    cwd: repoRoot,
    timeoutMs: 300_000,
  });
  assert.equal(done.code, 0, `${done.stdout.slice(-3000)}\n${done.stderr.slice(-3000)}`);
  assert.match(done.stdout + done.stderr, /Dry run complete/);
  // What JSR would get: the sources, not the tests, benchmarks or the compiled dist/.
  assert.match(done.stdout + done.stderr, /adapters\/auto\.ts/);
  assert.doesNotMatch(done.stdout + done.stderr, /file:\/\/\S+\/(test|bench|dist)\//);
});
