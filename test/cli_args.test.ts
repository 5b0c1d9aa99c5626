import { test } from "node:test";
import assert from "node:assert/strict";
import { type CliArgs, parseCliArgs } from "../src/cli_args.ts";

const DEFAULTS: CliArgs = {
  rpDebugger: false,
  rpServeApi: false,
  rpApiPort: 8000,
  rpApiConcurrency: 1,
  rpApiHost: "localhost",
  push: false,
};

/** Parses `argv`, asserting it produced no errors. */
function parseOk(argv: string[]) {
  const parsed = parseCliArgs(argv);
  assert.deepEqual(parsed.errors, [], `unexpected errors for ${JSON.stringify(argv)}`);
  return parsed;
}

/** Parses `argv`, asserting exactly one error that matches every pattern. */
function parseError(argv: string[], ...patterns: RegExp[]) {
  const parsed = parseCliArgs(argv);
  assert.equal(parsed.errors.length, 1, `expected one error: ${JSON.stringify(parsed.errors)}`);
  for (const pattern of patterns) assert.match(parsed.errors[0]!, pattern);
  return parsed;
}

// --- defaults ---

test("parseCliArgs() gives the defaults for no arguments", () => {
  assert.deepEqual(parseCliArgs([]), { args: DEFAULTS, rest: [], errors: [] });
});

test("parseCliArgs() leaves the optional string flags unset by default", () => {
  const { args } = parseOk([]);
  assert.equal(args.rpLogLevel, undefined);
  assert.equal(args.testInput, undefined);
  assert.equal(args.testOutput, undefined);
});

// --- each flag ---

test("parseCliArgs() reads --rp_log_level", () => {
  assert.equal(parseOk(["--rp_log_level", "DEBUG"]).args.rpLogLevel, "DEBUG");
});

test("parseCliArgs() reads --rp_debugger as a boolean", () => {
  assert.deepEqual(parseOk(["--rp_debugger"]).args, { ...DEFAULTS, rpDebugger: true });
});

test("parseCliArgs() reads --rp_serve_api as a boolean", () => {
  assert.deepEqual(parseOk(["--rp_serve_api"]).args, { ...DEFAULTS, rpServeApi: true });
});

test("parseCliArgs() reads --rp_api_port as an integer", () => {
  const { args } = parseOk(["--rp_api_port", "9000"]);
  assert.equal(args.rpApiPort, 9000);
  assert.equal(typeof args.rpApiPort, "number");
});

test("parseCliArgs() reads --rp_api_concurrency as an integer", () => {
  assert.equal(parseOk(["--rp_api_concurrency", "4"]).args.rpApiConcurrency, 4);
});

test("parseCliArgs() reads --rp_api_host", () => {
  assert.equal(parseOk(["--rp_api_host", "0.0.0.0"]).args.rpApiHost, "0.0.0.0");
});

test("parseCliArgs() reads --test_input unparsed", () => {
  const json = '{"input": {"prompt": "hi"}}';
  assert.equal(parseOk(["--test_input", json]).args.testInput, json);
});

test("parseCliArgs() reads --test_output unparsed", () => {
  const json = '{"output": 1}';
  assert.equal(parseOk(["--test_output", json]).args.testOutput, json);
});

test("parseCliArgs() reads every flag together", () => {
  const { args, rest } = parseOk([
    "--rp_log_level",
    "TRACE",
    "--rp_debugger",
    "--rp_serve_api",
    "--rp_api_port",
    "8080",
    "--rp_api_concurrency",
    "3",
    "--rp_api_host",
    "127.0.0.1",
    "--test_input",
    '{"input":1}',
    "--test_output",
    '{"output":1}',
    "--push",
    "--host",
    "0.0.0.0",
    "--port",
    "9000",
  ]);
  assert.deepEqual(args, {
    rpLogLevel: "TRACE",
    rpDebugger: true,
    rpServeApi: true,
    rpApiPort: 8080,
    rpApiConcurrency: 3,
    rpApiHost: "127.0.0.1",
    testInput: '{"input":1}',
    testOutput: '{"output":1}',
    push: true,
    host: "0.0.0.0",
    port: 9000,
  });
  assert.deepEqual(rest, []);
});

// --- --flag=value ---

test("parseCliArgs() reads --flag=value", () => {
  const { args } = parseOk([
    "--rp_api_port=9001",
    "--rp_api_host=example.test",
    '--test_input={"input":{"a":1}}',
  ]);
  assert.equal(args.rpApiPort, 9001);
  assert.equal(args.rpApiHost, "example.test");
  assert.equal(args.testInput, '{"input":{"a":1}}');
});

test("parseCliArgs() splits --flag=value at the first equals sign", () => {
  assert.equal(parseOk(['--test_input={"q":"a=b"}']).args.testInput, '{"q":"a=b"}');
});

test("parseCliArgs() accepts an empty value after an equals sign", () => {
  assert.equal(parseOk(["--rp_api_host="]).args.rpApiHost, "");
});

test("parseCliArgs() accepts an empty value as a separate argument", () => {
  assert.equal(parseOk(["--rp_log_level", ""]).args.rpLogLevel, "");
});

test("parseCliArgs() takes a value that starts with a dash after an equals sign", () => {
  assert.equal(parseOk(["--rp_log_level=-x"]).args.rpLogLevel, "-x");
});

test("parseCliArgs() lets the last of a repeated flag win", () => {
  assert.equal(parseOk(["--rp_api_port", "1", "--rp_api_port=2"]).args.rpApiPort, 2);
});

// --- prefixes ---

test("parseCliArgs() accepts an unambiguous prefix", () => {
  assert.equal(parseOk(["--rp_api_p", "9000"]).args.rpApiPort, 9000);
  assert.equal(parseOk(["--rp_api_c", "2"]).args.rpApiConcurrency, 2);
  assert.equal(parseOk(["--rp_api_h", "h"]).args.rpApiHost, "h");
  assert.equal(parseOk(["--rp_d"]).args.rpDebugger, true);
  assert.equal(parseOk(["--rp_s"]).args.rpServeApi, true);
  assert.equal(parseOk(["--rp_l", "INFO"]).args.rpLogLevel, "INFO");
  assert.equal(parseOk(["--test_i", "{}"]).args.testInput, "{}");
  assert.equal(parseOk(["--t", "{}"]).args.testInput, "{}");
});

test("parseCliArgs() accepts an unambiguous prefix with =value", () => {
  assert.equal(parseOk(["--rp_api_p=9000"]).args.rpApiPort, 9000);
});

test("parseCliArgs() reads --test as --test_input, as the Python SDK's argparse does", () => {
  const { args, rest } = parseOk(["--test", '{"input":1}']);
  assert.equal(args.testInput, '{"input":1}');
  assert.equal(args.testOutput, undefined);
  assert.deepEqual(rest, []);
  assert.equal(parseOk(["--test={}"]).args.testInput, "{}");
});

test("parseCliArgs() reads edgepod's own flags only by their exact names", () => {
  const { args } = parseOk([
    "--push",
    "--host",
    "0.0.0.0",
    "--port",
    "8080",
    "--test_output",
    "{}",
  ]);
  assert.equal(args.push, true);
  assert.equal(args.host, "0.0.0.0");
  assert.equal(args.port, 8080);
  assert.equal(args.testOutput, "{}");
});

for (
  const argv of [
    ["--p", "5"],
    ["--pu"],
    ["--h", "myvalue"],
    ["--ho=x"],
    ["--po", "abc"],
    ["--test_o", "{}"],
  ]
) {
  test(`parseCliArgs() leaves the prefix ${argv[0]} of an edgepod flag to the user's parser`, () => {
    const { args, rest } = parseOk(argv);
    assert.deepEqual(rest, argv);
    assert.deepEqual(args, DEFAULTS);
  });
}

test("parseCliArgs() leaves a flag named like an Object.prototype member in rest", () => {
  const argv = ["--constructor", "x", "--toString", "--__proto__=1"];
  assert.deepEqual(parseOk(argv).rest, argv);
});

test("parseCliArgs() reports --rp_api as ambiguous, naming every candidate", () => {
  parseError(["--rp_api=1"], /--rp_api_port/, /--rp_api_concurrency/, /--rp_api_host/);
});

test("parseCliArgs() reports --rp as ambiguous", () => {
  parseError(["--rp"], /ambiguous/i, /--rp_debugger/);
});

// --- rest ---

test("parseCliArgs() keeps unknown arguments in order in rest", () => {
  const { args, rest } = parseOk([
    "--model",
    "llama",
    "--rp_serve_api",
    "positional",
    "-v",
    "--other=1",
    "--rp_api_port",
    "7000",
    "last",
  ]);
  assert.deepEqual(rest, ["--model", "llama", "positional", "-v", "--other=1", "last"]);
  assert.equal(args.rpServeApi, true);
  assert.equal(args.rpApiPort, 7000);
});

test("parseCliArgs() keeps a boolean flag's following argument in rest", () => {
  const { args, rest } = parseOk(["--rp_debugger", "extra"]);
  assert.equal(args.rpDebugger, true);
  assert.deepEqual(rest, ["extra"]);
});

test("parseCliArgs() does not treat a longer unknown flag as one of ours", () => {
  const { args, rest } = parseOk(["--rp_api_port_extra", "1"]);
  assert.equal(args.rpApiPort, 8000);
  assert.deepEqual(rest, ["--rp_api_port_extra", "1"]);
});

test("parseCliArgs() treats a single-dash argument as not ours", () => {
  const { args, rest } = parseOk(["-rp_debugger"]);
  assert.equal(args.rpDebugger, false);
  assert.deepEqual(rest, ["-rp_debugger"]);
});

test("parseCliArgs() leaves -- and everything after it in rest, unparsed", () => {
  const { args, rest } = parseOk(["--rp_debugger", "--", "--rp_serve_api", "--rp_api_port", "1"]);
  assert.equal(args.rpDebugger, true);
  assert.equal(args.rpServeApi, false);
  assert.equal(args.rpApiPort, 8000);
  assert.deepEqual(rest, ["--", "--rp_serve_api", "--rp_api_port", "1"]);
});

test("parseCliArgs() does not modify argv", () => {
  const argv = ["--rp_api_port", "1", "x"];
  parseCliArgs(argv);
  assert.deepEqual(argv, ["--rp_api_port", "1", "x"]);
});

// --- errors ---

test("parseCliArgs() rejects a value for a boolean flag", () => {
  const { args } = parseError(["--rp_debugger=yes"], /--rp_debugger/, /yes/);
  assert.equal(args.rpDebugger, false);
  parseError(["--rp_serve_api=true"], /--rp_serve_api/);
  parseError(["--rp_serve_api="], /--rp_serve_api/);
});

for (const bad of ["abc", "9000.5", "1e3", "0x10", "", " ", "12abc", "99999999999999999999"]) {
  test(`parseCliArgs() rejects the non-integer port ${JSON.stringify(bad)}`, () => {
    const { args } = parseError([`--rp_api_port=${bad}`], /--rp_api_port/, /integer/);
    assert.equal(args.rpApiPort, 8000);
  });
}

test("parseCliArgs() rejects a non-integer concurrency with a message", () => {
  const { args } = parseError(
    ["--rp_api_concurrency", "two"],
    /--rp_api_concurrency/,
    /integer/,
    /two/,
  );
  assert.equal(args.rpApiConcurrency, 1);
});

test("parseCliArgs() reports a missing value at the end", () => {
  for (const flag of ["--rp_log_level", "--rp_api_port", "--rp_api_host", "--test_input"]) {
    parseError([flag], new RegExp(flag), /value/);
  }
});

test("parseCliArgs() reports a missing value when a flag follows", () => {
  const { args, rest } = parseError(["--test_input", "--rp_serve_api"], /--test_input/, /value/);
  assert.equal(args.testInput, undefined);
  assert.equal(args.rpServeApi, true);
  assert.deepEqual(rest, []);
});

test("parseCliArgs() reports a missing value when an unknown flag follows", () => {
  const { rest } = parseError(["--rp_api_host", "--mine"], /--rp_api_host/);
  assert.deepEqual(rest, ["--mine"]);
});

test("parseCliArgs() reports every problem", () => {
  const { errors } = parseCliArgs(["--test", "--rp_debugger=1", "--rp_api_port", "x"]);
  assert.equal(errors.length, 3);
});

// --- negative numbers ---

test("parseCliArgs() takes a negative number as a value, not a flag", () => {
  assert.equal(parseOk(["--rp_api_port", "-5"]).args.rpApiPort, -5);
  assert.equal(parseOk(["--rp_api_concurrency", "-1"]).args.rpApiConcurrency, -1);
  assert.equal(parseOk(["--test_input", "-1"]).args.testInput, "-1");
  assert.equal(parseOk(["--test_output", "-2.5"]).args.testOutput, "-2.5");
});

test("parseCliArgs() keeps a negative number that is not a value in rest", () => {
  assert.deepEqual(parseOk(["-3"]).rest, ["-3"]);
});
