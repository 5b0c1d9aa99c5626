/**
 * One streaming job's chunks, fanned out to the HTTP responses that watch it (SSE or NDJSON),
 * with backpressure from the first watcher to the handler and a bounded replay for the rest.
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";
import { strictStringify } from "../job_result.ts";

/** A streamed response's format. */
export type FeedFormat = "sse" | "ndjson";

/** How many chunks are kept for watchers that attach later (a redelivered id). */
export const REPLAY_CHUNKS = 1024;

/** How many encoded chunks a later watcher may lag behind before it is cut off. */
const MAX_LAG = 4096;

const encoder = new TextEncoder();

interface Watcher {
  controller: ReadableStreamDefaultController<Uint8Array>;
  format: FeedFormat;
  /** Resolves when the consumer pulls (the first watcher only: it paces the handler). */
  pulled?: ReturnType<typeof deferred<void>>;
}

/**
 * Fans a job's chunks out to watchers. The handler's writes wait while the first watcher's
 * buffer is full (an SSE client reading slowly slows the generator); later watchers get a replay
 * of the last {@linkcode REPLAY_CHUNKS} chunks and are cut off if they fall far behind. With no
 * watcher left (clients gone), writes do not wait and the job runs to its stored result.
 *
 * @example
 * ```ts
 * import { ChunkFeed } from "./chunk_feed.ts";
 * const feed = new ChunkFeed();
 * const body = feed.watch("ndjson");
 * const writer = feed.sink().getWriter();
 * const reading = new Response(body).text();
 * await writer.write("a");
 * await writer.close();
 * feed.end('{"id":"j","status":"COMPLETED"}');
 * console.assert((await reading) === '{"output":"a"}\n{"id":"j","status":"COMPLETED"}\n');
 * ```
 */
export class ChunkFeed {
  readonly #watchers: Watcher[] = [];
  readonly #history: string[] = [];
  #final?: string;

  /** Watchers attached now. */
  get watchers(): number {
    return this.#watchers.length;
  }

  /**
   * Where the job's chunks go (`executeJob`'s sink). A chunk that JSON cannot carry fails the
   * write, and so the job, naming the problem.
   *
   * @returns A writable stream with a one-chunk buffer.
   */
  sink(): WritableStream<unknown> {
    return new WritableStream<unknown>({
      write: async (chunk) => {
        const json = strictStringify({ output: chunk });
        this.#history.push(json);
        if (this.#history.length > REPLAY_CHUNKS) this.#history.shift();
        for (const watcher of [...this.#watchers]) {
          this.#send(watcher, chunkEvent(json, watcher.format));
        }
        const first = this.#watchers[0];
        if (first && first.controller.desiredSize! <= 0) {
          first.pulled ??= deferred<void>();
          await first.pulled.promise;
        }
      },
    }, { highWaterMark: 1 });
  }

  /**
   * A response body that replays the chunks so far, then follows the job to its final event.
   *
   * @param format SSE events or NDJSON lines.
   * @returns The body.
   */
  watch(format: FeedFormat): ReadableStream<Uint8Array> {
    let watcher!: Watcher;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        watcher = { controller, format };
        for (const json of this.#history) {
          controller.enqueue(encoder.encode(chunkEvent(json, format)));
        }
        if (this.#final !== undefined) {
          controller.enqueue(encoder.encode(finalEvent(this.#final, format)));
          controller.close();
        } else this.#watchers.push(watcher);
      },
      pull: () => {
        const pulled = watcher.pulled;
        watcher.pulled = undefined;
        pulled?.resolve();
      },
      cancel: () => this.#drop(watcher),
    }, { highWaterMark: 8 });
  }

  /**
   * Sends the final status body to every watcher and closes them.
   *
   * @param statusBody The job's final status, as JSON.
   */
  end(statusBody: string): void {
    this.#final = statusBody;
    for (const watcher of this.#watchers.splice(0)) {
      this.#send(watcher, finalEvent(statusBody, watcher.format));
      try {
        watcher.controller.close();
      } catch { /* already cancelled */ }
      watcher.pulled?.resolve();
    }
  }

  #send(watcher: Watcher, text: string): void {
    try {
      if (watcher !== this.#watchers[0] && watcher.controller.desiredSize! < -MAX_LAG) {
        throw new RangeError("fell too far behind the stream");
      }
      watcher.controller.enqueue(encoder.encode(text));
    } catch (error) {
      try {
        watcher.controller.error(error);
      } catch { /* already closed */ }
      this.#drop(watcher);
    }
  }

  #drop(watcher: Watcher): void {
    const at = this.#watchers.indexOf(watcher);
    if (at >= 0) this.#watchers.splice(at, 1);
    // The pacing watcher left: the handler must not wait on it.
    watcher.pulled?.resolve();
    const next = this.#watchers[0];
    if (at === 0 && next) next.pulled?.resolve();
  }
}

function chunkEvent(json: string, format: FeedFormat): string {
  return format === "sse" ? `event: chunk\ndata: ${json}\n\n` : `${json}\n`;
}

function finalEvent(statusBody: string, format: FeedFormat): string {
  return format === "sse" ? `event: result\ndata: ${statusBody}\n\n` : `${statusBody}\n`;
}
