import { test } from "node:test";
import assert from "node:assert/strict";
import { ConcurrencyGate, type ConcurrencyModifier, type Permit } from "../src/concurrency_gate.ts";
import { deferred } from "../src/async/deferred.ts";

/** A logger that records warnings. */
function recorder() {
  const warnings: string[] = [];
  return { warnings, logger: { warn: (message: unknown) => void warnings.push(String(message)) } };
}

/** A modifier returning any value (including ones its type forbids). */
function returning(value: unknown): ConcurrencyModifier {
  return (() => value) as unknown as ConcurrencyModifier;
}

/** Lets every queued microtask run (no timers involved). */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Tells whether `promise` is still unsettled once pending microtasks have run. */
async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await flushMicrotasks();
  return !settled;
}

/** Counts the events of `type` dispatched by `target`. */
function countEvents(target: EventTarget, type: string): { count: number } {
  const counter = { count: 0 };
  target.addEventListener(type, () => counter.count++);
  return counter;
}

/** Takes `n` permits at once, failing if any is not free. */
function take(gate: ConcurrencyGate, n: number): Permit[] {
  return Array.from({ length: n }, () => {
    const permit = gate.tryAcquire();
    assert.ok(permit, "expected a free slot");
    return permit;
  });
}

// --- construction ---

test("ConcurrencyGate() defaults to a limit of 1 with no ceiling", () => {
  const gate = new ConcurrencyGate();
  assert.equal(gate.limit, 1);
  assert.equal(gate.maxLimit, Infinity);
  assert.equal(gate.running, 0);
  assert.equal(gate.waiting, 0);
  assert.equal(gate.free, 1);
});

test("ConcurrencyGate() takes the initial limit from the options", () => {
  const gate = new ConcurrencyGate({ limit: 4 });
  assert.equal(gate.limit, 4);
  assert.equal(gate.free, 4);
});

test("ConcurrencyGate() clamps the initial limit to maxLimit", () => {
  const gate = new ConcurrencyGate({ limit: 10, maxLimit: 3 });
  assert.equal(gate.limit, 3);
  assert.equal(gate.maxLimit, 3);
});

for (const limit of [0, -1, 1.5, NaN, -Infinity]) {
  test(`ConcurrencyGate() throws a RangeError for limit ${limit}`, () => {
    assert.throws(() => new ConcurrencyGate({ limit }), RangeError);
  });
}

test("ConcurrencyGate() throws a RangeError for an infinite limit without a ceiling", () => {
  assert.throws(() => new ConcurrencyGate({ limit: Infinity }), RangeError);
});

for (const maxLimit of [0, -3, 2.5, NaN, -Infinity]) {
  test(`ConcurrencyGate() throws a RangeError for maxLimit ${maxLimit}`, () => {
    assert.throws(() => new ConcurrencyGate({ maxLimit }), RangeError);
  });
}

test("ConcurrencyGate() names the bad option in its RangeError", () => {
  assert.throws(() => new ConcurrencyGate({ limit: 0 }), /'limit'.*received 0/);
  assert.throws(() => new ConcurrencyGate({ maxLimit: 0 }), /'maxLimit'.*received 0/);
});

// --- tryAcquire / acquire / release ---

test("ConcurrencyGate.tryAcquire() takes free slots and returns undefined when full", () => {
  const gate = new ConcurrencyGate({ limit: 2 });
  const [a, b] = take(gate, 2);
  assert.equal(gate.running, 2);
  assert.equal(gate.free, 0);
  assert.equal(gate.tryAcquire(), undefined);
  a!.release();
  assert.equal(gate.running, 1);
  assert.ok(gate.tryAcquire());
  b!.release();
});

test("Permit.release() hands the slot to a waiter before tryAcquire() can take it", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [first] = take(gate, 1);
  const waiter = gate.acquire();
  assert.equal(gate.waiting, 1);
  first!.release();
  // The waiter got the slot, so tryAcquire finds none.
  assert.equal(gate.tryAcquire(), undefined);
  (await waiter).release();
  assert.equal(gate.running, 0);
});

test("Permit.release() is idempotent", () => {
  const gate = new ConcurrencyGate({ limit: 2 });
  const [a, b] = take(gate, 2);
  a!.release();
  a!.release();
  a!.release();
  assert.equal(gate.running, 1);
  b!.release();
  assert.equal(gate.running, 0);
});

test("Permit[Symbol.dispose]() releases the slot once, shared with release()", () => {
  const gate = new ConcurrencyGate({ limit: 2 });
  const [a, b] = take(gate, 2);
  a![Symbol.dispose]();
  assert.equal(gate.running, 1);
  a![Symbol.dispose]();
  a!.release();
  assert.equal(gate.running, 1);
  b!.release();
  b![Symbol.dispose]();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.acquire() resolves at once when a slot is free", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const permit = await gate.acquire();
  assert.equal(gate.running, 1);
  permit.release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.acquire() waits while the gate is full", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const waiter = gate.acquire();
  assert.equal(gate.waiting, 1);
  assert.equal(gate.free, 0);
  assert.equal(await isPending(waiter), true);
  held!.release();
  assert.equal(gate.waiting, 0);
  assert.equal(gate.running, 1);
  (await waiter).release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.acquire() admits waiters first come first served", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const waiters = ["a", "b", "c"].map((name) =>
    gate.acquire().then((permit) => ({ name, permit }))
  );
  assert.equal(gate.waiting, 3);
  const order: string[] = [];
  let current = held!;
  for (let i = 0; i < 3; i++) {
    current.release();
    const next = await Promise.race(waiters.filter((_, j) => !order.includes("abc"[j]!)));
    order.push(next.name);
    current = next.permit;
  }
  current.release();
  assert.deepEqual(order, ["a", "b", "c"]);
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.acquire() rejects with signal.reason when aborted while waiting", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const controller = new AbortController();
  const waiter = gate.acquire({ signal: controller.signal });
  assert.equal(gate.waiting, 1);
  const reason = new Error("Stop waiting");
  controller.abort(reason);
  await assert.rejects(waiter, (error) => error === reason);
  assert.equal(gate.waiting, 0);
  held!.release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.acquire() rejects at once with signal.reason for an aborted signal on a full gate", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const reason = new Error("Already aborted");
  await assert.rejects(
    gate.acquire({ signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  assert.equal(gate.waiting, 0);
  held!.release();
});

test("ConcurrencyGate.acquire() rejects with signal.reason for an aborted signal even when a slot is free", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const reason = new Error("Already aborted");
  let permit: Permit | undefined;
  await assert.rejects(
    gate.acquire({ signal: AbortSignal.abort(reason) }).then((p) => {
      permit = p;
    }),
    (error) => error === reason,
  );
  permit?.release();
  assert.equal(permit, undefined);
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.acquire() removes an aborted waiter and keeps the order of the others", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const controller = new AbortController();
  const a = gate.acquire();
  const b = gate.acquire({ signal: controller.signal });
  const c = gate.acquire();
  assert.equal(gate.waiting, 3);
  controller.abort(new Error("b leaves"));
  await assert.rejects(b, /b leaves/);
  assert.equal(gate.waiting, 2);
  held!.release();
  const pa = await a;
  assert.equal(await isPending(c), true);
  pa.release();
  (await c).release();
  assert.equal(gate.running, 0);
  assert.equal(gate.waiting, 0);
});

test("ConcurrencyGate.acquire() ignores an abort after the permit was granted", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const controller = new AbortController();
  const waiter = gate.acquire({ signal: controller.signal });
  held!.release();
  const permit = await waiter;
  controller.abort(new Error("Too late"));
  assert.equal(gate.running, 1);
  permit.release();
  assert.equal(gate.running, 0);
});

// --- resizing ---

test("ConcurrencyGate.limit setter raising 1 to 3 admits two waiters at once while permits are held", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const a = gate.acquire();
  const b = gate.acquire();
  const c = gate.acquire();
  assert.equal(gate.waiting, 3);
  gate.limit = 3;
  assert.equal(gate.running, 3);
  assert.equal(gate.waiting, 1);
  const [pa, pb] = await Promise.all([a, b]);
  assert.equal(await isPending(c), true);
  held!.release();
  const pc = await c;
  assert.equal(gate.running, 3);
  for (const permit of [pa, pb, pc]) permit.release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.limit setter lowering the limit never cancels running permits", () => {
  const gate = new ConcurrencyGate({ limit: 3 });
  const permits = take(gate, 3);
  gate.limit = 1;
  assert.equal(gate.limit, 1);
  assert.equal(gate.running, 3);
  assert.equal(gate.free, 0);
  for (const permit of permits) permit.release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.limit setter lowering 3 to 1 admits nothing until running drops below 1", async () => {
  const gate = new ConcurrencyGate({ limit: 3 });
  const [p1, p2, p3] = take(gate, 3);
  const w1 = gate.acquire();
  const w2 = gate.acquire();
  gate.limit = 1;
  p1!.release();
  assert.equal(gate.running, 2);
  assert.equal(gate.waiting, 2);
  assert.equal(gate.tryAcquire(), undefined);
  p2!.release();
  assert.equal(gate.running, 1);
  assert.equal(gate.waiting, 2);
  assert.equal(await isPending(w1), true);
  p3!.release();
  assert.equal(gate.running, 1);
  assert.equal(gate.waiting, 1);
  const first = await w1;
  assert.equal(await isPending(w2), true);
  first.release();
  (await w2).release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.limit setter clamps values above maxLimit", () => {
  const gate = new ConcurrencyGate({ limit: 2, maxLimit: 4 });
  gate.limit = 10;
  assert.equal(gate.limit, 4);
  gate.limit = 3;
  assert.equal(gate.limit, 3);
});

for (const value of [0, -1, 2.5, NaN]) {
  test(`ConcurrencyGate.limit setter throws a RangeError for ${value} and keeps the limit`, () => {
    const gate = new ConcurrencyGate({ limit: 2 });
    assert.throws(() => (gate.limit = value), RangeError);
    assert.equal(gate.limit, 2);
  });
}

test("ConcurrencyGate.limit setter throws a RangeError for Infinity without a ceiling", () => {
  const gate = new ConcurrencyGate({ limit: 2 });
  assert.throws(() => (gate.limit = Infinity), RangeError);
  assert.equal(gate.limit, 2);
});

test("ConcurrencyGate.limit setter dispatches limitchange only when the limit changes", () => {
  const gate = new ConcurrencyGate({ limit: 2, maxLimit: 5 });
  const changes = countEvents(gate, "limitchange");
  gate.limit = 2;
  assert.equal(changes.count, 0);
  gate.limit = 3;
  assert.equal(changes.count, 1);
  gate.limit = 9; // clamped to 5
  assert.equal(changes.count, 2);
  gate.limit = 7; // clamped to 5 again: no change
  assert.equal(changes.count, 2);
});

test("ConcurrencyGate.limit setter sees the new limit from a limitchange listener", () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const seen: number[] = [];
  gate.addEventListener("limitchange", () => seen.push(gate.limit));
  gate.limit = 6;
  assert.deepEqual(seen, [6]);
});

test("ConcurrencyGate.free counts slots a new caller would get", async () => {
  const gate = new ConcurrencyGate({ limit: 3 });
  const [a] = take(gate, 1);
  assert.equal(gate.free, 2);
  const [b, c] = take(gate, 2);
  assert.equal(gate.free, 0);
  const waiter = gate.acquire();
  gate.limit = 1;
  assert.equal(gate.free, 0);
  for (const permit of [a, b, c]) permit!.release();
  (await waiter).release();
  assert.equal(gate.free, 1);
});

// --- onCapacity / onIdle / idle ---

test("ConcurrencyGate.onCapacity() resolves at once when a slot is free", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  await gate.onCapacity();
  assert.equal(gate.free, 1);
});

test("ConcurrencyGate.onCapacity() resolves when a release frees a slot", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const capacity = gate.onCapacity();
  assert.equal(await isPending(capacity), true);
  held!.release();
  await capacity;
  assert.equal(gate.free, 1);
});

test("ConcurrencyGate.onCapacity() resolves when the limit is raised", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const capacity = gate.onCapacity();
  gate.limit = 2;
  await capacity;
  assert.equal(gate.free, 1);
  held!.release();
});

test("ConcurrencyGate.onCapacity() stays pending while a release only admits a waiter", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const waiter = gate.acquire();
  const capacity = gate.onCapacity();
  held!.release();
  const permit = await waiter;
  assert.equal(await isPending(capacity), true);
  permit.release();
  await capacity;
});

test("ConcurrencyGate.onCapacity() after lowering waits until running is below the new limit", async () => {
  const gate = new ConcurrencyGate({ limit: 2 });
  const [a, b] = take(gate, 2);
  gate.limit = 1;
  const capacity = gate.onCapacity();
  a!.release();
  assert.equal(await isPending(capacity), true);
  b!.release();
  await capacity;
  assert.equal(gate.free, 1);
});

test("ConcurrencyGate.onIdle() resolves at once when nothing runs", async () => {
  const gate = new ConcurrencyGate();
  await gate.onIdle();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.onIdle() resolves only when nothing runs and nobody waits", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [held] = take(gate, 1);
  const waiter = gate.acquire();
  const idle = gate.onIdle();
  held!.release();
  const permit = await waiter;
  assert.equal(await isPending(idle), true);
  permit.release();
  await idle;
  assert.equal(gate.running, 0);
  assert.equal(gate.waiting, 0);
});

test("ConcurrencyGate.onIdle() returns a fresh promise after the gate went busy again", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const [first] = take(gate, 1);
  const idle1 = gate.onIdle();
  first!.release();
  await idle1;
  const [second] = take(gate, 1);
  const idle2 = gate.onIdle();
  assert.equal(await isPending(idle2), true);
  second!.release();
  await idle2;
});

test("ConcurrencyGate dispatches idle once when the last permit is released", () => {
  const gate = new ConcurrencyGate({ limit: 2 });
  const idle = countEvents(gate, "idle");
  const [a, b] = take(gate, 2);
  a!.release();
  assert.equal(idle.count, 0);
  b!.release();
  assert.equal(idle.count, 1);
  b!.release();
  a!.release();
  assert.equal(idle.count, 1);
});

test("ConcurrencyGate does not dispatch idle when a release hands the slot to a waiter", async () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const idle = countEvents(gate, "idle");
  const [held] = take(gate, 1);
  const waiter = gate.acquire();
  held!.release();
  assert.equal(idle.count, 0);
  (await waiter).release();
  assert.equal(idle.count, 1);
});

test("ConcurrencyGate does not dispatch idle when the limit changes on an idle gate", () => {
  const gate = new ConcurrencyGate({ limit: 1 });
  const idle = countEvents(gate, "idle");
  gate.limit = 4;
  gate.limit = 2;
  assert.equal(idle.count, 0);
});

// --- refresh ---

test("ConcurrencyGate.refresh() without a modifier resolves with the current limit", async () => {
  const gate = new ConcurrencyGate({ limit: 3 });
  assert.equal(await gate.refresh(), 3);
});

test("ConcurrencyGate.refresh() passes the current limit to the modifier, 1 by default", async () => {
  const seen: number[] = [];
  const gate = new ConcurrencyGate({ modifier: (current) => (seen.push(current), current + 1) });
  assert.equal(await gate.refresh(), 2);
  assert.equal(await gate.refresh(), 3);
  assert.deepEqual(seen, [1, 2]);
});

test("ConcurrencyGate.refresh() passes the initial limit to the first modifier call", async () => {
  const seen: number[] = [];
  const gate = new ConcurrencyGate({ limit: 4, modifier: (current) => (seen.push(current), 4) });
  await gate.refresh();
  assert.deepEqual(seen, [4]);
});

test("ConcurrencyGate.refresh() applies a sync modifier's value", async () => {
  let target = 5;
  const gate = new ConcurrencyGate({ modifier: () => target });
  assert.equal(await gate.refresh(), 5);
  assert.equal(gate.limit, 5);
  target = 2;
  assert.equal(await gate.refresh(), 2);
  assert.equal(gate.limit, 2);
});

test("ConcurrencyGate.refresh() applies an async modifier's value", async () => {
  const gate = new ConcurrencyGate({ modifier: () => Promise.resolve(7) });
  assert.equal(await gate.refresh(), 7);
  assert.equal(gate.limit, 7);
});

test("ConcurrencyGate.refresh() shares one async modifier call between concurrent calls", async () => {
  const answer = deferred<number>();
  let calls = 0;
  const gate = new ConcurrencyGate({
    modifier: () => {
      calls++;
      return answer.promise;
    },
  });
  const r1 = gate.refresh();
  const r2 = gate.refresh();
  const r3 = gate.refresh();
  assert.equal(calls, 1);
  answer.resolve(6);
  assert.deepEqual(await Promise.all([r1, r2, r3]), [6, 6, 6]);
  assert.equal(calls, 1);
  await gate.refresh();
  assert.equal(calls, 2);
});

test("ConcurrencyGate.refresh() raising the limit admits waiters at once", async () => {
  let target = 1;
  const gate = new ConcurrencyGate({ modifier: () => target });
  const [held] = take(gate, 1);
  const a = gate.acquire();
  const b = gate.acquire();
  const c = gate.acquire();
  target = 3;
  assert.equal(await gate.refresh(), 3);
  assert.equal(gate.running, 3);
  assert.equal(gate.waiting, 1);
  const [pa, pb] = await Promise.all([a, b]);
  assert.equal(await isPending(c), true);
  held!.release();
  pa.release();
  pb.release();
  (await c).release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.refresh() lowering the limit keeps in-flight permits and resizes by attrition", async () => {
  let target = 3;
  const gate = new ConcurrencyGate({ limit: 3, modifier: () => target });
  const [p1, p2, p3] = take(gate, 3);
  const waiter = gate.acquire();
  target = 1;
  assert.equal(await gate.refresh(), 1);
  assert.equal(gate.running, 3);
  p1!.release();
  p2!.release();
  assert.equal(gate.waiting, 1);
  assert.equal(await isPending(waiter), true);
  p3!.release();
  (await waiter).release();
  assert.equal(gate.running, 0);
});

test("ConcurrencyGate.refresh() dispatches limitchange when the modifier changes the limit", async () => {
  let target = 1;
  const gate = new ConcurrencyGate({ modifier: () => target });
  const changes = countEvents(gate, "limitchange");
  await gate.refresh();
  assert.equal(changes.count, 0);
  target = 2;
  await gate.refresh();
  assert.equal(changes.count, 1);
});

const BAD_VALUES: Array<[string, unknown]> = [
  ["0", 0],
  ["a negative number", -2],
  ["NaN", NaN],
  ["a non-integer 2.5", 2.5],
  ['the string "4"', "4"],
  ["null", null],
  ["undefined", undefined],
  ["Infinity without a ceiling", Infinity],
  ["an object", { limit: 4 }],
];

for (const [label, value] of BAD_VALUES) {
  test(`ConcurrencyGate.refresh() warns and keeps the last good limit when the modifier returns ${label}`, async () => {
    const { warnings, logger } = recorder();
    const gate = new ConcurrencyGate({ limit: 2, modifier: returning(value), logger });
    assert.equal(await gate.refresh(), 2);
    assert.equal(gate.limit, 2);
    assert.equal(warnings.length, 1);
  });

  test(`ConcurrencyGate.refresh() warns and keeps the last good limit when an async modifier resolves to ${label}`, async () => {
    const { warnings, logger } = recorder();
    const modifier = (() => Promise.resolve(value)) as unknown as ConcurrencyModifier;
    const gate = new ConcurrencyGate({ limit: 2, modifier, logger });
    assert.equal(await gate.refresh(), 2);
    assert.equal(gate.limit, 2);
    assert.equal(warnings.length, 1);
  });
}

test("ConcurrencyGate.refresh() warns with the bad value and the kept limit", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({ limit: 3, modifier: returning(0), logger });
  await gate.refresh();
  assert.match(warnings[0]!, /\b0\b/);
  assert.match(warnings[0]!, /\b3\b/);
});

test("ConcurrencyGate.refresh() warns and keeps the limit when a sync modifier throws", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({
    limit: 2,
    modifier: () => {
      throw new Error("Engine down");
    },
    logger,
  });
  assert.equal(await gate.refresh(), 2);
  assert.equal(gate.limit, 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Engine down/);
});

test("ConcurrencyGate.refresh() warns and keeps the limit when an async modifier rejects", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({
    limit: 2,
    modifier: () => Promise.reject(new Error("Engine down")),
    logger,
  });
  assert.equal(await gate.refresh(), 2);
  assert.equal(gate.limit, 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /Engine down/);
});

test("ConcurrencyGate.refresh() gives up on an async modifier that does not answer in time, and asks again", async () => {
  const { warnings, logger } = recorder();
  const hung = deferred<number>();
  let calls = 0;
  const gate = new ConcurrencyGate({
    limit: 2,
    logger,
    modifierTimeoutMs: 20,
    modifier: () => (++calls === 1 ? hung.promise : Promise.resolve(4)),
  });
  assert.equal(await gate.refresh(), 2, "the hung call is given up and the limit kept");
  assert.deepEqual(warnings, [
    "concurrencyModifier did not answer within 20 ms; keeping concurrency 2 and asking it again at the next refresh",
  ]);
  assert.equal(await gate.refresh(), 4, "the next refresh calls the modifier again");
  hung.resolve(9); // a late answer of the given-up call is ignored
  await flushMicrotasks();
  assert.equal(gate.limit, 4);
  assert.equal(calls, 2);
  assert.throws(() => new ConcurrencyGate({ modifierTimeoutMs: 0 }), RangeError);
});

test("ConcurrencyGate.refresh() warns when a modifier throws a non-error", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({
    limit: 2,
    modifier: () => {
      throw "plain string";
    },
    logger,
  });
  assert.equal(await gate.refresh(), 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /plain string/);
});

test("ConcurrencyGate.refresh() keeps the last good limit, not the initial one", async () => {
  const { warnings, logger } = recorder();
  let target: unknown = 5;
  const gate = new ConcurrencyGate({ modifier: () => target as number, logger });
  assert.equal(await gate.refresh(), 5);
  target = NaN;
  assert.equal(await gate.refresh(), 5);
  assert.equal(gate.limit, 5);
  assert.equal(warnings.length, 1);
});

test("ConcurrencyGate.refresh() does not repeat a warning for the same bad value until a good value arrives", async () => {
  const { warnings, logger } = recorder();
  let target: unknown = 0;
  const gate = new ConcurrencyGate({ limit: 2, modifier: () => target as number, logger });
  await gate.refresh();
  await gate.refresh();
  await gate.refresh();
  assert.equal(warnings.length, 1);
  target = 3;
  await gate.refresh();
  assert.equal(warnings.length, 1);
  target = 0;
  await gate.refresh();
  await gate.refresh();
  assert.equal(warnings.length, 2);
});

test("ConcurrencyGate.refresh() does not repeat a warning for the same rejection", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({
    modifier: () => Promise.reject(new Error("Engine down")),
    logger,
  });
  await gate.refresh();
  await gate.refresh();
  assert.equal(warnings.length, 1);
});

test("ConcurrencyGate.refresh() clamps a modifier value above maxLimit with a warning", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({ maxLimit: 8, modifier: returning(100), logger });
  assert.equal(await gate.refresh(), 8);
  assert.equal(gate.limit, 8);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /\b100\b/);
  assert.match(warnings[0]!, /\b8\b/);
});

test("ConcurrencyGate.refresh() clamp warning does not claim the value was rejected", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({ maxLimit: 8, modifier: returning(100), logger });
  await gate.refresh();
  assert.equal(gate.limit, 8);
  assert.doesNotMatch(warnings[0]!, /expected a positive integer|Keeping concurrency 1\b/);
});

test("ConcurrencyGate.refresh() clamps Infinity to maxLimit when there is a ceiling", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({ maxLimit: 4, modifier: returning(Infinity), logger });
  assert.equal(await gate.refresh(), 4);
  assert.equal(warnings.length, 1);
});

test("ConcurrencyGate.refresh() accepts a value equal to maxLimit without a warning", async () => {
  const { warnings, logger } = recorder();
  const gate = new ConcurrencyGate({ maxLimit: 4, modifier: returning(4), logger });
  assert.equal(await gate.refresh(), 4);
  assert.equal(warnings.length, 0);
});

test("ConcurrencyGate.refresh() never throws, even for a failing modifier", async () => {
  const { logger } = recorder();
  const gate = new ConcurrencyGate({
    modifier: () => {
      throw new TypeError("Boom");
    },
    logger,
  });
  let result: Promise<number> | undefined;
  assert.doesNotThrow(() => {
    result = gate.refresh();
  });
  assert.equal(await result, 1);
});

test("ConcurrencyGate clamps an infinite limit to a finite ceiling", () => {
  const gate = new ConcurrencyGate({ limit: Infinity, maxLimit: 3 });
  assert.equal(gate.limit, 3);
  gate.limit = 1;
  gate.limit = Infinity;
  assert.equal(gate.limit, 3);
});
