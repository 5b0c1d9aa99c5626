/**
 * The nginx template with a real nginx and a push worker: what passes through it as sent.
 *
 * Needs `nginx` on the PATH, as the pool test does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  freePort,
  startNginx,
  startPushWorker,
} from "../../examples/bullmq-push/local_services.ts";
import { skipWithout } from "./_pool_services.ts";

const skip = skipWithout("nginx");

test(
  "a 2 MB job body passes nginx under a private prefix (mode 0700, as mkdtemp makes it)",
  { skip, timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgepod-pool-nginx-"));
    const port = await freePort();
    const worker = await startPushWorker({ runtime: "bun", port, logFile: join(dir, "w.log") });
    const nginx = await startNginx(join(dir, "nginx"), [`127.0.0.1:${port}`]);
    try {
      const body = JSON.stringify({ id: "big-1", input: { blob: "x".repeat(2_000_000) } });
      const response = await fetch(`${nginx.url}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const text = await response.text();
      assert.equal(response.status, 200, text.slice(0, 200));
      assert.equal(JSON.parse(text).status, "COMPLETED");
    } finally {
      await Promise.all([worker.stop(), nginx.stop("SIGQUIT")]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
