import { test } from "node:test";
import assert from "node:assert/strict";
import { abortListeners, withTimerSpy } from "./support/spies.ts";
import { delay } from "../src/async/delay.ts";

test("delay() resolves after the timer fires", async () => {
  await withTimerSpy(async (spy) => {
    assert.equal(await delay(1), undefined);
    assert.deepEqual(spy.delays, [1]);
  });
});

test("delay() with 0 ms waits for a macrotask", async () => {
  const order: string[] = [];
  const waiting = delay(0).then(() => order.push("delay"));
  queueMicrotask(() => order.push("microtask"));
  await waiting;
  assert.deepEqual(order, ["microtask", "delay"]);
});

test("delay() rejects with the signal's reason when aborted before the call", async () => {
  await withTimerSpy(async (spy) => {
    const controller = new AbortController();
    const reason = new Error("Already stopped");
    controller.abort(reason);
    await assert.rejects(delay(1_000, { signal: controller.signal }), (error) => error === reason);
    assert.equal(spy.started.length, 0);
  });
});

test("delay() rejects with the signal's reason when aborted during the wait", async () => {
  const controller = new AbortController();
  const reason = new Error("Stopped");
  const waiting = delay(60_000, { signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(waiting, (error) => error === reason);
});

test("delay() rejects with an AbortError when aborted without a reason", async () => {
  const controller = new AbortController();
  const waiting = delay(60_000, { signal: controller.signal });
  controller.abort();
  await assert.rejects(
    waiting,
    (error) => error instanceof DOMException && error.name === "AbortError",
  );
});

test("delay() clears its timer and removes its listener when aborted", async () => {
  await withTimerSpy(async (spy) => {
    const controller = new AbortController();
    const listeners = abortListeners(controller.signal);
    const waiting = delay(60_000, { signal: controller.signal });
    assert.equal(listeners.size, 1);
    assert.equal(spy.started.length, 1);
    controller.abort();
    await assert.rejects(waiting);
    assert.ok(spy.cleared.includes(spy.started[0]));
    assert.equal(listeners.size, 0);
  });
});

test("delay() removes its listener when it resolves", async () => {
  const controller = new AbortController();
  const listeners = abortListeners(controller.signal);
  const waiting = delay(0, { signal: controller.signal });
  assert.equal(listeners.size, 1);
  await waiting;
  assert.equal(listeners.size, 0);
});

test("delay() splits waits longer than the largest timer", async () => {
  await withTimerSpy(async (spy) => {
    const controller = new AbortController();
    const waiting = delay(2 ** 31 + 5, { signal: controller.signal });
    assert.deepEqual(spy.delays, [2 ** 31 - 1]);
    controller.abort();
    await assert.rejects(waiting);
    assert.ok(spy.cleared.includes(spy.started[0]));
  });
});

test("delay() with Infinity waits until aborted", async () => {
  await withTimerSpy(async (spy) => {
    const controller = new AbortController();
    const waiting = delay(Infinity, { signal: controller.signal });
    assert.deepEqual(spy.delays, [2 ** 31 - 1]);
    controller.abort();
    await assert.rejects(waiting);
  });
});

test("delay() rejects with a RangeError for a negative or NaN delay", async () => {
  await assert.rejects(delay(-1), {
    name: "RangeError",
    message: "'ms' must be a non-negative number: received -1",
  });
  await assert.rejects(delay(NaN), {
    name: "RangeError",
    message: "'ms' must be a non-negative number: received NaN",
  });
});

test("delay() rejects with a TypeError for a delay that is not a number", async () => {
  await assert.rejects(delay("10" as unknown as number), {
    name: "TypeError",
    message: "'ms' must be a number: received string",
  });
});
