// The playground page in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core), against the dev API served on loopback. Runs under Node: playwright-core
// drives the browser through Node's child-process and pipe APIs, which it does not support on
// Deno or Bun, so there it is skipped, saying so.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import process from "node:process";
import { test } from "node:test";
import { deferred } from "../src/async/deferred.ts";
import { createDevApp } from "../src/dev_api/create_dev_app.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import type { Handler } from "../src/types.ts";
import { currentRuntime, runtimeName } from "./support/runtime.ts";

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
].filter((path): path is string => Boolean(path));
const chromiumPath = CANDIDATES.find((path) => existsSync(path));

const skip = runtimeName !== "node"
  ? `playground browser test skipped on ${runtimeName}: playwright-core drives Chromium from Node only`
  : chromiumPath === undefined
  ? `playground browser test skipped: no chromium binary found (apt-get install -y chromium, or set CHROMIUM_PATH)`
  : false;
if (skip) console.log(skip);

test(
  "dev API playground: a streamed job's chunks appear live and it ends COMPLETED; cancel shows CANCELLED",
  {
    skip,
  },
  async () => {
    const { chromium } = await import("playwright-core");
    const runtime = await currentRuntime();
    const produce = [deferred<void>(), deferred<void>(), deferred<void>()];
    const handler: Handler = async function* (job, ctx) {
      const kind = (job.input as { kind?: string }).kind;
      if (kind === "long") {
        await new Promise((_, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true })
        );
      }
      for (let i = 0; i < produce.length; i++) {
        await produce[i]!.promise; // the test releases each chunk once the page shows the last
        yield { word: `w${i}` };
      }
    };
    const dev = createDevApp({
      handler,
      logger: new RunPodLogger({ level: "ERROR", write: () => {} }),
    });
    const server = await runtime.serve(dev.fetch, { hostname: "127.0.0.1", port: 0 });
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${server.port}/`);
      await page.fill("#input", '{"kind": "stream"}');
      await page.click("#run");
      for (let i = 0; i < produce.length; i++) {
        produce[i]!.resolve();
        await page.locator("#chunks li").nth(i).waitFor();
        assert.equal(
          await page.locator("#chunks li").count(),
          i + 1,
          "chunks appear one at a time",
        );
      }
      assert.deepEqual(await page.locator("#chunks li").allTextContents(), [
        '{"word":"w0"}',
        '{"word":"w1"}',
        '{"word":"w2"}',
      ]);
      await page.locator('#status[data-status="COMPLETED"]').waitFor();
      assert.match(await page.locator("#result").textContent() ?? "", /"status": "COMPLETED"/);

      await page.fill("#input", '{"input": {"kind": "long"}}');
      await page.click("#runsync");
      await page.locator('#status[data-status="IN_PROGRESS"]').waitFor();
      await page.click("#cancel");
      await page.locator('#status[data-status="CANCELLED"]').waitFor();
      assert.equal(await page.locator("#status").textContent(), "CANCELLED");
      assert.equal(await page.locator("#message").textContent(), "");

      // Cancel pressed while a runsync has no answer (so no id) yet: the job is cancelled once
      // the answer names it.
      await page.click("#runsync");
      await page.locator('#status[data-status="SUBMITTING"]').waitFor();
      await page.click("#cancel");
      await page.locator('#status[data-status="CANCELLED"]').waitFor();
      const id = await page.locator("#job-id").textContent();
      const status = await (await fetch(`http://127.0.0.1:${server.port}/status/${id}`)).json();
      assert.equal(status.status, "CANCELLED");

      await page.fill("#input", "{oops");
      await page.click("#run");
      assert.match(await page.locator("#message").textContent() ?? "", /not valid JSON/);
    } finally {
      await browser.close();
      dev.worker.stop("test over");
      dev.worker.abortAll("test over");
      await server.close();
    }
  },
);
