import { test } from "node:test";
import assert from "node:assert/strict";
import { renderMessage, RunPodLogger, type RunPodLoggerOptions } from "../src/run_pod_logger.ts";
import { LOG_LEVELS, type LogLevel, parseLogLevel } from "../src/log_level.ts";

/** A logger whose writes are recorded, one entry per call to `write`. */
function recording(options: Omit<RunPodLoggerOptions, "write"> = {}) {
  const writes: string[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const log = new RunPodLogger({
    ...options,
    write: (text) => {
      writes.push(text);
      for (const w of waiters.filter((w) => writes.length >= w.count)) w.resolve();
    },
  });
  /** Resolves once `count` writes have happened (a busy logger may defer a write by ~1 ms). */
  const writesReach = (count: number) =>
    writes.length >= count
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ count, resolve }));
  return { log, writes, writesReach };
}

/** Logs `message` at `level` through the level's method. */
function logAt(log: RunPodLogger, level: Exclude<LogLevel, "NOTSET">, message: string) {
  const methods = {
    TRACE: log.trace,
    DEBUG: log.debug,
    INFO: log.info,
    WARN: log.warn,
    ERROR: log.error,
  } as const;
  methods[level].call(log, message);
}

const MESSAGE_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] as const;

// --- LOG_LEVELS / parseLogLevel ---

test("LOG_LEVELS lists the levels in order", () => {
  assert.deepEqual([...LOG_LEVELS], ["NOTSET", "TRACE", "DEBUG", "INFO", "WARN", "ERROR"]);
});

test("parseLogLevel() accepts every level name in any case", () => {
  for (const level of LOG_LEVELS) {
    assert.equal(parseLogLevel(level), level);
    assert.equal(parseLogLevel(level.toLowerCase()), level);
    assert.equal(parseLogLevel(level[0] + level.slice(1).toLowerCase()), level);
  }
});

test("parseLogLevel() reads WARNING as WARN", () => {
  assert.equal(parseLogLevel("WARNING"), "WARN");
  assert.equal(parseLogLevel("warning"), "WARN");
});

test("parseLogLevel() reads integers as indices into LOG_LEVELS", () => {
  assert.equal(parseLogLevel("0"), "NOTSET");
  assert.equal(parseLogLevel("1"), "TRACE");
  assert.equal(parseLogLevel("2"), "DEBUG");
  assert.equal(parseLogLevel("3"), "INFO");
  assert.equal(parseLogLevel("4"), "WARN");
  assert.equal(parseLogLevel("5"), "ERROR");
});

test("parseLogLevel() ignores surrounding whitespace", () => {
  assert.equal(parseLogLevel(" debug\n"), "DEBUG");
  assert.equal(parseLogLevel(" 3 "), "INFO");
});

test("parseLogLevel() returns undefined for anything else", () => {
  for (const value of ["", "LOUD", "6", "-1", "3.0", "1e0", "INFO!", "constructor", "__proto__"]) {
    assert.equal(parseLogLevel(value), undefined, `for ${JSON.stringify(value)}`);
  }
});

// --- levels ---

test("RunPodLogger defaults to level INFO", () => {
  const { log } = recording();
  assert.equal(log.level, "INFO");
});

for (const threshold of LOG_LEVELS) {
  test(`RunPodLogger at ${threshold} prints exactly the levels at or above it`, () => {
    const { log, writes } = recording({ level: threshold });
    for (const level of MESSAGE_LEVELS) logAt(log, level, level);
    log.flush();
    const printed = writes.join("").split("\n").filter(Boolean).map((line) => line.split(" ")[0]);
    const index = LOG_LEVELS.indexOf(threshold);
    const expected = threshold === "NOTSET"
      ? []
      : MESSAGE_LEVELS.filter((level) => LOG_LEVELS.indexOf(level) >= index);
    assert.deepEqual(printed, expected);
  });

  test(`RunPodLogger.enabled() at ${threshold} agrees with what prints`, () => {
    const { log } = recording({ level: threshold });
    const index = LOG_LEVELS.indexOf(threshold);
    for (const level of MESSAGE_LEVELS) {
      const expected = threshold !== "NOTSET" && index <= LOG_LEVELS.indexOf(level);
      assert.equal(log.enabled(level), expected, `${level} at ${threshold}`);
    }
  });
}

test("RunPodLogger at NOTSET never writes", async () => {
  const { log, writes } = recording({ level: "NOTSET" });
  for (const level of MESSAGE_LEVELS) logAt(log, level, "x");
  log.forJob({ id: "j" }).error("x");
  log.flush();
  await Promise.resolve();
  assert.deepEqual(writes, []);
});

test("RunPodLogger.level setter changes what prints", () => {
  const { log, writes } = recording({ level: "ERROR" });
  log.info("hidden");
  log.level = "DEBUG";
  assert.equal(log.level, "DEBUG");
  log.debug("shown");
  log.flush();
  assert.equal(writes.join(""), "DEBUG  | shown\n");
});

test("RunPodLogger.level setter accepts names in any case, WARNING and indices", () => {
  const { log } = recording();
  log.level = "trace";
  assert.equal(log.level, "TRACE");
  log.level = "Warning";
  assert.equal(log.level, "WARN");
  log.level = "5";
  assert.equal(log.level, "ERROR");
  log.level = "0";
  assert.equal(log.level, "NOTSET");
});

test("RunPodLogger.level setter throws a RangeError for an invalid level and keeps the level", () => {
  const { log } = recording({ level: "DEBUG" });
  for (const value of ["LOUD", "", "9"]) {
    assert.throws(() => (log.level = value), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, new RegExp(`received ${value}`));
      return true;
    });
    assert.equal(log.level, "DEBUG");
  }
});

// --- text format ---

test("RunPodLogger writes a text line with a job id exactly as the Python SDK", () => {
  const { log, writes } = recording();
  log.info("test_message", "test_job_id");
  log.flush();
  assert.deepEqual(writes, ["INFO   | test_job_id | test_message\n"]);
});

test("RunPodLogger writes a text line without a job id exactly as the Python SDK", () => {
  const { log, writes } = recording();
  log.info("test_message");
  log.flush();
  assert.deepEqual(writes, ["INFO   | test_message\n"]);
});

test("RunPodLogger pads every level name to 7 characters", () => {
  const { log, writes } = recording({ level: "TRACE" });
  for (const level of MESSAGE_LEVELS) logAt(log, level, "m");
  log.flush();
  assert.equal(
    writes.join(""),
    "TRACE  | m\nDEBUG  | m\nINFO   | m\nWARN   | m\nERROR  | m\n",
  );
});

test("RunPodLogger passes the job id through every level method", () => {
  const { log, writes } = recording({ level: "TRACE" });
  log.trace("t", "j");
  log.debug("d", "j");
  log.info("i", "j");
  log.warn("w", "j");
  log.error("e", "j");
  log.flush();
  assert.equal(
    writes.join(""),
    "TRACE  | j | t\nDEBUG  | j | d\nINFO   | j | i\nWARN   | j | w\nERROR  | j | e\n",
  );
});

test("RunPodLogger.log() writes whatever the level threshold", () => {
  const { log, writes } = recording({ level: "ERROR" });
  log.log("DEBUG", "forced", "j1");
  log.flush();
  assert.deepEqual(writes, ["DEBUG  | j1 | forced\n"]);
});

test("RunPodLogger.log() prefixes the batch id", () => {
  const { log, writes } = recording();
  log.log("INFO", "hello", "j1", "b7");
  log.flush();
  assert.deepEqual(writes, ["INFO   | j1 | [batchId=b7] hello\n"]);
});

// --- JSON format ---

test("RunPodLogger writes a JSON line with a job id exactly as the Python SDK", () => {
  const { log, writes } = recording({ json: true });
  log.info("test_message", "test_job_id");
  log.flush();
  assert.deepEqual(writes, [
    '{"requestId": "test_job_id", "message": "test_message", "level": "INFO"}\n',
  ]);
});

test("RunPodLogger writes requestId null in a JSON line without a job id", () => {
  const { log, writes } = recording({ json: true });
  log.info("test_message");
  log.flush();
  assert.deepEqual(writes, ['{"requestId": null, "message": "test_message", "level": "INFO"}\n']);
});

test("RunPodLogger writes JSON lines that parse, escaping quotes and newlines", () => {
  const { log, writes } = recording({ json: true, level: "TRACE" });
  const message = 'say "hi"\nsecond line\\ \t end';
  log.warn(message, 'job "7"');
  log.flush();
  const lines = writes.join("").split("\n").filter(Boolean);
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), { requestId: 'job "7"', message, level: "WARN" });
});

test("RunPodLogger writes every level name in JSON lines", () => {
  const { log, writes } = recording({ json: true, level: "TRACE" });
  for (const level of MESSAGE_LEVELS) logAt(log, level, "m");
  log.flush();
  const levels = writes.join("").split("\n").filter(Boolean).map((line) => JSON.parse(line).level);
  assert.deepEqual(levels, [...MESSAGE_LEVELS]);
});

// --- truncation ---

test("RunPodLogger keeps a message of exactly 4096 characters whole", () => {
  const { log, writes } = recording();
  const message = "a".repeat(4096);
  log.info(message);
  log.flush();
  assert.equal(writes.join(""), `INFO   | ${message}\n`);
});

test("RunPodLogger truncates a message over 4096 characters to its first and last 2048", () => {
  const { log, writes } = recording();
  const message = "H".repeat(2048) + "m".repeat(5000 - 4096) + "T".repeat(2048);
  assert.equal(message.length, 5000);
  log.info(message);
  log.flush();
  const expected = "H".repeat(2048) + "\n...TRUNCATED 904 CHARACTERS...\n" + "T".repeat(2048);
  assert.deepEqual(writes, [`INFO   | ${expected}\n`]);
});

test("RunPodLogger reports one truncated character for a message of 4097", () => {
  const { log, writes } = recording();
  const message = "a".repeat(2048) + "b" + "c".repeat(2048);
  log.info(message, "j");
  log.flush();
  assert.deepEqual(writes, [
    `INFO   | j | ${"a".repeat(2048)}\n...TRUNCATED 1 CHARACTERS...\n${"c".repeat(2048)}\n`,
  ]);
});

test("RunPodLogger truncates inside a JSON line", () => {
  const { log, writes } = recording({ json: true });
  const message = "x".repeat(10_000);
  log.error(message, "j");
  log.flush();
  const line = JSON.parse(writes.join(""));
  assert.equal(
    line.message,
    `${"x".repeat(2048)}\n...TRUNCATED 5904 CHARACTERS...\n${"x".repeat(2048)}`,
  );
  assert.equal(line.requestId, "j");
});

// --- forJob ---

test("RunPodLogger.forJob() writes lines carrying the job id", () => {
  const { log, writes } = recording();
  log.forJob({ id: "job-9" }).info("loaded model");
  log.flush();
  assert.deepEqual(writes, ["INFO   | job-9 | loaded model\n"]);
});

test("RunPodLogger.forJob() prefixes the batch id", () => {
  const { log, writes } = recording({ json: true });
  log.forJob({ id: "job-9", batchId: "batch-3" }).warn("slow");
  log.flush();
  assert.deepEqual(writes, [
    '{"requestId": "job-9", "message": "[batchId=batch-3] slow", "level": "WARN"}\n',
  ]);
});

test("RunPodLogger.forJob() respects the logger's level, read when logging", () => {
  const { log, writes } = recording({ level: "WARN" });
  const jobLog = log.forJob({ id: "j" });
  jobLog.info("hidden");
  jobLog.error("shown");
  log.level = "TRACE";
  jobLog.trace("now shown");
  log.flush();
  assert.equal(writes.join(""), "ERROR  | j | shown\nTRACE  | j | now shown\n");
});

test("RunPodLogger.forJob() offers every level", () => {
  const { log, writes } = recording({ level: "TRACE" });
  const jobLog = log.forJob({ id: "j" });
  jobLog.trace("t");
  jobLog.debug("d");
  jobLog.info("i");
  jobLog.warn("w");
  jobLog.error("e");
  log.flush();
  assert.equal(
    writes.join(""),
    "TRACE  | j | t\nDEBUG  | j | d\nINFO   | j | i\nWARN   | j | w\nERROR  | j | e\n",
  );
});

test("RunPodLogger.forJob() counts the batch prefix in the 4096-character limit", () => {
  const { log, writes } = recording();
  const message = "z".repeat(4096);
  log.forJob({ id: "j", batchId: "b" }).info(message);
  log.flush();
  const prefixed = `[batchId=b] ${message}`;
  const expected = `${prefixed.slice(0, 2048)}\n...TRUNCATED ${
    prefixed.length - 4096
  } CHARACTERS...\n${prefixed.slice(-2048)}`;
  assert.deepEqual(writes, [`INFO   | j | ${expected}\n`]);
});

// --- buffering ---

test("RunPodLogger writes nothing synchronously and a burst in one write on the next microtask", async () => {
  const { log, writes } = recording();
  log.info("one");
  log.info("two", "j");
  log.warn("three");
  assert.deepEqual(writes, []);
  await Promise.resolve();
  assert.deepEqual(writes, ["INFO   | one\nINFO   | j | two\nWARN   | three\n"]);
});

test("RunPodLogger writes a later burst in a separate write", async () => {
  const { log, writes, writesReach } = recording();
  log.info("a");
  await Promise.resolve();
  log.info("b");
  log.info("c");
  await writesReach(2);
  assert.deepEqual(writes, ["INFO   | a\n", "INFO   | b\nINFO   | c\n"]);
});

test("RunPodLogger.flush() writes buffered lines synchronously", () => {
  const { log, writes } = recording();
  log.info("a");
  log.info("b");
  log.flush();
  assert.deepEqual(writes, ["INFO   | a\nINFO   | b\n"]);
});

test("RunPodLogger.flush() with nothing buffered does not write", async () => {
  const { log, writes } = recording();
  log.flush();
  log.info("a");
  log.flush();
  log.flush();
  await Promise.resolve();
  assert.deepEqual(writes, ["INFO   | a\n"]);
});

test("RunPodLogger does not write a line twice after an explicit flush", async () => {
  const { log, writes } = recording();
  log.info("a");
  log.flush();
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(writes, ["INFO   | a\n"]);
});

test("RunPodLogger writes synchronously once 256 lines accumulate", async () => {
  const { log, writes, writesReach } = recording();
  for (let i = 0; i < 255; i++) log.info(`line ${i}`);
  assert.equal(writes.length, 0);
  log.info("line 255");
  assert.equal(writes.length, 1);
  const lines = writes[0]!.split("\n");
  assert.equal(lines.length, 257); // 256 lines and the empty string after the last "\n"
  assert.equal(lines[0], "INFO   | line 0");
  assert.equal(lines[255], "INFO   | line 255");
  log.info("line 256");
  assert.equal(writes.length, 1);
  await writesReach(2);
  assert.deepEqual(writes.slice(1), ["INFO   | line 256\n"]);
});

test("RunPodLogger keeps every line in order across size-triggered writes", async () => {
  const { log, writes, writesReach } = recording();
  for (let i = 0; i < 1000; i++) log.info(String(i));
  await writesReach(4);
  const lines = writes.join("").split("\n").filter(Boolean);
  assert.deepEqual(lines, Array.from({ length: 1000 }, (_, i) => `INFO   | ${i}`));
  assert.equal(writes.length, 4); // 3 × 256, then the other 232 together
});

test("RunPodLogger does not buffer lines below its level", async () => {
  const { log, writes } = recording({ level: "WARN" });
  log.info("hidden");
  log.debug("hidden");
  await Promise.resolve();
  assert.deepEqual(writes, []);
});

// --- renderMessage ---

test("renderMessage() returns strings unchanged", () => {
  assert.equal(renderMessage("plain"), "plain");
  assert.equal(renderMessage(""), "");
  assert.equal(renderMessage('{"a":1}'), '{"a":1}');
});

test("renderMessage() renders an error with its stack", () => {
  const error = new TypeError("bad thing");
  assert.equal(renderMessage(error), error.stack);
  assert.match(renderMessage(error), /TypeError: bad thing/);
});

test("renderMessage() renders an error without a stack as name and message", () => {
  const error = new RangeError("out");
  error.stack = undefined;
  assert.equal(renderMessage(error), "RangeError: out");
});

test("renderMessage() renders objects, arrays and primitives as JSON", () => {
  assert.equal(renderMessage({ a: 1, b: [true, null] }), '{"a":1,"b":[true,null]}');
  assert.equal(renderMessage([1, "x"]), '[1,"x"]');
  assert.equal(renderMessage(42), "42");
  assert.equal(renderMessage(true), "true");
  assert.equal(renderMessage(null), "null");
});

test("renderMessage() renders values JSON skips with String()", () => {
  assert.equal(renderMessage(undefined), "undefined");
  assert.equal(renderMessage(Symbol("s")), "Symbol(s)");
  assert.equal(typeof renderMessage(() => 1), "string");
});

test("renderMessage() renders unserialisable values without throwing", () => {
  assert.equal(renderMessage(12n), "12");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(renderMessage(cyclic), "[object Object]");
  assert.equal(typeof renderMessage({ n: 1n }), "string");
});

test("RunPodLogger renders non-string messages in lines", () => {
  const { log, writes } = recording();
  log.info({ step: 1 }, "j");
  log.info(7);
  log.flush();
  assert.equal(writes.join(""), 'INFO   | j | {"step":1}\nINFO   | 7\n');
});

test("RunPodLogger() throws a RangeError for an invalid level option", () => {
  assert.throws(() => new RunPodLogger({ level: "LOUD" as never }), RangeError);
});
