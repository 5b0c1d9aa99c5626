/**
 * `readTakeResponse` and `retryAfter` against protocol §3.2 (take responses), §3.3 (job JSON)
 * and §12 (back-off, `Retry-After`, per-element validation of a batch).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readTakeResponse, retryAfter, type TakeOutcome } from "../src/pull/take_response.ts";
import { httpResponse } from "./support/http_doubles.ts";

const JSON_TYPE = { "content-type": "application/json" };

/** Reads a 200 JSON answer with this body. */
function take200(body: string): TakeOutcome {
  return readTakeResponse(httpResponse(200, body, JSON_TYPE));
}

/** Narrows an outcome to `jobs`. */
function jobsOf(outcome: TakeOutcome) {
  assert.equal(outcome.kind, "jobs", JSON.stringify(outcome));
  return outcome as Extract<TakeOutcome, { kind: "jobs" }>;
}

// --- statuses ---

test("readTakeResponse() reads 204 as no job", () => {
  assert.equal(readTakeResponse(httpResponse(204)).kind, "none");
});

test("readTakeResponse() reads 400 as no job, with the FlashBoot note", () => {
  const outcome = readTakeResponse(httpResponse(400, "bad request"));
  assert.equal(outcome.kind, "none");
  assert.match((outcome as { note?: string }).note ?? "", /FlashBoot/);
});

test("readTakeResponse() reads 429 with Retry-After in seconds as throttled", () => {
  const outcome = readTakeResponse(httpResponse(429, "", { "Retry-After": "3" }));
  assert.deepEqual(outcome, { kind: "throttled", retryAfterMs: 3000 });
});

test("readTakeResponse() reads 429 with Retry-After as an HTTP date as throttled", () => {
  const past = readTakeResponse(
    httpResponse(429, "", { "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT" }),
  );
  assert.deepEqual(past, { kind: "throttled", retryAfterMs: 0 });
  const date = new Date(Date.now() + 3_600_000).toUTCString();
  const future = readTakeResponse(httpResponse(429, "", { "Retry-After": date }));
  assert.equal(future.kind, "throttled");
  const ms = (future as { retryAfterMs?: number }).retryAfterMs;
  assert.ok(ms !== undefined && ms > 0 && ms <= 3_600_000, `retryAfterMs: ${ms}`);
});

test("readTakeResponse() reads 429 without Retry-After as throttled with no delay given", () => {
  const outcome = readTakeResponse(httpResponse(429, "Too Many Requests"));
  assert.equal(outcome.kind, "throttled");
  assert.equal((outcome as { retryAfterMs?: number }).retryAfterMs, undefined);
});

test("readTakeResponse() reads 500 and other 5xx as errors naming the status", () => {
  for (const status of [500, 502, 503, 504]) {
    const outcome = readTakeResponse(httpResponse(status, "upstream down"));
    assert.equal(outcome.kind, "error", String(status));
    assert.match((outcome as { message: string }).message, new RegExp(String(status)));
  }
});

test("readTakeResponse() reads 4xx other than 400 and 429 as errors naming the status", () => {
  for (const status of [401, 403, 404, 405, 413, 418]) {
    const outcome = readTakeResponse(httpResponse(status, "nope"));
    assert.equal(outcome.kind, "error", String(status));
    assert.match((outcome as { message: string }).message, new RegExp(String(status)));
  }
});

// --- bodies ---

test("readTakeResponse() reads an empty 200 body as no job", () => {
  assert.equal(take200("").kind, "none");
});

test("readTakeResponse() reads a whitespace-only body as no job", () => {
  assert.equal(take200("  \r\n\t ").kind, "none");
});

test("readTakeResponse() reads a body that is not JSON as no job", () => {
  for (const body of ["{", "<html>gateway</html>", "id=j1&input=1", "[{]"]) {
    assert.equal(take200(body).kind, "none", body);
  }
});

test("readTakeResponse() reads a JSON object as one job", () => {
  const { jobs, rejected } = jobsOf(take200('{"id":"j1","input":{"prompt":"hi"}}'));
  assert.deepEqual(jobs, [{ id: "j1", input: { prompt: "hi" } }]);
  assert.deepEqual(rejected, []);
});

test("readTakeResponse() reads a JSON array as a batch, in order", () => {
  const { jobs, rejected } = jobsOf(
    take200('[{"id":"a","input":1},{"id":"b","input":2},{"id":"c","input":3}]'),
  );
  assert.deepEqual(jobs.map((job) => job.id), ["a", "b", "c"]);
  assert.deepEqual(jobs.map((job) => job.input), [1, 2, 3]);
  assert.deepEqual(rejected, []);
});

test("readTakeResponse() reads [] as no job", () => {
  // §3.2: "`[]` means no jobs", the same as 204, so the take loop backs off as for 204.
  assert.equal(take200("[]").kind, "none");
});

// --- job validation ---

test("readTakeResponse() rejects an entry without an id, with no id", () => {
  const { jobs, rejected } = jobsOf(take200('[{"input":1},{"id":"ok","input":2}]'));
  assert.deepEqual(jobs, [{ id: "ok", input: 2 }]);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.id, undefined);
  assert.match(rejected[0]!.reason, /id/);
});

test("readTakeResponse() rejects a single job without an id", () => {
  const { jobs, rejected } = jobsOf(take200('{"input":{"x":1}}'));
  assert.deepEqual(jobs, []);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.id, undefined);
});

test("readTakeResponse() rejects an id that is not a string or number, with no id", () => {
  for (const id of ["true", "null", "{}", '["a"]']) {
    const { jobs, rejected } = jobsOf(take200(`{"id":${id},"input":1}`));
    assert.deepEqual(jobs, [], id);
    assert.equal(rejected.length, 1, id);
    assert.equal(rejected[0]!.id, undefined, id);
  }
});

test("readTakeResponse() accepts a numeric id as its string", () => {
  const { jobs, rejected } = jobsOf(take200('{"id":42,"input":{"n":1},"webhook":null}'));
  assert.deepEqual(jobs, [{ id: "42", input: { n: 1 }, webhook: null }]);
  assert.equal(typeof jobs[0]!.id, "string");
  assert.deepEqual(rejected, []);
});

test("readTakeResponse() rejects an empty-string id, with no id", () => {
  const { jobs, rejected } = jobsOf(take200('{"id":"","input":1}'));
  assert.deepEqual(jobs, []);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.id, undefined);
});

test("readTakeResponse() rejects a job with an id but no input, keeping its id", () => {
  const { jobs, rejected } = jobsOf(take200('[{"id":"no-input"},{"id":"fine","input":0}]'));
  assert.deepEqual(jobs, [{ id: "fine", input: 0 }]);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.id, "no-input");
  assert.match(rejected[0]!.reason, /input/);
});

test("readTakeResponse() accepts input: null, since the key is present", () => {
  const { jobs, rejected } = jobsOf(take200('{"id":"j-null","input":null}'));
  assert.deepEqual(jobs, [{ id: "j-null", input: null }]);
  assert.deepEqual(rejected, []);
});

test("readTakeResponse() rejects non-object entries of a batch and keeps the others", () => {
  const { jobs, rejected } = jobsOf(
    take200('["sync-1", {"id":"a","input":1}, 7, null, [1], {"id":"b","input":2}]'),
  );
  assert.deepEqual(jobs, [{ id: "a", input: 1 }, { id: "b", input: 2 }]);
  assert.equal(rejected.length, 4);
  for (const entry of rejected) {
    assert.equal(entry.id, undefined);
    assert.equal(typeof entry.reason, "string");
    assert.ok(entry.reason.length > 0);
  }
});

test("readTakeResponse() rejects a top-level JSON value that is not an object", () => {
  for (const body of ['"j1"', "42", "null", "true"]) {
    const outcome = take200(body);
    const jobs = outcome.kind === "jobs" ? outcome.jobs : [];
    assert.deepEqual(jobs, [], body);
    assert.notEqual(outcome.kind, "error", body);
  }
});

test("readTakeResponse() passes extra keys through unchanged", () => {
  const job = {
    id: "sync-0f3e-e1",
    input: { prompt: "hi", nested: [1, { deep: true }] },
    webhook: "https://example.com/hook",
    batchId: "batch-7",
    extra_field: { a: [null, 1.5, "x"] },
  };
  const { jobs } = jobsOf(take200(JSON.stringify(job)));
  assert.deepEqual(jobs, [job]);
  const batch = jobsOf(take200(JSON.stringify([job, { ...job, id: 9 }])));
  assert.deepEqual(batch.jobs, [job, { ...job, id: "9" }]);
});

// --- retryAfter ---

test("retryAfter() reads delta-seconds as milliseconds", () => {
  assert.equal(retryAfter("0"), 0);
  assert.equal(retryAfter("2"), 2000);
  assert.equal(retryAfter("120"), 120_000);
});

test("retryAfter() reads an HTTP date, never returning a negative wait", () => {
  assert.equal(retryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
  const ms = retryAfter(new Date(Date.now() + 600_000).toUTCString());
  assert.ok(ms !== undefined && ms > 0 && ms <= 600_000, `retryAfter: ${ms}`);
});

test("retryAfter() returns undefined for a missing or unreadable value", () => {
  assert.equal(retryAfter(null), undefined);
  assert.equal(retryAfter(""), undefined);
  assert.equal(retryAfter("  "), undefined);
  assert.equal(retryAfter("soon"), undefined);
});

test("retryAfter() returns undefined for a negative number of seconds", () => {
  // RFC 9110: delay-seconds is 1*DIGIT; "-1" is neither that nor an HTTP date.
  assert.equal(retryAfter("-1"), undefined);
  assert.equal(retryAfter("-30"), undefined);
});
