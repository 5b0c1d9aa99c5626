import assert from "node:assert/strict";
import { test } from "node:test";
import { CoarseTimers } from "../src/async/coarse_timers.ts";

/** Adds a callback that logs its name, and a promise that settles when it fires. */
function fired(timers: CoarseTimers, ms: number, name: string, log: string[]) {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const callback = () => {
    log.push(name);
    resolve();
  };
  return { slot: timers.add(ms, callback), callback, done };
}

test("CoarseTimers: timeouts in one slot fire together, in the order added", async () => {
  const timers = new CoarseTimers({ resolutionMs: 20, now: () => 1 }); // no slot edge to cross
  const log: string[] = [];
  const a = fired(timers, 1, "a", log);
  const b = fired(timers, 2, "b", log);
  assert.equal(a.slot, b.slot, "both round up to the same 20 ms slot");
  assert.equal(timers.size, 2);
  await Promise.all([a.done, b.done]);
  assert.deepEqual(log, ["a", "b"]);
  assert.equal(timers.size, 0);
});

test("CoarseTimers: a cancelled timeout never fires, the others in its slot do", async () => {
  const timers = new CoarseTimers({ resolutionMs: 5 });
  const log: string[] = [];
  const gone = fired(timers, 1, "gone", log);
  const kept = fired(timers, 1, "kept", log);
  timers.cancel(gone.slot, gone.callback);
  timers.cancel(gone.slot, gone.callback); // twice is harmless
  timers.cancel(123456789, gone.callback); // an unknown slot too
  await kept.done;
  assert.deepEqual(log, ["kept"]);
});

test("CoarseTimers: a later slot fires after an earlier one", async () => {
  const timers = new CoarseTimers({ resolutionMs: 5 });
  const log: string[] = [];
  const late = fired(timers, 40, "late", log);
  const early = fired(timers, 1, "early", log);
  assert.ok(late.slot > early.slot);
  await late.done;
  assert.deepEqual(log, ["early", "late"]);
});

test("CoarseTimers: the slot follows the clock, and clear() cancels everything", () => {
  let now = 1000;
  const timers = new CoarseTimers({ resolutionMs: 10, now: () => now });
  const log: string[] = [];
  assert.equal(timers.add(5, () => log.push("x")), 101, "1005 ms rounds up to slot 101");
  now = 1011;
  assert.equal(timers.add(0, () => log.push("y")), 102);
  assert.equal(timers.add(-5, () => log.push("z")), 102, "a negative delay counts as 0");
  timers.clear();
  assert.equal(timers.size, 0);
  assert.deepEqual(log, []);
});

test("CoarseTimers: a resolution that is not a positive number is a RangeError", () => {
  for (const resolutionMs of [0, -1, Number.NaN, Infinity]) {
    assert.throws(() => new CoarseTimers({ resolutionMs }), RangeError);
  }
});
