/**
 * One job's streamed chunks as the dev API's `/stream` hands them out: each chunk once, in order,
 * to whichever long-poll reads next.
 *
 * @module
 */

import { deferred } from "../async/deferred.ts";
import { strictStringify } from "../job_result.ts";

/** Options for {@linkcode StreamBuffer}. */
export interface StreamBufferOptions {
  /** Unread chunks held before the handler's writes wait for a reader. @default 4096 */
  maxChunks?: number;
  /** Unread bytes (of encoded chunks) held before the handler's writes wait. @default 16 MiB */
  maxBytes?: number;
}

/**
 * The chunks a streaming handler wrote and no `/stream` call has read yet, encoded once as
 * `{"output": chunk}` JSON. Past its bounds the handler's next write waits until a reader takes
 * them (backpressure, nothing dropped); {@linkcode StreamBuffer.wait} is the long-poll.
 *
 * @example
 * ```ts
 * import { StreamBuffer } from "./stream_buffer.ts";
 * const buffer = new StreamBuffer();
 * const writer = buffer.sink().getWriter();
 * await writer.write("a");
 * await writer.write({ b: 1 });
 * console.assert(buffer.take().join(",") === '{"output":"a"},{"output":{"b":1}}');
 * console.assert(buffer.take().length === 0); // each chunk is read once
 * ```
 */
export class StreamBuffer {
  readonly #maxChunks: number;
  readonly #maxBytes: number;
  #pending: string[] = [];
  #bytes = 0;
  #total = 0;
  #ended = false;
  /** Made by the first waiting long-poll: most jobs never have one. */
  #arrived?: ReturnType<typeof deferred<void>>;
  #space?: ReturnType<typeof deferred<void>>;

  /**
   * @param options Bounds on unread chunks.
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(options: StreamBufferOptions = {}) {
    this.#maxChunks = positive(options.maxChunks ?? 4096, "maxChunks");
    this.#maxBytes = positive(options.maxBytes ?? 16 * 1024 * 1024, "maxBytes");
  }

  /** Unread chunks. */
  get size(): number {
    return this.#pending.length;
  }

  /** Bytes of chunks written so far, read or not (for the result store's accounting). */
  get totalBytes(): number {
    return this.#total;
  }

  /**
   * Where the job's chunks go (`submit`'s sink). A chunk JSON cannot carry fails the write, and
   * so the job, naming the problem.
   *
   * @returns A writable stream.
   */
  sink(): WritableStream<unknown> {
    return new WritableStream<unknown>({
      write: async (chunk) => {
        const json = strictStringify({ output: chunk });
        this.#pending.push(json);
        this.#bytes += json.length;
        this.#total += json.length;
        this.#wake();
        while (
          !this.#ended && (this.#pending.length > this.#maxChunks || this.#bytes > this.#maxBytes)
        ) {
          this.#space ??= deferred<void>();
          await this.#space.promise;
        }
      },
    });
  }

  /**
   * Takes every unread chunk, oldest first.
   *
   * @returns The encoded chunks (`{"output": ...}` JSON texts).
   */
  take(): string[] {
    const taken = this.#pending;
    this.#pending = [];
    this.#bytes = 0;
    this.#space?.resolve();
    this.#space = undefined;
    return taken;
  }

  /** No more chunks will come: wakes the long-polls and releases a waiting write. */
  end(): void {
    this.#ended = true;
    this.#wake();
    this.#space?.resolve();
  }

  /**
   * Waits until a chunk is unread, the stream ended, `ms` passed or `signal` aborted.
   *
   * @param ms The longest wait.
   * @param signal Ends the wait early (the client went away, or shutdown).
   */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending.length > 0 || this.#ended || signal?.aborted) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    await Promise.race([
      (this.#arrived ??= deferred<void>()).promise,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        onAbort = resolve;
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }

  #wake(): void {
    const arrived = this.#arrived;
    this.#arrived = undefined;
    arrived?.resolve();
  }
}

function positive(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(`'${name}' must be a positive integer: received ${value}`);
  }
  return value;
}
