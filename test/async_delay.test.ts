import { test } from "node:test";
import assert from "node:assert/strict";
import { delay } from "../src/async/delay.ts";

interface TimerSpy {
  /** The ids of the timers started, in order. */
  started: unknown[];
  /** The delays of the timers started, in order. */
  delays: (number | undefined)[];
  /** The ids passed to `clearTimeout`, in order. */
  cleared: unknown[];
}

/** Records the timers started and cleared (through the globals) while `fn` runs. */
async function withTimerSpy(fn: (spy: TimerSpy) => Promise<void>): Promise<void> {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const spy: TimerSpy = { started: [], delays: [], cleared: [] };
  globalThis.setTimeout = ((handler: () => void, ms?: number) => {
    const id = realSetTimeout(handler, ms);
    spy.started.push(id);
    spy.delays.push(ms);
    return id;
  }) as unknown as typeof setTimeout;
  globalThis.clearTimeout = ((id?: Parameters<typeof clearTimeout>[0]) => {
    spy.cleared.push(id);
    realClearTimeout(id);
  }) as typeof clearTimeout;
  try {
    await fn(spy);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
  }
}

/** Tracks the abort listeners currently added to `signal`. */
function abortListeners(signal: AbortSignal): Set<unknown> {
  const listeners = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, listener: EventListener, options?: boolean) => {
    if (type === "abort") listeners.add(listener);
    add(type, listener, options);
  }) as unknown as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, listener: EventListener, options?: boolean) => {
    if (type === "abort") listeners.delete(listener);
    remove(type, listener, options);
  }) as unknown as typeof signal.removeEventListener;
  return listeners;
}

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
