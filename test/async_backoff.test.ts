import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, type BackoffOptions } from "../src/async/backoff.ts";

const ATTEMPTS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

test("backoffDelay() doubles from 100 ms up to 30 s by default without jitter", () => {
  assert.deepEqual(
    ATTEMPTS.map((attempt) => backoffDelay(attempt, { jitter: 0 })),
    [100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000],
  );
});

test("backoffDelay() follows minDelay, multiplier and maxDelay", () => {
  const options: BackoffOptions = { minDelay: 10, multiplier: 3, maxDelay: 1_000, jitter: 0 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, options)),
    [10, 30, 90, 270, 810, 1_000],
  );
});

test("backoffDelay() with a multiplier of 1 is constant", () => {
  assert.deepEqual(
    [0, 5, 50].map((attempt) => backoffDelay(attempt, { minDelay: 250, multiplier: 1, jitter: 0 })),
    [250, 250, 250],
  );
});

test("backoffDelay() caps at maxDelay even when the growth overflows", () => {
  assert.equal(backoffDelay(5_000, { jitter: 0 }), 30_000);
  assert.equal(backoffDelay(5_000, { maxDelay: 500, random: () => 0 }), 500);
});

test("backoffDelay() stays at 0 with a minDelay of 0", () => {
  assert.equal(backoffDelay(0, { minDelay: 0 }), 0);
  assert.equal(backoffDelay(5_000, { minDelay: 0, jitter: 0 }), 0);
});

test("backoffDelay() subtracts full jitter drawn from random", () => {
  assert.equal(backoffDelay(2, { random: () => 0 }), 400);
  assert.equal(backoffDelay(2, { random: () => 0.25 }), 300);
  assert.equal(backoffDelay(2, { random: () => 0.5 }), 200);
  const nearlyOne = backoffDelay(2, { random: () => 0.999 });
  assert.ok(nearlyOne > 0 && nearlyOne < 1, `expected a delay in (0, 1): received ${nearlyOne}`);
});

test("backoffDelay() subtracts a fraction of the jitter", () => {
  assert.equal(backoffDelay(1, { jitter: 0.5, random: () => 1 }), 100);
  assert.equal(backoffDelay(1, { jitter: 0.25, random: () => 0.5 }), 175);
  assert.equal(backoffDelay(1, { jitter: 0.25, random: () => 0 }), 200);
});

test("backoffDelay() does not draw from random without jitter", () => {
  let draws = 0;
  const random = () => {
    draws++;
    return 0.5;
  };
  assert.equal(backoffDelay(3, { jitter: 0, random }), 800);
  assert.equal(draws, 0);
  assert.equal(backoffDelay(3, { random }), 400);
  assert.equal(draws, 1);
});

test("backoffDelay() draws from Math.random by default", () => {
  const realRandom = Math.random;
  Math.random = () => 0.75;
  try {
    assert.equal(backoffDelay(0), 25);
  } finally {
    Math.random = realRandom;
  }
});

test("backoffDelay() is never negative nor above maxDelay", () => {
  for (const random of [() => 0, () => 0.5, () => 0.999_999, () => 1]) {
    for (const jitter of [0, 0.3, 1]) {
      for (const attempt of [...ATTEMPTS, 100, 1_100]) {
        const ms = backoffDelay(attempt, { minDelay: 7, maxDelay: 5_000, jitter, random });
        assert.ok(ms >= 0 && ms <= 5_000, `attempt ${attempt}, jitter ${jitter}: ${ms}`);
      }
    }
  }
});

test("backoffDelay() throws a RangeError for an attempt that is not a non-negative integer", () => {
  for (const attempt of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => backoffDelay(attempt), {
      name: "RangeError",
      message: `'attempt' must be a non-negative integer: received ${attempt}`,
    });
  }
});

test("backoffDelay() throws a RangeError for options out of range", () => {
  const cases: [BackoffOptions, string][] = [
    [{ minDelay: -1 }, "'minDelay' must be a non-negative finite number: received -1"],
    [{ minDelay: Infinity }, "'minDelay' must be a non-negative finite number: received Infinity"],
    [
      { minDelay: 100, maxDelay: 50 },
      "'maxDelay' must be a finite number of at least 'minDelay' (100): received 50",
    ],
    [
      { maxDelay: Infinity },
      "'maxDelay' must be a finite number of at least 'minDelay' (100): received Infinity",
    ],
    [{ multiplier: 0.5 }, "'multiplier' must be a finite number of at least 1: received 0.5"],
    [{ multiplier: NaN }, "'multiplier' must be a finite number of at least 1: received NaN"],
    [{ jitter: 1.5 }, "'jitter' must be a number from 0 to 1: received 1.5"],
    [{ jitter: -0.1 }, "'jitter' must be a number from 0 to 1: received -0.1"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => backoffDelay(0, options), { name: "RangeError", message });
  }
});

test("backoffDelay() throws a RangeError when random returns a value outside [0, 1]", () => {
  assert.throws(() => backoffDelay(0, { random: () => 2 }), {
    name: "RangeError",
    message: "'random' must return a number from 0 to 1: received 2",
  });
  assert.throws(() => backoffDelay(0, { random: () => NaN }), {
    name: "RangeError",
    message: "'random' must return a number from 0 to 1: received NaN",
  });
});

test("backoffDelay() throws a TypeError for options of the wrong type", () => {
  assert.throws(() => backoffDelay(0, { minDelay: "100" as unknown as number }), {
    name: "TypeError",
    message: "'minDelay' must be a number: received string",
  });
  assert.throws(() => backoffDelay("1" as unknown as number), {
    name: "TypeError",
    message: "'attempt' must be a number: received string",
  });
  assert.throws(() => backoffDelay(0, { random: 0.5 as unknown as () => number }), {
    name: "TypeError",
    message: "'random' must be a function: received number",
  });
});
