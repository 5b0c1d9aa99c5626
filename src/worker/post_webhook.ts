/**
 * Delivering a finished job's status body to the `webhook` URL its submitter gave, with retries.
 *
 * @module
 */

import { abortable } from "../async/abortable.ts";
import { retry } from "../async/retry.ts";
import type { HttpClient } from "../http_client.ts";
import type { LookupHost } from "../runtime.ts";
import type { JobLogger } from "../types.ts";
import { resolvedWebhookRefusal } from "./webhook_target.ts";

/** Options for {@linkcode postWebhook}. */
export interface PostWebhookOptions {
  /** The HTTP client. */
  http: HttpClient;
  /** Where failures are logged. */
  log: JobLogger;
  /** Attempts in all. @default 5 */
  maxAttempts?: number;
  /** Each attempt's timeout, in ms. @default 10000 */
  timeoutMs?: number;
  /** The first retry's delay, in ms (doubling, with jitter, up to 30 s). @default 500 */
  minDelayMs?: number;
  /** Stops retrying (shutdown). */
  signal?: AbortSignal;
  /**
   * Resolves the URL's host name before each attempt, which is refused when it resolves to an
   * address the webhook rule refuses ({@linkcode resolvedWebhookRefusal}). @default none
   */
  lookupHost?: LookupHost;
  /** The normalised webhook host allowlist: when set, names are not resolved. @default [] */
  hosts?: readonly string[];
}

/** An answer worth another attempt: a 5xx, a 429, a 408, or a network failure. */
class RetryableAnswer extends Error {}

/**
 * POSTs `body` as JSON to `url`, retrying 5xx, 408, 429 and network errors with back-off. A
 * 2xx is delivery; another 4xx is final, and so is a 3xx: redirects are not followed, so a
 * receiver cannot send the worker to a host the submission could not name. With `lookupHost`,
 * each attempt first resolves the host name: a name that does not resolve is a network error,
 * and one that resolves to a refused address ends delivery. It never throws: it resolves to
 * whether the webhook took the body, and logs why not.
 *
 * @param url The webhook URL (http or https).
 * @param body The JSON body.
 * @param options Client, logger, attempts and timeouts.
 * @returns Whether the body was delivered.
 *
 * @example
 * ```ts ignore
 * const ok = await postWebhook("https://example.com/hook", '{"id":"j","status":"COMPLETED"}', {
 *   http: fetchClient,
 *   log,
 * });
 * ```
 */
export async function postWebhook(
  url: string,
  body: string,
  options: PostWebhookOptions,
): Promise<boolean> {
  const { http, log, signal, lookupHost } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    await retry(async () => {
      // One controller per attempt, fed by its timer and by `signal`, and unhooked after: Node
      // 20's AbortSignal.any() would keep every attempt alive as long as the worker's signal.
      const controller = new AbortController();
      const attempt = controller.signal;
      const timer = setTimeout(
        () => controller.abort(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError")),
        timeoutMs,
      );
      const stop = () => controller.abort(signal!.reason);
      signal?.addEventListener("abort", stop, { once: true });
      try {
        await attemptOnce(attempt);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", stop);
      }
    }, {
      maxAttempts: options.maxAttempts ?? 5,
      minDelay: options.minDelayMs ?? 500,
      maxDelay: 30_000,
      signal,
      shouldRetry: (error) => error instanceof RetryableAnswer,
    });
    return true;
  } catch (error) {
    log.error(
      `Webhook ${withoutCredentials(url)} did not take the result: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
    return false;
  }

  async function attemptOnce(attempt: AbortSignal): Promise<void> {
    if (lookupHost) {
      const check = resolvedWebhookRefusal(url, options.hosts ?? [], lookupHost);
      const refusal = await abortable(check, attempt).catch((error) => {
        throw new RetryableAnswer(`DNS lookup failed: ${String(error)}`);
      });
      if (refusal !== undefined) throw new Error(`refused: ${refusal}`);
    }
    const res = await http({
      method: "POST",
      url,
      headers: { "content-type": "application/json" },
      body,
      signal: attempt,
      redirect: "manual",
    }).catch((error) => {
      // Deno without net permission for the host: no later attempt would be allowed either.
      if ((error as Error)?.name === "NotCapable") throw new Error(`refused by Deno: ${error}`);
      throw new RetryableAnswer(`network error: ${String(error)}`);
    });
    if (res.status >= 200 && res.status < 300) return;
    const message = res.status >= 300 && res.status < 400
      ? `HTTP ${res.status}: a redirect (to ${
        res.header("location") ?? "nowhere"
      }), which webhooks do not follow`
      : `HTTP ${res.status}`;
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw new RetryableAnswer(message);
    }
    throw new Error(message);
  }
}

/** The URL with any `user:password@` blanked, for logs (webhook URLs may carry credentials). */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === "" && parsed.password === "") return url;
    parsed.username = "***";
    parsed.password = "";
    return parsed.href;
  } catch {
    return url;
  }
}
