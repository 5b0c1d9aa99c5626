/**
 * `registerFitnessCheck` and `runFitnessChecks` (protocol §1.5: checks before the first job).
 *
 * The registry is module-global and only grows, so every check registered here is driven by
 * `plan`: each test sets the behaviour it needs and the order of the tests does not matter.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { registerFitnessCheck, runFitnessChecks } from "../src/worker/fitness_checks.ts";

/** What each check does in the current test; absent means "pass". */
let plan: Record<string, () => unknown> = {};
/** The checks that ran in the current test, in order. */
const calls: string[] = [];

function behave(name: string): unknown {
  calls.push(name);
  return plan[name]?.();
}

/** The checks registered by `setup`, in registration order. */
const BASE = ["syncCheck", "asyncCheck", "anonymous", "lastCheck"];

let registered = false;

/** Registers the base checks once; then sets the plan for this test. */
function scenario(next: Record<string, () => unknown> = {}): void {
  if (!registered) {
    registered = true;
    registerFitnessCheck(function syncCheck() {
      return behave("syncCheck");
    });
    registerFitnessCheck(async function asyncCheck() {
      await Promise.resolve();
      return await behave("asyncCheck");
    });
    const anonymous = () => behave("anonymous");
    Object.defineProperty(anonymous, "name", { value: "" });
    registerFitnessCheck(anonymous);
    registerFitnessCheck(async function lastCheck() {
      return await behave("lastCheck");
    });
  }
  plan = next;
  calls.length = 0;
}

/** The base checks that ran, in order. */
function baseCalls(): string[] {
  return calls.filter((name) => BASE.includes(name));
}

test("runFitnessChecks() runs sync and async checks in registration order", async () => {
  scenario();
  assert.equal(await runFitnessChecks(), undefined);
  assert.deepEqual(baseCalls(), BASE);
});

test("runFitnessChecks() counts a check that returns nothing, 0, null or '' as passed", async () => {
  scenario({
    syncCheck: () => undefined,
    asyncCheck: () => 0,
    anonymous: () => null,
    lastCheck: () => "",
  });
  assert.equal(await runFitnessChecks(), undefined);
  assert.deepEqual(baseCalls(), BASE);
});

test("runFitnessChecks() stops at the first throwing check, giving its name, type and message", async () => {
  scenario({
    asyncCheck: () => {
      throw new RangeError("Only 2 GB of GPU memory");
    },
    lastCheck: () => {
      throw new Error("must not run");
    },
  });
  assert.deepEqual(await runFitnessChecks(), {
    name: "asyncCheck",
    type: "RangeError",
    message: "Only 2 GB of GPU memory",
  });
  assert.deepEqual(calls, ["syncCheck", "asyncCheck"]);
});

test("runFitnessChecks() stops at a check whose promise rejects", async () => {
  class ModelError extends Error {
    override name = "ModelError";
  }
  scenario({ lastCheck: () => Promise.reject(new ModelError("weights missing")) });
  const failure = await runFitnessChecks();
  assert.deepEqual(failure, { name: "lastCheck", type: "ModelError", message: "weights missing" });
  assert.deepEqual(baseCalls(), BASE);
});

test("runFitnessChecks() counts false as a failure", async () => {
  scenario({ syncCheck: () => false });
  const failure = await runFitnessChecks();
  assert.equal(failure?.name, "syncCheck");
  assert.equal(failure?.type, "Error");
  assert.match(failure?.message ?? "", /false/);
  assert.deepEqual(calls, ["syncCheck"]);
});

test("runFitnessChecks() counts a promise of false as a failure", async () => {
  scenario({ asyncCheck: () => Promise.resolve(false) });
  const failure = await runFitnessChecks();
  assert.equal(failure?.name, "asyncCheck");
  assert.deepEqual(calls, ["syncCheck", "asyncCheck"]);
});

test("runFitnessChecks() names an anonymous check by its position", async () => {
  scenario({
    anonymous: () => {
      throw new Error("disk full");
    },
  });
  assert.deepEqual(await runFitnessChecks(), {
    name: "check 3",
    type: "Error",
    message: "disk full",
  });
  assert.deepEqual(calls, ["syncCheck", "asyncCheck", "anonymous"]);
});

test("runFitnessChecks() reports a thrown non-Error with its text", async () => {
  scenario({
    syncCheck: () => {
      throw "no network";
    },
  });
  const failure = await runFitnessChecks();
  assert.equal(failure?.name, "syncCheck");
  assert.equal(failure?.message, "no network");
  assert.equal(typeof failure?.type, "string");
});

test("registerFitnessCheck() throws a TypeError for a non-function and registers nothing", async () => {
  scenario();
  for (const value of [undefined, null, "check", 42, {}, [() => true]]) {
    assert.throws(() => registerFitnessCheck(value as never), (error: unknown) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /function/);
      return true;
    });
  }
  assert.equal(await runFitnessChecks(), undefined);
  assert.deepEqual(baseCalls(), BASE);
});

test("registerFitnessCheck() returns the check, for the decorator style", async () => {
  scenario();
  const check = function decorated() {
    return behave("decorated");
  };
  assert.equal(registerFitnessCheck(check), check);
  assert.equal(await runFitnessChecks(), undefined);
  assert.equal(calls.at(-1), "decorated");
  scenario({ decorated: () => false });
  assert.equal((await runFitnessChecks())?.name, "decorated");
});
