/**
 * Push mode: serves the push app through the runtime's own server until SIGTERM, then drains.
 *
 * @module
 */

import type { Server } from "../runtime.ts";
import { passesFitnessChecks } from "../worker/fitness_checks.ts";
import { JobWorker, REPORT_GRACE_MS } from "../worker/job_worker.ts";
import { parseWebhookHosts } from "../worker/webhook_target.ts";
import type { WorkerSetup } from "../worker/worker_setup.ts";
import { pushAppFor } from "./create_push_app.ts";
import { hasPushAuth, pushAuthFromEnv, type PushAuthOptions } from "./push_auth.ts";

/** The opt-out that lets push mode listen beyond loopback with no auth. Loud on purpose. */
export const UNAUTHENTICATED_OPT_OUT = "EDGEPOD_PUSH_DANGEROUSLY_ALLOW_UNAUTHENTICATED";

/** The default push port when neither `--port` nor `PORT` is set. */
export const DEFAULT_PUSH_PORT = 8080;

/**
 * Runs push mode: listens on `--host`/`--port` (else `HOST`/`PORT`, else 127.0.0.1:8080),
 * serves `/ping` on `PORT_HEALTH` too when set, and on SIGTERM answers 503 to new work, lets
 * running jobs finish within the drain deadline and exits.
 *
 * @param setup The validated configuration, runtime, logger, identity and flags.
 * @returns The exit code: 0 after a clean drain, 1 when jobs had to be aborted or the
 * configuration was refused.
 *
 * @example
 * ```ts ignore
 * const code = await runPushServer(setup);
 * ```
 */
export async function runPushServer(setup: WorkerSetup): Promise<number> {
  const { runtime, logger, config, cli, info } = setup;
  const env = (name: string) => runtime.env(name);
  const settings = readListen(cli.host ?? env("HOST"), cli.port ?? env("PORT"), env("PORT_HEALTH"));
  if (typeof settings === "string") {
    logger.error(settings);
    return 1;
  }
  const queue = env("EDGEPOD_PUSH_QUEUE");
  const queueLimit = queue === undefined || queue === "" ? config.queueSize : Number(queue);
  if (queueLimit !== undefined && !(Number.isInteger(queueLimit) && queueLimit >= 0)) {
    logger.error(`EDGEPOD_PUSH_QUEUE must be a non-negative integer: received ${queue}`);
    return 1;
  }
  let webhookHosts: string[] | undefined;
  try {
    webhookHosts = parseWebhookHosts(env("EDGEPOD_WEBHOOK_HOSTS"));
  } catch (error) {
    logger.error(`EDGEPOD_WEBHOOK_HOSTS is invalid: ${(error as Error).message}`);
    return 1;
  }
  let auth: PushAuthOptions;
  try {
    auth = pushAuthFromEnv(env);
  } catch (error) {
    logger.error(`Refusing to serve push mode: ${(error as Error).message}`);
    return 1;
  }
  if (!hasPushAuth(auth) && !isLoopback(settings.hostname)) {
    const optedOut = config.push.dangerouslyAllowUnauthenticated ||
      env(UNAUTHENTICATED_OPT_OUT) === "1";
    if (!optedOut) {
      logger.error(
        `Refusing to serve push mode on ${settings.hostname} without auth: set EDGEPOD_PUSH_TOKENS, EDGEPOD_PUSH_HMAC_KEYS, QSTASH_CURRENT_SIGNING_KEY or EDGEPOD_PUSH_OIDC_AUDIENCE with EDGEPOD_PUSH_OIDC_EMAILS, listen on 127.0.0.1, or set ${UNAUTHENTICATED_OPT_OUT}=1 to accept jobs from anyone who can reach this address`,
      );
      return 1;
    }
    logger.warn(
      `PUSH MODE IS OPEN: anyone who can reach ${settings.hostname}:${settings.port} can run jobs (${UNAUTHENTICATED_OPT_OUT})`,
    );
  }
  // Before anything is served, as the pull worker checks before its first ping.
  if (!(await passesFitnessChecks(logger))) return 1;
  const served = webhookHosts ? { ...config, push: { ...config.push, webhookHosts } } : config;
  const worker = new JobWorker({ config: served, logger, info, queueLimit });
  const push = pushAppFor({
    worker,
    config: served,
    logger,
    http: runtime.http,
    lookupHost: runtime.lookupHost,
    auth,
    started: true,
  });
  const unlisten = worker.listen((signal, listener) => runtime.onSignal(signal, listener));
  const servers: Server[] = [];
  try {
    servers.push(await runtime.serve(push.fetch, settings));
    // PORT_HEALTH equal to PORT (as RunPod's load balancer may set them): /ping is there already.
    if (settings.healthPort !== undefined && settings.healthPort !== servers[0]!.port) {
      servers.push(
        await runtime.serve(
          (request) =>
            new URL(request.url).pathname === "/ping"
              ? push.fetch(request)
              : new Response(null, { status: 404 }),
          { hostname: settings.hostname, port: settings.healthPort },
        ),
      );
    }
    const limit = await worker.start();
    logger.info(
      `Push worker ${info.workerId} ready on http://${servers[0]!.hostname}:${servers[0]!.port}${
        servers[1] ? ` (/ping also on port ${servers[1].port})` : ""
      }: concurrency ${limit}, wait queue ${worker.queueLimit}, auth ${
        hasPushAuth(auth) ? "on" : "off (loopback)"
      }.`,
    );
    await worker.stopped;
    const clean = await worker.drain();
    // Jobs are done; their answers may still be on the wire.
    await Promise.all(servers.map((server) => server.close({ graceMs: REPORT_GRACE_MS })));
    logger.info(
      clean ? "Worker stopped cleanly." : "Worker stopped; unfinished jobs were reported FAILED.",
    );
    return clean ? 0 : 1;
  } finally {
    unlisten();
    await Promise.all(servers.map((server) => server.close({ graceMs: 0 }).catch(() => {})));
  }
}

interface Listen {
  hostname: string;
  port: number;
  healthPort?: number;
}

function readListen(
  host: string | undefined,
  port: string | number | undefined,
  health: string | undefined,
): Listen | string {
  const hostname = host || "127.0.0.1";
  const parsed = port === undefined || port === "" ? DEFAULT_PUSH_PORT : Number(port);
  if (!isPort(parsed)) return `The push port must be an integer from 0 to 65535: received ${port}`;
  if (health === undefined || health === "") return { hostname, port: parsed };
  const healthPort = Number(health);
  if (!isPort(healthPort)) {
    return `PORT_HEALTH must be an integer from 0 to 65535: received ${health}`;
  }
  return { hostname, port: parsed, healthPort };
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 65535;
}

/**
 * Whether a listen address is reachable only from this machine.
 *
 * @param hostname The address.
 * @returns `true` for 127.0.0.0/8, `::1` and `localhost`.
 *
 * @example
 * ```ts
 * import { isLoopback } from "./run_push_server.ts";
 * console.assert(isLoopback("127.0.0.1") && !isLoopback("0.0.0.0"));
 * ```
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}
