/**
 * Starts the pool's parts on loopback, for the pool test, its benchmark and a local demo: Redis
 * (Debian's `redis-server`) and nginx on free ports with their config and data in a temporary
 * directory, and edgepod push workers on Bun, Deno or Node. Every process started here is a
 * {@linkcode Service}: its exit is observed, and {@linkcode Service.stop} signals and waits.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { renderNginxConf } from "./render_nginx_conf.ts";

/** The repository root. */
export const REPO: string = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(REPO, "node_modules", ".bin");
const HANDLER = join(REPO, "examples", "bullmq-push", "handler.ts");

/** A runtime a push worker runs on. */
export type PoolRuntime = "bun" | "deno" | "node";

/** A started process. */
export interface Service {
  /** What it is, for messages. */
  name: string;
  /** The process. */
  child: ChildProcess;
  /** Resolves with the exit code (or `128 + n` for a signal) when it exits. */
  exited: Promise<number>;
  /** Sends `signal` (default SIGTERM) unless it has exited, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

const SIGNALS: Record<string, number> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2 };

/**
 * Starts a process with its output in `logFile`.
 *
 * @param name For messages.
 * @param argv The executable and its arguments.
 * @param options The environment and log file.
 * @returns The service.
 *
 * @example
 * ```ts ignore
 * const sleeper = startService("sleep", ["sleep", "10"], { logFile: "/tmp/sleep.log" });
 * console.assert((await sleeper.stop()) === 128 + 15);
 * ```
 */
export function startService(
  name: string,
  argv: string[],
  options: { env?: Record<string, string>; logFile: string },
): Service {
  const out = openSync(options.logFile, "a");
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: REPO,
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, ...options.env },
    stdio: ["ignore", out, out],
  });
  let exitCode: number | undefined;
  const exited = new Promise<number>((resolve) => {
    child.once("error", () => resolve(exitCode = 127));
    child.once("exit", (code, signal) => {
      resolve(exitCode = code ?? 128 + (SIGNALS[signal ?? ""] ?? 1));
    });
  });
  return {
    name,
    child,
    exited,
    stop(signal = "SIGTERM") {
      if (exitCode === undefined) child.kill(signal);
      return exited;
    },
  };
}

/**
 * A free TCP port on 127.0.0.1 (bound, read, released: another process could take it between).
 *
 * @returns The port.
 *
 * @example
 * ```ts
 * import { freePort } from "./local_services.ts";
 * console.assert((await freePort()) > 0);
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("Could not read the bound port"));
      });
    });
  });
}

/**
 * Waits until `check` resolves true, polling every `intervalMs`, or the service exits, or the
 * deadline passes (both reject, saying which). For readiness only, never as synchronisation.
 *
 * @param what For the error message.
 * @param check Resolves `true` when ready; a rejection counts as not yet.
 * @param options The service to watch, the deadline (default 30 s) and the poll interval (25 ms).
 * @throws {Error} When the service exits or the deadline passes first.
 *
 * @example
 * ```ts
 * import { waitFor } from "./local_services.ts";
 * let n = 0;
 * await waitFor("three calls", async () => ++n === 3, { intervalMs: 1 });
 * console.assert(n === 3);
 * ```
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  options: { service?: Service; timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let exited: number | undefined;
  options.service?.exited.then((code) => (exited = code));
  for (;;) {
    if (exited !== undefined) throw new Error(`${what}: the process exited (${exited})`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready in time`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}

async function statusOf(url: string): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await response.body?.cancel();
  return response.status;
}

/** A started Redis. */
export interface RedisService extends Service {
  /** Its port on 127.0.0.1. */
  port: number;
}

/**
 * Starts `redis-server` on a free loopback port, without persistence, data in `dir`.
 *
 * @param dir A directory for its files.
 * @returns The running Redis (it answers PING).
 *
 * @example
 * ```ts ignore
 * const redis = await startRedis("/tmp/pool/redis");
 * console.assert(redis.port > 0);
 * await redis.stop();
 * ```
 */
export async function startRedis(dir: string): Promise<RedisService> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const service = startService("redis", [
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
  ], { logFile: join(dir, "redis.log") });
  await waitFor("redis-server", async () => {
    const { Socket } = await import("node:net");
    return await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString().startsWith("+PONG"));
      });
    });
  }, { service });
  return { ...service, port };
}

/** A started nginx. */
export interface NginxService extends Service {
  /** Its base URL. */
  url: string;
  /** Its access log (format `pool`: `$msec $status "$upstream_addr" "$upstream_status" ...`). */
  accessLog: string;
}

/**
 * Starts nginx in front of `servers` on a free loopback port, config and logs in `dir`.
 *
 * @param dir A directory for its prefix.
 * @param servers The workers, `host:port` each.
 * @param options `port`: the port to listen on (default a free one).
 * @returns The running nginx (it accepts connections).
 *
 * @example
 * ```ts ignore
 * const nginx = await startNginx("/tmp/pool/nginx", ["127.0.0.1:8001", "127.0.0.1:8002"]);
 * console.assert(nginx.url.startsWith("http://127.0.0.1:"));
 * await nginx.stop("SIGQUIT"); // graceful: finishes the requests it holds
 * ```
 */
export async function startNginx(
  dir: string,
  servers: string[],
  options: { port?: number } = {},
): Promise<NginxService> {
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? await freePort();
  const accessLog = join(dir, "access.log");
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, renderNginxConf({ prefix: dir, listen: `127.0.0.1:${port}`, servers }));
  const service = startService("nginx", [
    "nginx",
    "-p",
    dir,
    "-c",
    conf,
    "-e",
    join(dir, "error.log"),
  ], {
    logFile: join(dir, "nginx.out"),
  });
  const url = `http://127.0.0.1:${port}`;
  // Any HTTP answer means nginx listens (its workers may not be up yet: a 502 still proves it).
  await waitFor("nginx", async () => (await statusOf(`${url}/ping`)) > 0, { service });
  return { ...service, url, accessLog };
}

/** A started push worker. */
export interface PushWorkerService extends Service {
  /** Its runtime. */
  runtime: PoolRuntime;
  /** Its port on 127.0.0.1. */
  port: number;
  /** Its base URL. */
  url: string;
}

/** Options for {@linkcode startPushWorker}. */
export interface PushWorkerOptions {
  /** The runtime. */
  runtime: PoolRuntime;
  /** The port (the same one again to restart a worker behind nginx). */
  port: number;
  /** The ledger file. */
  ledger?: string;
  /** Its log file. */
  logFile: string;
  /** More environment (`POOL_CONCURRENCY`, `POOL_WORK_MS`, `EDGEPOD_PUSH_QUEUE`). @default {} */
  env?: Record<string, string>;
  /** Another handler file. @default examples/bullmq-push/handler.ts */
  handler?: string;
}

/**
 * The command line of a push worker.
 *
 * @param runtime The runtime.
 * @param handler The handler file.
 * @param port Its port.
 * @returns argv, executable first.
 *
 * @example
 * ```ts
 * import { pushWorkerCommand } from "./local_services.ts";
 * console.assert(pushWorkerCommand("bun", "h.ts", 8001).includes("--push"));
 * ```
 */
export function pushWorkerCommand(runtime: PoolRuntime, handler: string, port: number): string[] {
  const push = ["--push", "--host", "127.0.0.1", "--port", String(port)];
  switch (runtime) {
    case "bun":
      return [join(BIN, "bun"), handler, ...push];
    case "deno":
      return [
        join(BIN, "deno"),
        "run",
        "--allow-env",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "--allow-write",
        "--allow-sys",
        handler,
        ...push,
      ];
    case "node":
      return [process.execPath, "--import", "tsx", handler, ...push];
  }
}

/**
 * Starts a push worker and waits until its `/ping` answers 200.
 *
 * @param options Runtime, port, ledger and log.
 * @returns The ready worker.
 *
 * @example
 * ```ts ignore
 * const worker = await startPushWorker({ runtime: "deno", port: 8002, logFile: "/tmp/deno.log" });
 * console.assert((await worker.stop("SIGTERM")) === 0); // drained cleanly
 * ```
 */
export async function startPushWorker(options: PushWorkerOptions): Promise<PushWorkerService> {
  const { runtime, port } = options;
  const env: Record<string, string> = { ...options.env };
  if (options.ledger) env.EDGEPOD_LEDGER = options.ledger;
  const service = startService(
    `${runtime} worker :${port}`,
    pushWorkerCommand(runtime, options.handler ?? HANDLER, port),
    { env, logFile: options.logFile },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${service.name}`, async () => (await statusOf(`${url}/ping`)) === 200, {
    service,
  });
  return { ...service, runtime, port, url };
}
