/**
 * One job's streamed chunks as the dev API's `/stream` hands them out: each chunk once, in order,
 * to whichever long-poll reads next. A reader paces the handler; nobody reading never stalls it.
 *
 * @module
 */

import { deadline } from "../async/deadline.ts";
import { deferred } from "../async/deferred.ts";
import { strictStringify } from "../job_result.ts";

/**
 * How long, by default, a write past the bounds waits for a reader: `runpod-sdk`'s `stream` and
 * the playground poll again at once, so a reader that is there takes the chunks well within it.
 */
export const DEFAULT_READER_WAIT_MS = 2_000;

/** Options for {@linkcode StreamBuffer}. */
export interface StreamBufferOptions {
  /** Unread chunks held before the handler's writes wait for a reader. @default 4096 */
  maxChunks?: number;
  /** Unread bytes (of encoded chunks) held before the handler's writes wait. @default 16 MiB */
  maxBytes?: number;
  /**
   * How long a write past the bounds waits for a reader. When none reads in that time, the
   * oldest unread chunks are dropped instead (counted in `dropped`) until a reader comes back,
   * so a job nobody streams (a `runSync` caller) still ends.
   * @default {@linkcode DEFAULT_READER_WAIT_MS}
   */
  readerWaitMs?: number;
}

/**
 * The chunks a streaming handler wrote and no `/stream` call has read yet, encoded once as
 * `{"output": chunk}` JSON. Past its bounds the handler's next write waits until a reader takes
 * them (backpressure); when no reader comes within `readerWaitMs`, the oldest unread chunks are
 * dropped so the job can end. {@linkcode StreamBuffer.wait} is the long-poll.
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
  readonly #readerWaitMs: number;
  #pending: string[] = [];
  /** Index of the oldest unread chunk in `#pending` (dropped ones are skipped, not spliced). */
  #head = 0;
  #bytes = 0;
  #dropped = 0;
  /** No reader came within `readerWaitMs`: drop the oldest instead of waiting, until one does. */
  #unread = false;
  #ended = false;
  /** The long-polls waiting; made by the first one (most jobs never have one). */
  #waiters?: Set<() => void>;
  #space?: ReturnType<typeof deferred<void>>;

  /**
   * @param options Bounds on unread chunks.
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(options: StreamBufferOptions = {}) {
    this.#maxChunks = positive(options.maxChunks ?? 4096, "maxChunks");
    this.#maxBytes = positive(options.maxBytes ?? 16 * 1024 * 1024, "maxBytes");
    this.#readerWaitMs = positive(options.readerWaitMs ?? DEFAULT_READER_WAIT_MS, "readerWaitMs");
  }

  /** Unread chunks. */
  get size(): number {
    return this.#pending.length - this.#head;
  }

  /** Bytes (UTF-16 code units) of the unread chunks: what the buffer holds now. */
  get heldBytes(): number {
    return this.#bytes;
  }

  /** Chunks dropped unread because no reader came within `readerWaitMs`. */
  get dropped(): number {
    return this.#dropped;
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
        this.#wake();
        while (!this.#ended && this.#over()) {
          if (this.#unread) {
            if (this.size <= 1) break; // the newest chunk alone is over the bytes: keep it
            this.#dropOldest();
            continue;
          }
          const space = this.#space ??= deferred<void>();
          const read = await deadline(space.promise, this.#readerWaitMs).then(
            () => true,
            () => false,
          );
          if (!read && this.#space === space) this.#unread = true;
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
    const taken = this.#head === 0 ? this.#pending : this.#pending.slice(this.#head);
    this.#pending = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#unread = false; // a reader is here: it paces the handler again
    this.#space?.resolve();
    this.#space = undefined;
    return taken;
  }

  /** The job's status changed (it started): wakes the long-polls so they can report it. */
  touch(): void {
    this.#wake();
  }

  /** No more chunks will come: wakes the long-polls and releases a waiting write. */
  end(): void {
    this.#ended = true;
    this.#wake();
    this.#space?.resolve();
  }

  /**
   * Waits until a chunk is unread, the stream ended, {@linkcode StreamBuffer.touch} was called,
   * `ms` passed or a signal aborted.
   *
   * @param ms The longest wait.
   * @param signals End the wait early (the client went away, or shutdown). Each wait leaves
   * nothing behind when it ends: no reaction on a shared promise, no listener on a signal (Node
   * 20's `AbortSignal.any()` would keep one combined signal per long-poll alive as long as the
   * worker's).
   */
  wait(ms: number, ...signals: (AbortSignal | undefined)[]): Promise<void> {
    if (this.size > 0 || this.#ended || signals.some((signal) => signal?.aborted)) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters!.delete(done);
        for (const signal of signals) signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      (this.#waiters ??= new Set()).add(done);
      for (const signal of signals) signal?.addEventListener("abort", done, { once: true });
    });
  }

  #over(): boolean {
    return this.size > this.#maxChunks || this.#bytes > this.#maxBytes;
  }

  /** Drops the oldest unread chunk (never the only one). */
  #dropOldest(): void {
    this.#bytes -= this.#pending[this.#head]!.length;
    this.#head++;
    this.#dropped++;
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }

  #wake(): void {
    if (!this.#waiters?.size) return;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const done of waiters) done();
  }
}

function positive(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(`'${name}' must be a positive integer: received ${value}`);
  }
  return value;
}
