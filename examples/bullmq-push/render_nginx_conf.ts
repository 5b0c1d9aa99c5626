/**
 * Renders `nginx.conf.template` for a pool of push workers.
 *
 * As a command (prints the config):
 * `node --import tsx examples/bullmq-push/render_nginx_conf.ts --prefix /tmp/pool-nginx
 * --listen 127.0.0.1:8080 --server 127.0.0.1:8001 --server 127.0.0.1:8002 > /tmp/pool-nginx/nginx.conf`
 * (`--read-timeout 3600s` for jobs up to an hour; the default is 600s),
 * then `nginx -p /tmp/pool-nginx -c /tmp/pool-nginx/nginx.conf` (it stays in the foreground).
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Options for {@linkcode renderNginxConf}. */
export interface NginxConfOptions {
  /** nginx's prefix directory: pid, logs and temporary files go there (it must exist). */
  prefix: string;
  /** The `listen` address, e.g. `127.0.0.1:8080`. */
  listen: string;
  /** The workers, `host:port` each (at least one). */
  servers: readonly string[];
  /** The access log path, or `off`. @default "<prefix>/access.log" */
  accessLog?: string;
  /** Idle keep-alive connections to the workers. @default 64 */
  keepalive?: number;
  /** Workers tried per request (`proxy_next_upstream_tries`). @default servers.length */
  tries?: number;
  /** `proxy_read_timeout`: above the longest job. @default "600s" */
  readTimeout?: string;
}

const TEMPLATE = fileURLToPath(new URL("./nginx.conf.template", import.meta.url));
const ADDRESS = /^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/;

/**
 * Fills the template.
 *
 * @param options Where nginx listens, its workers and its directories.
 * @returns The nginx.conf text.
 * @throws {TypeError} When an address or path is malformed.
 * @throws {RangeError} When no server is given or a count is not a positive integer.
 *
 * @example
 * ```ts
 * import { renderNginxConf } from "./render_nginx_conf.ts";
 * const conf = renderNginxConf({ prefix: "/tmp/n", listen: "127.0.0.1:8080", servers: ["127.0.0.1:8001"] });
 * console.assert(conf.includes("server 127.0.0.1:8001 max_fails=0;"));
 * ```
 */
export function renderNginxConf(options: NginxConfOptions): string {
  const { prefix, listen, servers } = options;
  if (servers.length === 0) throw new RangeError("'servers' must list at least one worker");
  for (const address of [listen, ...servers]) {
    if (!ADDRESS.test(address)) {
      throw new TypeError(`Expected a host:port address: received ${JSON.stringify(address)}`);
    }
  }
  const paths = [prefix, options.accessLog ?? prefix];
  for (const path of paths) {
    if (!path.startsWith("/") || /[\s;{}'"]/.test(path)) {
      throw new TypeError(`Expected an absolute path without spaces or ;{}'": received ${path}`);
    }
  }
  const keepalive = options.keepalive ?? 64;
  const tries = options.tries ?? servers.length;
  for (const [name, value] of [["keepalive", keepalive], ["tries", tries]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`'${name}' must be a positive integer: received ${value}`);
    }
  }
  const readTimeout = options.readTimeout ?? "600s";
  if (!/^\d+(ms|s|m|h)?$/.test(readTimeout)) {
    throw new TypeError(
      `'readTimeout' must be an nginx time such as 600s: received ${readTimeout}`,
    );
  }
  const accessLog = options.accessLog === "off"
    ? "off"
    : `${options.accessLog ?? `${prefix}/access.log`} pool`;
  const values: Record<string, string> = {
    PREFIX: prefix,
    LISTEN: listen,
    SERVERS: servers.map((server) => `    server ${server} max_fails=0;`).join("\n"),
    ACCESS_LOG: accessLog,
    KEEPALIVE: String(keepalive),
    TRIES: String(tries),
    READ_TIMEOUT: readTimeout,
  };
  return readFileSync(TEMPLATE, "utf8").replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new TypeError(`The template names an unknown value {{${name}}}`);
    return value;
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const servers: string[] = [];
  let prefix = "";
  let listen = "127.0.0.1:8080";
  let readTimeout: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const value = args[++i] ?? "";
    if (args[i - 1] === "--prefix") prefix = value;
    else if (args[i - 1] === "--listen") listen = value;
    else if (args[i - 1] === "--server") servers.push(value);
    else if (args[i - 1] === "--read-timeout") readTimeout = value;
    else {throw new TypeError(
        `Unknown option ${args[i - 1]}: expected --prefix, --listen, --server, --read-timeout`,
      );}
  }
  process.stdout.write(renderNginxConf({ prefix, listen, servers, readTimeout }));
}
