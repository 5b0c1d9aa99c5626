/**
 * The sink for a streaming job's chunks: a bounded buffer between the handler and the
 * `job-stream` endpoint, optionally coalescing chunks while a post is in flight.
 *
 * @module
 */

import type { ChunkMerger } from "../config.ts";
import { strictStringify, utf8Length } from "../job_result.ts";

/** Options for {@linkcode chunkSink}. */
export interface ChunkSinkOptions {
  /** Posts one body (`{"output": ...}`) and settles when it is delivered or given up on. */
  post: (body: string) => Promise<void>;
  /** Chunks buffered before the handler is paused. @default 64 */
  bufferSize?: number;
  /**
   * Coalescing: while a post is in flight, up to `maxChunks` chunks are gathered and sent as one
   * output made by `merge`. Off when omitted: one post per chunk.
   */
  batch?: { maxChunks: number; merge: ChunkMerger };
  /** The largest body, in UTF-8 bytes. @default 20 MB */
  maxBytes?: number;
}

/**
 * A `WritableStream` of chunks that posts them in order. Delivery failures are the `post`
 * function's business (it retries and logs); a chunk that cannot be encoded as JSON, or is too
 * large, errors the stream, which fails the job with a message naming the problem.
 *
 * @param options Where and how to post.
 * @returns The sink.
 *
 * @example Coalescing strings while a post is slow
 * ```ts
 * import { chunkSink } from "./chunk_sink.ts";
 * const bodies: string[] = [];
 * let release = () => {};
 * const slow = new Promise<void>((resolve) => (release = resolve));
 * const sink = chunkSink({
 *   post: async (body) => {
 *     bodies.push(body);
 *     if (bodies.length === 1) await slow; // the first post is slow
 *   },
 *   batch: { maxChunks: 8, merge: (c) => c.join("") },
 * });
 * const writer = sink.getWriter();
 * const writes = ["a", "b", "c"].map((token) => writer.write(token));
 * await writes[2]; // "b" and "c" wait while "a" is being posted
 * release();
 * await writer.close();
 * console.assert(bodies.join() === '{"output":"a"},{"output":"bc"}');
 * ```
 */
export function chunkSink(options: ChunkSinkOptions): WritableStream<unknown> {
  const maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
  const encode = (output: unknown): string => {
    let body: string;
    try {
      body = strictStringify({ output });
    } catch (error) {
      throw new TypeError(
        `Cannot stream a chunk as it is not JSON-serialisable: ${(error as Error).message}`,
      );
    }
    if (body.length * 3 > maxBytes && utf8Length(body) > maxBytes) {
      throw new RangeError(
        `Cannot stream a chunk as it is ${utf8Length(body)} bytes, over the ${maxBytes}-byte limit`,
      );
    }
    return body;
  };
  const strategy = new CountQueuingStrategy({ highWaterMark: options.bufferSize ?? 64 });
  const batch = options.batch;
  if (!batch) {
    return new WritableStream({ write: (chunk) => options.post(encode(chunk)) }, strategy);
  }

  let pending: unknown[] = [];
  let flushing: Promise<void> | undefined;
  // A failed batch (a `merge` that throws or returns something JSON cannot carry) is kept and
  // reported by the next write or close, never left as an unhandled rejection.
  let failure: unknown;
  const flush = async () => {
    try {
      while (pending.length > 0) {
        const chunks = pending.slice(0, batch.maxChunks);
        pending = pending.slice(chunks.length);
        await options.post(encode(chunks.length === 1 ? chunks[0] : batch.merge(chunks)));
      }
    } catch (error) {
      failure ??= error;
      pending = [];
    } finally {
      flushing = undefined;
    }
  };
  return new WritableStream({
    async write(chunk) {
      if (failure) throw failure;
      encode(chunk); // fail on this chunk, not later on a merged batch
      pending.push(chunk);
      flushing ??= flush();
      if (pending.length >= batch.maxChunks) await flushing;
      if (failure) throw failure;
    },
    async close() {
      await flushing;
      if (failure) throw failure;
    },
  }, strategy);
}
