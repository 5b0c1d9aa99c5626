/**
 * The Python SDK's command-line flags, parsed the way argparse does it, and edgepod's own flags
 * (by their exact names only).
 *
 * @module
 */

/** The flags edgepod understands. */
export interface CliArgs {
  /** `--rp_log_level`: overrides `RUNPOD_LOG_LEVEL`. */
  rpLogLevel?: string;
  /** `--rp_debugger`: adds timing data to plain-object outputs. */
  rpDebugger: boolean;
  /** `--rp_serve_api`: serve the local dev API. */
  rpServeApi: boolean;
  /** `--rp_api_port`. @default 8000 */
  rpApiPort: number;
  /** `--rp_api_concurrency`: the dev API's concurrency limit. @default 1 */
  rpApiConcurrency: number;
  /** `--rp_api_host`. @default "localhost" */
  rpApiHost: string;
  /** `--push`: serve the HTTP push intake (as `EDGEPOD_MODE=push`). */
  push: boolean;
  /** `--host`: the push intake's listen address (else `HOST`). */
  host?: string;
  /** `--port`: the push intake's port (else `PORT`). */
  port?: number;
  /** `--test_input '<json>'`: the local test job, unparsed. */
  testInput?: string;
  /** `--test_output '<json>'`: the expected output of the local test job, unparsed. */
  testOutput?: string;
}

/** The result of {@linkcode parseCliArgs}. */
export interface ParsedCliArgs {
  /** The recognised flags. */
  args: CliArgs;
  /** Arguments that are not ours, in order, for the user's own parser. */
  rest: string[];
  /** What was wrong, one message per problem; empty when all is well. */
  errors: string[];
}

type Kind = "string" | "boolean" | "integer";

/**
 * The Python SDK's own flags (its argparse parser defines exactly these): matched as argparse
 * does, by any unambiguous prefix among them, so `--test` is `--test_input` there as here.
 */
const SDK_FLAGS: Record<string, [key: keyof CliArgs, kind: Kind]> = {
  rp_log_level: ["rpLogLevel", "string"],
  rp_debugger: ["rpDebugger", "boolean"],
  rp_serve_api: ["rpServeApi", "boolean"],
  rp_api_port: ["rpApiPort", "integer"],
  rp_api_concurrency: ["rpApiConcurrency", "integer"],
  rp_api_host: ["rpApiHost", "string"],
  test_input: ["testInput", "string"],
};
/**
 * edgepod's own flags (the SDK's parser has none of them; it only mentions `test_output`):
 * matched by their exact names only, so a user's `--p` or `--h` stays the user's.
 */
const OWN_FLAGS: Record<string, [key: keyof CliArgs, kind: Kind]> = {
  push: ["push", "boolean"],
  host: ["host", "string"],
  port: ["port", "integer"],
  test_output: ["testOutput", "string"],
};
const SDK_NAMES = Object.keys(SDK_FLAGS);

/**
 * Parses the flags the Python SDK accepts, with argparse's rules: `--flag value` or
 * `--flag=value`, any unambiguous prefix of an SDK flag name (`--rp_api_p` is `--rp_api_port`,
 * `--test` is `--test_input`), and unknown arguments left in `rest` for the user's own parser.
 * edgepod's own flags (`--push`, `--host`, `--port`, `--test_output`) are read only when written
 * in full; a prefix of them (`--p`, `--h`, `--po`) is left in `rest`.
 *
 * @param argv The arguments after the script path.
 * @returns The flags, the other arguments and any errors.
 *
 * @example
 * ```ts
 * import { parseCliArgs } from "./cli_args.ts";
 * const { args, rest } = parseCliArgs(["--test", '{"input":1}', "--p", "5"]);
 * console.assert(args.testInput === '{"input":1}' && rest.join(" ") === "--p 5");
 * ```
 */
export function parseCliArgs(argv: readonly string[]): ParsedCliArgs {
  const args: CliArgs = {
    rpDebugger: false,
    rpServeApi: false,
    rpApiPort: 8000,
    rpApiConcurrency: 1,
    rpApiHost: "localhost",
    push: false,
  };
  const rest: string[] = [];
  const errors: string[] = [];
  const values = args as unknown as Record<string, unknown>;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      // argparse: everything after `--` is positional, so none of it is ours.
      rest.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith("--")) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const written = arg.slice(2, eq === -1 ? undefined : eq);
    const matches = Object.hasOwn(SDK_FLAGS, written) || Object.hasOwn(OWN_FLAGS, written)
      ? [written]
      : SDK_NAMES.filter((n) => n.startsWith(written));
    if (matches.length === 0) {
      rest.push(arg);
      continue;
    }
    if (matches.length > 1) {
      errors.push(
        `Ambiguous option --${written}: it could be ${matches.map((m) => `--${m}`).join(" or ")}`,
      );
      continue;
    }
    const name = matches[0]!;
    const [key, kind] = SDK_FLAGS[name] ?? OWN_FLAGS[name]!;
    if (kind === "boolean") {
      if (eq !== -1) errors.push(`Option --${name} takes no value: received ${arg.slice(eq + 1)}`);
      else values[key] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !isFlag(argv[i + 1]!)) value = argv[++i];
    if (value === undefined) {
      errors.push(`Option --${name} expects a value`);
      continue;
    }
    if (kind === "integer") {
      const n = Number(value);
      if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
        errors.push(`Option --${name} must be an integer: received ${value}`);
        continue;
      }
      values[key] = n;
    } else {
      values[key] = value;
    }
  }
  return { args, rest, errors };
}

/** argparse treats `-x`/`--x` as a flag but a negative number as a value. */
function isFlag(arg: string): boolean {
  return arg.startsWith("-") && !/^-\d/.test(arg);
}
