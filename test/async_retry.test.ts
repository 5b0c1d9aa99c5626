import { test } from "node:test";
import assert from "node:assert/strict";
import { retry, RetryError, type RetryOptions } from "../src/async/retry.ts";

/** Records the `onRetry` calls of a `retry`. */
function recorder() {
  const calls: { error: unknown; attempt: number; delayMs: number }[] = [];
  const onRetry = (error: unknown, attempt: number, delayMs: number) => {
    calls.push({ error, attempt, delayMs });
  };
  return { calls, onRetry };
}

/** Fails with `Error("Failure <attempt>")` until attempt `succeedAt`, then returns "ok". */
function flaky(succeedAt: number) {
  const attempts: number[] = [];
  const fn = (attempt: number) => {
    attempts.push(attempt);
    if (attempt < succeedAt) throw new Error(`Failure ${attempt}`);
    return Promise.resolve("ok");
  };
  return { attempts, fn };
}

test("retry() resolves with the first success after failures", async () => {
  const { attempts, fn } = flaky(2);
  assert.equal(await retry(fn, { minDelay: 0 }), "ok");
  assert.deepEqual(attempts, [0, 1, 2]);
});

test("retry() does not wait when the first attempt succeeds", async () => {
  const { calls, onRetry } = recorder();
  assert.equal(await retry(() => 1, { onRetry }), 1);
  assert.equal(calls.length, 0);
});

test("retry() accepts a synchronous function", async () => {
  let calls = 0;
  const result = await retry(() => {
    if (++calls < 2) throw new Error("Once");
    return 5;
  }, { minDelay: 0 });
  assert.equal(result, 5);
});

test("retry() passes the signal to each attempt", async () => {
  const controller = new AbortController();
  const seen: (AbortSignal | undefined)[] = [];
  await retry((_attempt, signal) => {
    seen.push(signal);
    if (seen.length < 2) throw new Error("Again");
    return true;
  }, { minDelay: 0, signal: controller.signal });
  assert.deepEqual(seen, [controller.signal, controller.signal]);
});

test("retry() waits the back-off delays between attempts", async () => {
  const { fn } = flaky(3);
  const { calls, onRetry } = recorder();
  await retry(fn, { minDelay: 1, jitter: 0, onRetry });
  assert.deepEqual(calls.map((call) => [call.attempt, call.delayMs]), [[0, 1], [1, 2], [2, 4]]);
  assert.deepEqual(calls.map((call) => (call.error as Error).message), [
    "Failure 0",
    "Failure 1",
    "Failure 2",
  ]);
});

test("retry() draws the jitter from the injected random", async () => {
  const { fn } = flaky(2);
  const { calls, onRetry } = recorder();
  await retry(fn, { minDelay: 2, maxDelay: 3, random: () => 0.5, onRetry });
  assert.deepEqual(calls.map((call) => call.delayMs), [1, 1.5]);
});

test("retry() rejects with a RetryError after maxAttempts failures", async () => {
  const { attempts, fn } = flaky(Infinity);
  const error = await retry(fn, { maxAttempts: 3, minDelay: 0 }).catch((e: unknown) => e);
  assert.ok(error instanceof RetryError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "RetryError");
  assert.equal(error.attempts, 3);
  assert.equal((error.cause as Error).message, "Failure 2");
  assert.equal(error.message, "Retrying failed after 3 attempts: Failure 2");
  assert.deepEqual(attempts, [0, 1, 2]);
});

test("retry() makes 5 attempts by default", async () => {
  const { attempts, fn } = flaky(Infinity);
  await assert.rejects(retry(fn, { minDelay: 0 }), { name: "RetryError", attempts: 5 });
  assert.equal(attempts.length, 5);
});

test("retry() with maxAttempts 1 makes a single attempt", async () => {
  const { calls, onRetry } = recorder();
  const error = await retry(() => Promise.reject("not an Error"), { maxAttempts: 1, onRetry })
    .catch((e: unknown) => e);
  assert.ok(error instanceof RetryError);
  assert.equal(error.attempts, 1);
  assert.equal(error.cause, "not an Error");
  assert.equal(error.message, "Retrying failed after 1 attempt");
  assert.equal(calls.length, 0);
});

test("retry() with maxAttempts Infinity retries until success", async () => {
  const { attempts, fn } = flaky(7);
  assert.equal(await retry(fn, { maxAttempts: Infinity, minDelay: 0 }), "ok");
  assert.equal(attempts.length, 8);
});

test("retry() rethrows the original error when shouldRetry returns false", async () => {
  const fatal = new Error("Bad request");
  const seen: [unknown, number][] = [];
  let calls = 0;
  const result = retry(() => {
    calls++;
    throw calls === 1 ? new Error("Unavailable") : fatal;
  }, {
    minDelay: 0,
    shouldRetry: (error, attempt) => {
      seen.push([error, attempt]);
      return error !== fatal;
    },
  });
  await assert.rejects(result, (e) => e === fatal);
  assert.equal(calls, 2);
  assert.deepEqual(seen.map(([, attempt]) => attempt), [0, 1]);
  assert.equal(seen[1]![0], fatal);
});

test("retry() rethrows the original error on the last attempt when shouldRetry returns false", async () => {
  const fatal = new Error("Bad request");
  await assert.rejects(
    retry(() => Promise.reject(fatal), { maxAttempts: 1, shouldRetry: () => false }),
    (e) => e === fatal,
  );
});

test("retry() uses the delay from delayFor in place of the back-off", async () => {
  const { fn } = flaky(2);
  const { calls, onRetry } = recorder();
  const seen: [string, number][] = [];
  const delayFor = (error: unknown, attempt: number) => {
    seen.push([(error as Error).message, attempt]);
    return attempt === 0 ? 0 : 1;
  };
  // A back-off of a minute would hang the test if delayFor were not honoured.
  await retry(fn, { minDelay: 60_000, maxDelay: 60_000, delayFor, onRetry });
  assert.deepEqual(calls.map((call) => call.delayMs), [0, 1]);
  assert.deepEqual(seen, [["Failure 0", 0], ["Failure 1", 1]]);
});

test("retry() falls back to the back-off when delayFor returns undefined", async () => {
  const { fn } = flaky(2);
  const { calls, onRetry } = recorder();
  const delayFor = (_error: unknown, attempt: number) => (attempt === 0 ? 0 : undefined);
  await retry(fn, { minDelay: 1, jitter: 0, delayFor, onRetry });
  assert.deepEqual(calls.map((call) => call.delayMs), [0, 2]);
});

test("retry() rejects when delayFor returns an invalid delay", async () => {
  await assert.rejects(retry(() => Promise.reject(new Error("x")), { delayFor: () => -1 }), {
    name: "RangeError",
    message: "'delayFor' must return a non-negative number: received -1",
  });
  const delayFor = () => "10" as unknown as number;
  await assert.rejects(retry(() => Promise.reject(new Error("x")), { delayFor }), {
    name: "TypeError",
    message: "'delayFor' must return a number or undefined: received string",
  });
});

test("retry() rejects with the error of a throwing hook", async () => {
  const hookError = new Error("Hook failed");
  const onRetry = () => {
    throw hookError;
  };
  await assert.rejects(
    retry(() => Promise.reject(new Error("x")), { onRetry }),
    (e) => e === hookError,
  );
});

test("retry() rejects with the signal's reason when aborted before the call", async () => {
  const controller = new AbortController();
  const reason = new Error("Already stopped");
  controller.abort(reason);
  let calls = 0;
  await assert.rejects(retry(() => ++calls, { signal: controller.signal }), (e) => e === reason);
  assert.equal(calls, 0);
});

test("retry() rejects with the signal's reason when aborted during a wait", async () => {
  const controller = new AbortController();
  const reason = new Error("Shutting down");
  let calls = 0;
  const result = retry(() => {
    calls++;
    throw new Error("Unavailable");
  }, {
    // A wait of a minute would hang the test if the abort were not honoured.
    minDelay: 60_000,
    maxDelay: 60_000,
    signal: controller.signal,
    onRetry: () => queueMicrotask(() => controller.abort(reason)),
  });
  await assert.rejects(result, (e) => e === reason);
  assert.equal(calls, 1);
});

test("retry() rejects with the signal's reason when aborted during an attempt", async () => {
  const controller = new AbortController();
  const reason = new Error("Shutting down");
  const result = retry(() => new Promise<never>(() => {}), { signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(result, (e) => e === reason);
});

test("retry() prefers the signal's reason over the error of an aborted attempt", async () => {
  const controller = new AbortController();
  const reason = new Error("Shutting down");
  const result = retry((_attempt, signal) => {
    controller.abort(reason);
    throw new Error("Attempt failed because of the abort: " + signal?.aborted);
  }, { signal: controller.signal });
  await assert.rejects(result, (e) => e === reason);
});

test("retry() validates its arguments before the first attempt", async () => {
  let calls = 0;
  const fn = () => ++calls;
  const cases: [RetryOptions, string, string][] = [
    [
      { maxAttempts: 0 },
      "RangeError",
      "'maxAttempts' must be a positive integer or Infinity: received 0",
    ],
    [
      { maxAttempts: 1.5 },
      "RangeError",
      "'maxAttempts' must be a positive integer or Infinity: received 1.5",
    ],
    [
      { maxAttempts: NaN },
      "RangeError",
      "'maxAttempts' must be a positive integer or Infinity: received NaN",
    ],
    [
      { maxAttempts: "3" as unknown as number },
      "TypeError",
      "'maxAttempts' must be a number: received string",
    ],
    [
      { minDelay: -5 },
      "RangeError",
      "'minDelay' must be a non-negative finite number: received -5",
    ],
    [{ jitter: 2 }, "RangeError", "'jitter' must be a number from 0 to 1: received 2"],
    [
      { onRetry: 1 as unknown as () => void },
      "TypeError",
      "'onRetry' must be a function: received number",
    ],
    [
      { shouldRetry: true as unknown as () => boolean },
      "TypeError",
      "'shouldRetry' must be a function: received boolean",
    ],
    [
      { delayFor: 0 as unknown as () => number },
      "TypeError",
      "'delayFor' must be a function: received number",
    ],
    [
      { random: 0.5 as unknown as () => number },
      "TypeError",
      "'random' must be a function: received number",
    ],
  ];
  for (const [options, name, message] of cases) {
    await assert.rejects(retry(fn, options), { name, message });
  }
  await assert.rejects(retry(42 as unknown as () => number), {
    name: "TypeError",
    message: "'fn' must be a function: received number",
  });
  assert.equal(calls, 0);
});

test("retry() does not draw from random to validate the options", async () => {
  let draws = 0;
  const random = () => {
    draws++;
    return 0;
  };
  await retry(() => "ok", { random });
  assert.equal(draws, 0);
});

test("RetryError() keeps the cause and the number of attempts", () => {
  const cause = new TypeError("fetch failed");
  const error = new RetryError(cause, 4);
  assert.equal(error.name, "RetryError");
  assert.equal(error.cause, cause);
  assert.equal(error.attempts, 4);
  assert.equal(error.message, "Retrying failed after 4 attempts: fetch failed");
  assert.ok(error instanceof Error);
});
