/**
 * Add-on sections of `BENCHMARKS.md`: each is written between `<!-- section:NAME -->` markers, so
 * `npm run bench -- --only NAME` can refresh one section and keep the rest of the report.
 *
 * @module
 */

/**
 * Puts `content` into the marked section `name` of `markdown`, replacing what was there, or
 * appends it before the report's `## Notes` (else at the end).
 *
 * @param markdown The report.
 * @param name The section's name.
 * @param content Its Markdown.
 * @returns The new report.
 *
 * @example
 * ```ts
 * import { spliceSection } from "./_sections.ts";
 * const once = spliceSection("# R\n\n## Notes\n", "push", "## Push\n");
 * const twice = spliceSection(once, "push", "## Push v2\n");
 * console.assert(twice.includes("Push v2") && !twice.includes("## Push\n"));
 * ```
 */
export function spliceSection(markdown: string, name: string, content: string): string {
  const open = `<!-- section:${name} -->`;
  const close = `<!-- /section:${name} -->`;
  const block = `${open}\n${content.trimEnd()}\n${close}\n`;
  const start = markdown.indexOf(open);
  const end = markdown.indexOf(close);
  if (start >= 0 && end > start) {
    return markdown.slice(0, start) + block + markdown.slice(end + close.length).replace(/^\n/, "");
  }
  const notes = markdown.indexOf("\n## Notes\n");
  if (notes < 0) return `${markdown.trimEnd()}\n\n${block}`;
  return `${markdown.slice(0, notes + 1)}${block}\n${markdown.slice(notes + 1)}`;
}

/**
 * The marked sections of a report, by name.
 *
 * @param markdown The report.
 * @returns Each section's content, without its markers.
 *
 * @example
 * ```ts
 * import { readSections, spliceSection } from "./_sections.ts";
 * console.assert(readSections(spliceSection("", "a", "A")).get("a") === "A");
 * ```
 */
export function readSections(markdown: string): Map<string, string> {
  const found = new Map<string, string>();
  for (
    const match of markdown.matchAll(
      /<!-- section:([\w-]+) -->\n([\s\S]*?)\n<!-- \/section:\1 -->/g,
    )
  ) {
    found.set(match[1]!, match[2]!);
  }
  return found;
}
