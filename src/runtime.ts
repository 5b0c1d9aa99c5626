/**
 * The runtime contract: the few capabilities edgepod needs from Node, Deno or Bun. The core only
 * ever talks to a `Runtime`; `adapters/node.ts`, `adapters/deno.ts` and `adapters/bun.ts` each
 * implement it in well under a hundred lines.
 *
 * @module
 */

import type { HttpClient } from "./http_client.ts";

/**
 * Resolves a host name to its IP addresses (`["127.0.0.1", "::1"]`); rejects when the name does
 * not resolve. `undefined` means the runtime may not resolve it (Deno with net permission for
 * `host:port` only): the name is then judged as written, and the runtime's own net permission
 * is what limits where the request can go.
 *
 * @example
 * ```ts
 * import type { LookupHost } from "./runtime.ts";
 * const fixed: LookupHost = (name) =>
 *   Promise.resolve(name === "localhost" ? ["127.0.0.1"] : []);
 * console.assert((await fixed("localhost"))?.[0] === "127.0.0.1");
 * ```
 */
export type LookupHost = (hostname: string) => Promise<readonly string[] | undefined>;

/** A request handler in the Web `fetch` shape, as Hono's `app.fetch`. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Options for {@linkcode Runtime.serve}. */
export interface ServeOptions {
  /** The interface to bind. @default "127.0.0.1" */
  hostname?: string;
  /** The port; `0` picks a free one. @default 0 */
  port?: number;
}

/** A running HTTP server. */
export interface Server {
  /** The bound hostname. */
  readonly hostname: string;
  /** The bound port (the real one when `0` was asked for). */
  readonly port: number;
  /**
   * Stops listening and closes open connections. With `graceMs`, responses in flight may finish
   * for up to that long first (idle keep-alive connections close at once); it resolves by then
   * even where a runtime cannot force a connection shut (Deno: what is left no longer keeps the
   * process alive).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** The parent's end of a background thread started by {@linkcode Runtime.startThread}. */
export interface ThreadHandle {
  /** Sends a structured-clonable message to the thread. */
  postMessage(message: unknown): void;
  /** Receives the thread's messages. */
  onMessage(listener: (message: unknown) => void): void;
  /** Receives an error the thread did not handle (the thread has ended). */
  onError(listener: (error: unknown) => void): void;
  /** Stops the thread at once. */
  terminate(): Promise<void>;
}

/** The thread's end of the channel, passed to the module's `threadMain`. */
export interface ThreadPort {
  /** Sends a structured-clonable message to the parent. */
  postMessage(message: unknown): void;
  /** Receives the parent's messages. */
  onMessage(listener: (message: unknown) => void): void;
  /** Ends the thread (its event loop stops). */
  close(): void;
}

/**
 * The entry point of a thread started by {@linkcode Runtime.startThread}: the thread's source
 * declares `threadMain(data, port)`, which is called once with the data.
 */
export type ThreadMain = (data: unknown, port: ThreadPort) => void | Promise<void>;

/** The signals edgepod reacts to. */
export type ShutdownSignal = "SIGTERM" | "SIGINT";

/**
 * What a runtime adapter provides.
 *
 * @example A runtime used by the core
 * ```ts
 * import type { Runtime } from "./runtime.ts";
 * function describe(rt: Runtime): string {
 *   return `${rt.name} ${rt.version}, pod ${rt.env("RUNPOD_POD_ID") ?? "unknown"}`;
 * }
 * ```
 */
export interface Runtime {
  /** Which runtime this is. */
  readonly name: "node" | "deno" | "bun";
  /** The runtime's version, e.g. `20.20.2`. */
  readonly version: string;
  /** The command-line arguments after the script path. */
  readonly args: readonly string[];
  /** Reads an environment variable; `undefined` when unset or not permitted. */
  env(name: string): string | undefined;
  /** Reads a UTF-8 text file (relative paths from the working directory); `undefined` if absent. */
  readTextFile(path: string): Promise<string | undefined>;
  /** Writes already formatted text to standard output. */
  writeStdout(text: string): void;
  /** Calls `listener` on the signal; returns a function that removes it. */
  onSignal(signal: ShutdownSignal, listener: () => void): () => void;
  /** Ends the process with `code`. */
  exit(code: number): never;
  /** Serves `handler` over HTTP. */
  serve(handler: FetchHandler, options?: ServeOptions): Promise<Server>;
  /**
   * Runs `source` in a background thread (Node `worker_threads` with `eval`, a Web `Worker` from a
   * `data:` URL on Deno and Bun) and calls the {@linkcode ThreadMain} it declares with `data`.
   * `source` is plain JavaScript, a script with no `import` or `export` that declares a
   * top-level `threadMain`. Nothing is read from the file system, so the thread needs no read
   * permission on Deno and works inside a `bun build --compile` binary. `data` must be
   * structured-clonable; a `SharedArrayBuffer` in it is shared, not copied.
   */
  startThread(source: string, data: unknown): ThreadHandle;
  /** The HTTP client the worker should use; the adapter may supply one faster than `fetch`. */
  readonly http: HttpClient;
  /**
   * Resolves a host name to its addresses as the HTTP client will (`getaddrinfo`, so
   * `/etc/hosts` counts), for the webhook rule. Absent where the platform has no resolver
   * (workerd); Deno needs net permission for the name.
   */
  readonly lookupHost?: LookupHost;
  /** The process's resident memory in bytes, for metrics and benchmarks. */
  residentMemory(): number;
}
