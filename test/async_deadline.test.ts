import { test } from "node:test";
import assert from "node:assert/strict";
import { abortListeners, withTimerSpy } from "./support/spies.ts";
import { deadline } from "../src/async/deadline.ts";
import { deferred } from "../src/async/deferred.ts";

test("deadline() resolves with the value of a promise that settles in time", async () => {
  assert.equal(await deadline(Promise.resolve("fast"), 60_000), "fast");
});

test("deadline() rejects with the error of a promise that fails in time", async () => {
  const reason = new Error("Failed");
  await assert.rejects(deadline(Promise.reject(reason), 60_000), (e) => e === reason);
});

test("deadline() rejects with a TimeoutError when the time passes", async () => {
  const work = deferred<string>();
  await assert.rejects(
    deadline(work.promise, 1),
    (e) => e instanceof DOMException && e.name === "TimeoutError",
  );
  work.reject(new Error("Late failure")); // Ignored, not reported as unhandled.
});

test("deadline() with 0 ms times out a pending promise", async () => {
  await assert.rejects(deadline(new Promise(() => {}), 0), { name: "TimeoutError" });
});

test("deadline() clears its timer when the promise settles", async () => {
  await withTimerSpy(async (spy) => {
    const work = deferred<number>();
    const result = deadline(work.promise, 60_000);
    assert.deepEqual(spy.delays, [60_000]);
    work.resolve(1);
    assert.equal(await result, 1);
    assert.ok(spy.cleared.includes(spy.started[0]));
  });
});

test("deadline() rejects with the signal's reason when it aborts first", async () => {
  await withTimerSpy(async (spy) => {
    const controller = new AbortController();
    const listeners = abortListeners(controller.signal);
    const reason = new Error("Shutting down");
    const result = deadline(new Promise(() => {}), 60_000, { signal: controller.signal });
    assert.equal(listeners.size, 1);
    controller.abort(reason);
    await assert.rejects(result, (e) => e === reason);
    assert.ok(spy.cleared.includes(spy.started[0]));
    assert.equal(listeners.size, 0);
  });
});

test("deadline() rejects with the signal's reason when aborted before the call", async () => {
  await withTimerSpy(async (spy) => {
    const controller = new AbortController();
    const reason = new Error("Already stopped");
    controller.abort(reason);
    await assert.rejects(
      deadline(Promise.resolve(1), 60_000, { signal: controller.signal }),
      (e) => e === reason,
    );
    assert.equal(spy.started.length, 0);
  });
});

test("deadline() keeps the TimeoutError when the signal aborts afterwards", async () => {
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  const result = deadline(new Promise(() => {}), 0, { signal: controller.signal });
  await assert.rejects(result, { name: "TimeoutError" });
  assert.equal(listeners.size, 0);
  controller.abort(new Error("Too late"));
});

test("deadline() removes its listener when the promise settles", async () => {
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  const result = deadline(Promise.resolve(1), 60_000, { signal: controller.signal });
  assert.equal(listeners.size, 1);
  assert.equal(await result, 1);
  assert.equal(listeners.size, 0);
});

test("deadline() with Infinity starts no timer", async () => {
  await withTimerSpy(async (spy) => {
    assert.equal(await deadline(Promise.resolve(1), Infinity), 1);
    assert.equal(spy.started.length, 0);
  });
});

test("deadline() beyond the largest timer does not time out at once", async () => {
  await withTimerSpy(async (spy) => {
    const work = deferred<number>();
    const result = deadline(work.promise, 2 ** 32);
    assert.deepEqual(spy.delays, [2 ** 31 - 1]);
    work.resolve(1);
    assert.equal(await result, 1);
  });
});

test("deadline() rejects with a RangeError for a negative or NaN time", async () => {
  await assert.rejects(deadline(Promise.resolve(1), -1), {
    name: "RangeError",
    message: "'ms' must be a non-negative number: received -1",
  });
  await assert.rejects(deadline(Promise.resolve(1), NaN), {
    name: "RangeError",
    message: "'ms' must be a non-negative number: received NaN",
  });
});

test("deadline() rejects with a TypeError for a time that is not a number", async () => {
  await assert.rejects(deadline(Promise.resolve(1), "5" as unknown as number), {
    name: "TypeError",
    message: "'ms' must be a number: received string",
  });
});
