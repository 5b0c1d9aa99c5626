/**
 * Internal: how the push intake reads a body as JSON text: the `Content-Type` policy, strict
 * UTF-8 and a nesting bound checked before `JSON.parse`.
 *
 * @module
 */

const JSON_TYPE_REGEXP = /^application\/(?:[a-z0-9!#$&^_.+-]+\+)?json$/;
const SNIFFED_TYPES = new Set(["text/plain", "application/octet-stream"]);
const MAX_CONTENT_TYPE_LENGTH = 1024;
/** One decoder for every body: making one per request costs more than decoding a small body. */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** What a `Content-Type` header allows. */
export type ContentType =
  | { kind: "json" }
  | { kind: "sniffed"; label: string }
  | { kind: "refused"; message: string };

const JSON_TYPE: ContentType = Object.freeze({ kind: "json" });

/** The policy for one `Content-Type` value (`null` when absent). */
export function contentType(header: string | null): ContentType {
  if (header === null || header === "application/json") return JSON_TYPE;
  if (header.trim() === "") return JSON_TYPE;
  if (header.length > MAX_CONTENT_TYPE_LENGTH) {
    return {
      kind: "refused",
      message: `the Content-Type header is longer than ${MAX_CONTENT_TYPE_LENGTH} characters`,
    };
  }
  const [essence = "", ...parameters] = header.split(";");
  const media = essence.trim().toLowerCase();
  for (const parameter of parameters) {
    const eq = parameter.indexOf("=");
    if (eq < 0 || parameter.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    const charset = parameter.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1").toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8") {
      return {
        kind: "refused",
        message: `unsupported charset ${JSON.stringify(charset.slice(0, 40))}: send JSON as UTF-8`,
      };
    }
  }
  if (JSON_TYPE_REGEXP.test(media)) return JSON_TYPE;
  if (SNIFFED_TYPES.has(media)) return { kind: "sniffed", label: media };
  return {
    kind: "refused",
    message: `unsupported Content-Type ${
      JSON.stringify(media.slice(0, 100))
    }: send the job as JSON with Content-Type: application/json`,
  };
}

/** Whether arrays and objects in `text` nest deeper than `max` (strings are skipped). */
export function exceedsDepth(text: string, max: number): boolean {
  if (text.length <= max) return false; // each level takes a character at least
  // Native scans jump between the characters that matter: brackets, and quotes (whose string
  // is then skipped whole with indexOf, minding escaped quotes).
  const structural = /["[\]{}]/g;
  let depth = 0;
  let match: RegExpExecArray | null;
  while ((match = structural.exec(text)) !== null) {
    const c = match[0];
    if (c === '"') {
      let end = structural.lastIndex;
      while (true) {
        end = text.indexOf('"', end);
        if (end < 0) return false; // an unterminated string: JSON.parse refuses it
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
        end++;
      }
      structural.lastIndex = end + 1;
    } else if (c === "[" || c === "{") {
      if (++depth > max) return true;
    } else {
      depth--;
    }
  }
  return false;
}

/** `bytes` as strict UTF-8 (a leading BOM dropped), or `undefined` when they are not. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The 415 message for a sniffed type whose body is not JSON. */
export function notJson(label: string): string {
  return `the body is not JSON and its Content-Type is ${label}: send JSON with Content-Type: application/json`;
}
