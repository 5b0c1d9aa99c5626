/**
 * Checking `job.input` against a Standard Schema before the handler runs (the role of the Python
 * SDK's `rp_validator`).
 *
 * @module
 */

import type { StandardIssue, StandardSchema } from "./standard_schema.ts";

/** The outcome of {@linkcode validateInput}. */
export type InputValidation =
  | { ok: true; value: unknown }
  | { ok: false; message: string; issues: string[] };

/**
 * Validates a job's input. On success the value is the schema's output (defaults applied,
 * transforms run); on failure every issue is listed with its path from `input`.
 *
 * @param schema Any Standard Schema (valibot, zod, ...).
 * @param input The job's `input`.
 * @returns The validated value, or the issues.
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * import { validateInput } from "./validate_input.ts";
 * const r = await validateInput(v.object({ prompt: v.string() }), { prompt: 1 });
 * console.assert(!r.ok && r.issues[0]!.startsWith("input.prompt:"));
 * ```
 */
export async function validateInput(
  schema: StandardSchema,
  input: unknown,
): Promise<InputValidation> {
  const result = await schema["~standard"].validate(input);
  if (!result.issues) return { ok: true, value: result.value };
  const issues = result.issues.map(describeIssue);
  return {
    ok: false,
    issues,
    message: `Input validation failed (${issues.length} ${
      issues.length === 1 ? "issue" : "issues"
    }): ${issues.join("; ")}`,
  };
}

function describeIssue(issue: StandardIssue): string {
  const keys = (issue.path ?? []).map((p) =>
    String(typeof p === "object" && p !== null ? p.key : p)
  );
  return `${["input", ...keys].join(".")}: ${issue.message}`;
}
