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
/** How many characters of chunk JSON the replay keeps at most (the newest chunk always). */
export const REPLAY_CHARS = 4 * 1024 * 1024;

/** How many chunks a later watcher may lag behind before it is cut off. */
const MAX_LAG = 4096;
/**
 * How many characters a later watcher may hold unread before it is cut off: a replay, and as
 * much again (a chunk it has room for is always taken: a reader that keeps up is never cut
 * off). Bounds its memory, and keeps the joined text far below the engines' string limit.
 */
export const MAX_LAG_CHARS = 2 * REPLAY_CHARS + 1024 * 1024;
/** The first watcher's unread chunks (and characters) past which the handler waits for it. */
const PACE_CHUNKS = 64;
const PACE_CHARS = 64 * 1024;

const encoder = new TextEncoder();

interface Watcher {
  controller: ReadableStreamDefaultController<Uint8Array>;
  format: FeedFormat;
  /** Events written since the consumer last pulled: sent as one encoded chunk at its next pull. */
  pending: string;
  /** How many chunks `pending` holds. */
  lag: number;
  /** The consumer pulled and got nothing: the next event goes out at once. */
  wanting: boolean;
  /** The final event is in `pending`: the stream closes once it is sent. */
  ending: boolean;
  /** Resolves when the consumer pulls (the first watcher only: it paces the handler). */
  pulled?: ReturnType<typeof deferred<void>>;
}

/**
 * Fans a job's chunks out to watchers. Events a watcher has not pulled yet are joined and sent
 * as one chunk at its next pull, so a client (or server) that reads more slowly than the handler
 * yields gets fewer, larger writes instead of one per event. The handler's writes wait while the
 * first watcher is {@linkcode PACE_CHUNKS} chunks or {@linkcode PACE_CHARS} characters behind
 * (an SSE client reading slowly slows the generator); later watchers get a replay of the last
 * {@linkcode REPLAY_CHUNKS} chunks ({@linkcode REPLAY_CHARS} characters at most) and are cut off
 * when they fall {@linkcode MAX_LAG_CHARS} characters or 4,096 chunks behind. With no watcher left
 * (clients gone), writes do not wait and the job runs to its stored result.
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
  /** The kept chunks' JSON, oldest first from `#oldest` (the array is compacted now and then). */
  #history: string[] = [];
  #oldest = 0;
  /** The characters held by the kept chunks. */
  #historyChars = 0;
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
      write: (chunk) => {
        const json = strictStringify({ output: chunk });
        this.#remember(json);
        const watchers = this.#watchers;
        if (watchers.length === 1) this.#send(watchers[0]!, chunkEvent(json, watchers[0]!.format));
        else {
          for (const watcher of [...watchers]) {
            this.#send(watcher, chunkEvent(json, watcher.format));
          }
        }
        const first = watchers[0];
        if (first && (first.lag >= PACE_CHUNKS || first.pending.length >= PACE_CHARS)) {
          first.pulled ??= deferred<void>();
          return first.pulled.promise;
        }
      },
    }, { highWaterMark: 1 });
  }

  /**
   * A response body that replays the kept chunks, then follows the stream to its final event.
   *
   * @param format SSE events or JSON lines.
   * @returns The body.
   */
  watch(format: FeedFormat): ReadableStream<Uint8Array> {
    let watcher!: Watcher;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        let replay = "";
        const history = this.#history;
        for (let i = this.#oldest; i < history.length; i++) {
          replay += chunkEvent(history[i]!, format);
        }
        watcher = { controller, format, pending: replay, lag: 0, wanting: false, ending: false };
        if (this.#final !== undefined) {
          watcher.pending += finalEvent(this.#final, format);
          watcher.ending = true;
        } else this.#watchers.push(watcher);
      },
      pull: () => {
        if (watcher.pending === "") watcher.wanting = true;
        else this.#flush(watcher);
        const pulled = watcher.pulled;
        watcher.pulled = undefined;
        pulled?.resolve();
      },
      cancel: () => this.#drop(watcher),
    }, { highWaterMark: 0 });
  }

  /**
   * Ends every watcher's stream with the final status body, and answers later watchers with
   * the replay and that body.
   *
   * @param statusBody The job's final status body (JSON).
   */
  end(statusBody: string): void {
    this.#final = statusBody;
    for (const watcher of this.#watchers.splice(0)) {
      watcher.pending += finalEvent(statusBody, watcher.format);
      watcher.ending = true;
      if (watcher.wanting) this.#flush(watcher);
      watcher.pulled?.resolve();
    }
  }

  #remember(json: string): void {
    const history = this.#history;
    history.push(json);
    this.#historyChars += json.length;
    while (
      history.length - this.#oldest > REPLAY_CHUNKS ||
      (this.#historyChars > REPLAY_CHARS && history.length - this.#oldest > 1)
    ) {
      this.#historyChars -= history[this.#oldest]!.length;
      history[this.#oldest++] = ""; // released now, not at the next compaction
    }
    if (this.#oldest >= REPLAY_CHUNKS) {
      this.#history = history.slice(this.#oldest);
      this.#oldest = 0;
    }
  }

  #send(watcher: Watcher, text: string): void {
    if (
      watcher !== this.#watchers[0] &&
      (watcher.lag >= MAX_LAG ||
        (watcher.pending !== "" && watcher.pending.length + text.length > MAX_LAG_CHARS))
    ) {
      this.#fail(watcher, new RangeError("fell too far behind the stream"));
      return;
    }
    watcher.pending += text;
    watcher.lag++;
    if (watcher.wanting) this.#flush(watcher);
  }

  /** Sends what the watcher has not had yet as one chunk (and closes it after the final event). */
  #flush(watcher: Watcher): void {
    const text = watcher.pending;
    watcher.pending = "";
    watcher.lag = 0;
    watcher.wanting = false;
    try {
      watcher.controller.enqueue(encoder.encode(text));
      if (watcher.ending) watcher.controller.close();
    } catch (error) {
      this.#fail(watcher, error); // the client cancelled meanwhile
    }
  }

  #fail(watcher: Watcher, error: unknown): void {
    try {
      watcher.controller.error(error);
    } catch { /* already closed */ }
    this.#drop(watcher);
  }

  #drop(watcher: Watcher): void {
    watcher.pending = "";
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
