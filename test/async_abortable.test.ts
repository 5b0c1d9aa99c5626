import { test } from "node:test";
import assert from "node:assert/strict";
import { abortListeners } from "./support/spies.ts";
import { abortable } from "../src/async/abortable.ts";
import { deferred } from "../src/async/deferred.ts";
import { delay } from "../src/async/delay.ts";

/** A hand-written async iterator over `values` that records calls to `next()` and `return()`. */
function recordingIterable<T>(values: T[], options: { hangAfter?: number } = {}) {
  const calls = { iterator: 0, next: 0, return: 0 };
  const iterable: AsyncIterable<T> = {
    [Symbol.asyncIterator]() {
      calls.iterator++;
      let index = 0;
      return {
        next(): Promise<IteratorResult<T>> {
          calls.next++;
          if (index === options.hangAfter) return new Promise(() => {});
          if (index < values.length) {
            return Promise.resolve({ done: false, value: values[index++]! });
          }
          return Promise.resolve({ done: true, value: undefined });
        },
        return(): Promise<IteratorResult<T>> {
          calls.return++;
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
  return { iterable, calls };
}

test("abortable() resolves with the promise's value", async () => {
  const controller = new AbortController();
  assert.equal(await abortable(Promise.resolve(7), controller.signal), 7);
});

test("abortable() rejects with the promise's error", async () => {
  const controller = new AbortController();
  const reason = new Error("Failed");
  await assert.rejects(abortable(Promise.reject(reason), controller.signal), (e) => e === reason);
});

test("abortable() rejects with the signal's reason when aborted before the call", async () => {
  const controller = new AbortController();
  const reason = new Error("Already stopped");
  controller.abort(reason);
  const listeners = abortListeners(controller.signal);
  await assert.rejects(abortable(Promise.resolve(1), controller.signal), (e) => e === reason);
  assert.equal(listeners.size, 0);
});

test("abortable() ignores a late rejection of a promise abandoned before the call", async () => {
  const controller = new AbortController();
  controller.abort(new Error("Stopped"));
  const work = deferred<number>();
  await assert.rejects(abortable(work.promise, controller.signal), { message: "Stopped" });
  work.reject(new Error("Late failure"));
  await delay(0); // An unhandled rejection would fail the run here.
});

test("abortable() rejects with the signal's reason when aborted during the wait", async () => {
  const controller = new AbortController();
  const reason = new Error("Stopped");
  const work = deferred<number>();
  const result = abortable(work.promise, controller.signal);
  controller.abort(reason);
  await assert.rejects(result, (e) => e === reason);
  work.reject(new Error("Late failure"));
  await delay(0); // An unhandled rejection would fail the run here.
});

test("abortable() removes its listener when the promise settles", async () => {
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  const resolved = abortable(Promise.resolve(1), controller.signal);
  const rejected = abortable(Promise.reject(new Error("Failed")), controller.signal);
  assert.equal(listeners.size, 2);
  await resolved;
  await assert.rejects(rejected);
  assert.equal(listeners.size, 0);
});

test("abortable() removes its listener when aborted", async () => {
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  const result = abortable(new Promise(() => {}), controller.signal);
  assert.equal(listeners.size, 1);
  controller.abort();
  await assert.rejects(result, { name: "AbortError" });
  assert.equal(listeners.size, 0);
});

test("abortable() throws a TypeError for neither a promise nor an async iterable", () => {
  const controller = new AbortController();
  assert.throws(() => abortable(42 as unknown as Promise<number>, controller.signal), {
    name: "TypeError",
    message: "'p' must be a promise or an async iterable: received number",
  });
  assert.throws(() => abortable(null as unknown as Promise<number>, controller.signal), {
    name: "TypeError",
    message: "'p' must be a promise or an async iterable: received null",
  });
});

test("abortable() yields every value of an iterable and its return value", async () => {
  async function* source() {
    yield 1;
    yield 2;
    return "end";
  }
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  const generator = abortable(source(), controller.signal);
  assert.deepEqual(await generator.next(), { done: false, value: 1 });
  assert.deepEqual(await generator.next(), { done: false, value: 2 });
  assert.deepEqual(await generator.next(), { done: true, value: "end" });
  assert.equal(listeners.size, 0);
});

test("abortable() does not close an iterable that ended", async () => {
  const { iterable, calls } = recordingIterable(["a", "b"]);
  const controller = new AbortController();
  const seen: string[] = [];
  for await (const value of abortable(iterable, controller.signal)) seen.push(value);
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(calls.return, 0);
});

test("abortable() throws the signal's reason for an iterable aborted before the start", async () => {
  const { iterable, calls } = recordingIterable([1, 2]);
  const controller = new AbortController();
  const reason = new Error("Already stopped");
  controller.abort(reason);
  const generator = abortable(iterable, controller.signal);
  await assert.rejects(generator.next(), (e) => e === reason);
  assert.deepEqual(calls, { iterator: 0, next: 0, return: 0 });
  assert.deepEqual(await generator.next(), { done: true, value: undefined });
});

test("abortable() closes an iterable aborted while next() is pending", async () => {
  const { iterable, calls } = recordingIterable([1], { hangAfter: 1 });
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  const reason = new Error("Stopped");
  const generator = abortable(iterable, controller.signal);
  assert.deepEqual(await generator.next(), { done: false, value: 1 });
  const pending = generator.next();
  await delay(0);
  assert.equal(calls.next, 2);
  controller.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
  assert.equal(calls.return, 1);
  assert.equal(listeners.size, 0);
  assert.deepEqual(await generator.next(), { done: true, value: undefined });
});

test("abortable() closes an iterable aborted while the consumer holds a value", async () => {
  const closed = deferred<void>();
  async function* source() {
    try {
      for (let i = 0;; i++) yield i;
    } finally {
      closed.resolve();
    }
  }
  const controller = new AbortController();
  const reason = new Error("Stopped");
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const value of abortable(source(), controller.signal)) {
      seen.push(value);
      if (value === 1) controller.abort(reason);
    }
  }, (e) => e === reason);
  assert.deepEqual(seen, [0, 1]);
  await closed.promise; // The source's `finally` ran.
});

test("abortable() closes an iterable when the consumer breaks early", async () => {
  const { iterable, calls } = recordingIterable([1, 2, 3]);
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  for await (const value of abortable(iterable, controller.signal)) {
    if (value === 2) break;
  }
  assert.equal(calls.return, 1);
  assert.equal(calls.next, 2);
  assert.equal(listeners.size, 0);
});

test("abortable() closes an iterable when the consumer throws", async () => {
  const { iterable, calls } = recordingIterable([1, 2, 3]);
  const controller = new AbortController();
  await assert.rejects(async () => {
    for await (const _ of abortable(iterable, controller.signal)) throw new Error("Consumer");
  }, { message: "Consumer" });
  assert.equal(calls.return, 1);
});

test("abortable() passes on the error of an iterable without closing it", async () => {
  const calls = { return: 0 };
  const reason = new Error("Source failed");
  const iterable: AsyncIterable<number> = {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.reject(reason),
      return: () => {
        calls.return++;
        return Promise.resolve({ done: true, value: undefined });
      },
    }),
  };
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  await assert.rejects(abortable(iterable, controller.signal).next(), (e) => e === reason);
  assert.equal(calls.return, 0);
  assert.equal(listeners.size, 0);
});

test("abortable() ignores a failing return() of an iterable aborted during next()", async () => {
  const iterable: AsyncIterable<number> = {
    [Symbol.asyncIterator]: () => ({
      next: () => new Promise<IteratorResult<number>>(() => {}),
      return: () => Promise.reject(new Error("Cannot close")),
    }),
  };
  const controller = new AbortController();
  const pending = abortable(iterable, controller.signal).next();
  await delay(0);
  controller.abort(new Error("Stopped"));
  await assert.rejects(pending, { message: "Stopped" });
  await delay(0); // An unhandled rejection would fail the run here.
});
