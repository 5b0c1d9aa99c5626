/**
 * What every pool test file shares: whether the Debian binaries it needs are on the PATH, and
 * one Redis (in a temporary folder) for the file's tests.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { type RedisService, startRedis } from "../../examples/bullmq-push/local_services.ts";

/**
 * A `skip` reason for `test()` when a binary is missing from the PATH.
 *
 * @param binaries The binaries the tests start (`redis-server`, `nginx`).
 * @returns `false` when all are there, else the reason naming the missing ones.
 *
 * @example
 * ```ts
 * import { skipWithout } from "./_pool_services.ts";
 * console.assert(skipWithout("sh") === false);
 * ```
 */
export function skipWithout(...binaries: string[]): string | false {
  const missing = binaries.filter((name) => !onPath(name));
  return missing.length > 0 ? `${missing.join(" and ")} not on the PATH` : false;
}

/** The file's temporary folder and Redis, set once its `before` hook has run. */
export interface FileServices {
  /** The temporary folder, removed after the file's tests. */
  readonly dir: string;
  /** The file's Redis. */
  readonly redis: RedisService;
}

/**
 * Registers `before`/`after` hooks that start a Redis in a new temporary folder for the file's
 * tests and stop it (and remove the folder) after them. Hooks the file registers before calling
 * this run before these; `after` hooks registered earlier run earlier too, so stop what uses
 * the folder in an `after` registered before this call.
 *
 * @param prefix The temporary folder's name prefix.
 * @param skip The file's skip reason: when set, nothing is started.
 * @returns The folder and Redis, readable from the hooks on.
 */
export function fileServices(prefix: string, skip: string | false): FileServices {
  let dir = "";
  let redis: RedisService | undefined;
  before(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), prefix));
    redis = await startRedis(join(dir, "redis"));
  });
  after(async () => {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get redis() {
      if (!redis) throw new Error("Redis is not started: use it from a test or a later hook");
      return redis;
    },
  };
}

function onPath(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
