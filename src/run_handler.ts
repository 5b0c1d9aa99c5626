/**
 * Calling a handler of any kind and normalising what it produced.
 *
 * @module
 */

import type { Handler, Job, JobContext } from "./types.ts";

/** What a handler produced: one value, or a stream of outputs. */
export type HandlerOutput =
  | { kind: "value"; value: unknown }
  | { kind: "stream"; stream: ReadableStream<unknown> };

/**
 * Calls a handler and classifies its result. Sync and async generator functions, and any
 * function returning a generator, an `AsyncIterable` or a `ReadableStream` (directly or through
 * a promise), produce a stream; anything else (arrays and strings included) is one value. A
 * returned promise is awaited. Errors thrown synchronously or by the promise reject.
 *
 * Values take no detour through a stream: a plain handler costs one call and one `await`.
 *
 * @param handler The handler.
 * @param job The job, passed unchanged.
 * @param ctx The job's context.
 * @returns The value or stream.
 *
 * @example
 * ```ts
 * import { runHandler } from "./run_handler.ts";
 * const out = await runHandler(function* () { yield 1; yield 2; }, { id: "j", input: {} }, {} as never);
 * console.assert(out.kind === "stream");
 * ```
 */
export async function runHandler(
  handler: Handler,
  job: Job,
  ctx: JobContext,
): Promise<HandlerOutput> {
  let value: unknown = handler(job, ctx);
  if (isThenable(value)) value = await value;
  const stream = asStream(value);
  return stream ? { kind: "stream", stream } : { kind: "value", value };
}

/**
 * Normalises a streaming value to a `ReadableStream` with backpressure: the source is pulled
 * only when the consumer reads (high-water mark 0), and cancelling the stream calls the
 * iterator's `return()`, so a generator's `finally` blocks run.
 *
 * @param value A `ReadableStream`, an `AsyncIterable`, or a generator object.
 * @returns The stream, or `undefined` when `value` is not a stream of outputs.
 *
 * @example
 * ```ts
 * import { asStream } from "./run_handler.ts";
 * const stream = asStream((async function* () { yield "a"; })())!;
 * const { value } = await stream.getReader().read();
 * console.assert(value === "a");
 * console.assert(asStream([1, 2]) === undefined);
 * ```
 */
export function asStream(value: unknown): ReadableStream<unknown> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (value instanceof ReadableStream) return value;
  const source = value as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  let iterator: AsyncIterator<unknown> | Iterator<unknown>;
  if (typeof source[Symbol.asyncIterator] === "function") {
    iterator = source[Symbol.asyncIterator]!();
  } else if (isGeneratorObject(value)) {
    iterator = value;
  } else {
    return undefined;
  }
  return new ReadableStream<unknown>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  }, { highWaterMark: 0 });
}

function isGeneratorObject(value: object): value is Iterator<unknown> {
  return Object.prototype.toString.call(value) === "[object Generator]";
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
