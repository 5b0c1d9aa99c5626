/**
 * The part of the Standard Schema interface (https://standardschema.dev) edgepod uses, so any
 * compliant validator (valibot, zod, arktype, ...) can check job input without a dependency.
 *
 * @module
 */

/** A validation issue. */
export interface StandardIssue {
  /** What is wrong. */
  readonly message: string;
  /** Where: keys, or segments with a `key`. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}

/** The result of validating a value. */
export type StandardResult<O> =
  | { readonly value: O; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> };

/**
 * A Standard Schema: any object with a `~standard` property holding `validate`.
 *
 * @typeParam O The validated output type.
 *
 * @example A valibot schema is one
 * ```ts
 * import * as v from "valibot";
 * import type { StandardSchema } from "./standard_schema.ts";
 * const schema: StandardSchema<{ prompt: string }> = v.object({ prompt: v.string() });
 * ```
 */
export interface StandardSchema<O = unknown> {
  /** The Standard Schema properties. */
  readonly "~standard": {
    /** The spec version, 1. */
    readonly version: 1;
    /** The library that made the schema. */
    readonly vendor: string;
    /** Validates a value. */
    readonly validate: (value: unknown) => StandardResult<O> | Promise<StandardResult<O>>;
  };
}

/**
 * Tells whether a value is a Standard Schema.
 *
 * @param value Anything.
 * @returns `true` when it has a `~standard.validate` function.
 *
 * @example
 * ```ts
 * import { isStandardSchema } from "./standard_schema.ts";
 * console.assert(!isStandardSchema({}));
 * ```
 */
export function isStandardSchema(value: unknown): value is StandardSchema {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as { "~standard"?: { validate?: unknown } })["~standard"];
  return typeof props === "object" && props !== null && typeof props.validate === "function";
}
