import { test } from "node:test";
import assert from "node:assert/strict";
import { deferred } from "../src/async/deferred.ts";

test("deferred() resolves with the value passed to resolve", async () => {
  const d = deferred<number>();
  d.resolve(42);
  assert.equal(await d.promise, 42);
});

test("deferred() rejects with the reason passed to reject", async () => {
  const d = deferred<number>();
  const reason = new Error("Nope");
  d.reject(reason);
  await assert.rejects(d.promise, (error) => error === reason);
});

test("deferred() ignores calls after the first settlement", async () => {
  const d = deferred<string>();
  d.resolve("first");
  d.resolve("second");
  d.reject(new Error("Too late"));
  assert.equal(await d.promise, "first");
});

test("deferred() adopts the outcome of a promise passed to resolve", async () => {
  const d = deferred<string>();
  const reason = new Error("Inner");
  d.resolve(Promise.reject(reason));
  await assert.rejects(d.promise, (error) => error === reason);
});

test("deferred() stays pending until settled", async () => {
  const d = deferred<void>();
  let settled = false;
  d.promise.then(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, false);
  d.resolve();
  await d.promise;
  assert.equal(settled, true);
});

test("deferred() has the shape of Promise.withResolvers()", () => {
  const d = deferred<number>();
  assert.deepEqual(Object.keys(d).sort(), ["promise", "reject", "resolve"]);
  assert.ok(d.promise instanceof Promise);
  assert.equal(typeof d.resolve, "function");
  assert.equal(typeof d.reject, "function");
});
