#!/usr/bin/env node
// `npm run build` (and `prepare`): builds what the npm package ships, dist/.
//   1. src/pull/heartbeat_thread_source.ts from src/pull/heartbeat_thread.ts (scripts/thread_source.mjs);
//      with --check it is compared instead of written, and a stale file fails the build.
//   2. tsc -p tsconfig.build.json: JavaScript and .d.ts for every runtime.
//   3. The .d.ts files' relative `.ts` specifiers become `.js` (tsc rewrites them in .js only), so
//      TypeScript and Deno find the declarations next to the code inside node_modules.
//   4. dist/bundle/: the entry points (deno.json's exports) bundled by esbuild from that JavaScript, with shared
//      chunks (one copy of every class, whichever entry imports it) and each runtime adapter in
//      its own chunk, loaded only on its runtime. Dependencies stay external. This is what the
//      package's exports point at: one module instead of ~60 per start, which is most of what
//      importing edgepod cost Node (BENCHMARKS.md).

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { THREAD_SOURCE_FILE, threadSourceModule } from "./thread_source.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");

const generated = await threadSourceModule();
const file = join(root, THREAD_SOURCE_FILE);
if (check) {
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // Missing: reported below.
  }
  if (current !== generated) {
    console.error(
      `${THREAD_SOURCE_FILE} is out of date with src/pull/heartbeat_thread.ts: run npm run build and commit it`,
    );
    process.exit(1);
  }
} else {
  writeFileSync(file, generated);
}

// A clean dist/: files of deleted sources must not linger into the package.
rmSync(join(root, "dist"), { recursive: true, force: true });
const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

/** Rewrites `"./x.ts"` in import/export specifiers (and `import("./x.ts")` types) to `.js`. */
function rewriteDeclaration(text) {
  return text.replace(/((?:from|import)\s*\(?\s*)(["'])(\.\.?\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
}

let rewritten = 0;
for (const entry of readdirSync(join(root, "dist"), { recursive: true })) {
  if (!String(entry).endsWith(".d.ts")) continue;
  const path = join(root, "dist", String(entry));
  const text = readFileSync(path, "utf8");
  const next = rewriteDeclaration(text);
  if (next !== text) {
    writeFileSync(path, next);
    rewritten++;
  }
}
await build({
  absWorkingDir: root,
  // One bundle per deno.json export: "." is auto.js, "./node" node.js, and so on; package.json's
  // exports point at them (test/exports.test.ts checks the two agree).
  entryPoints: Object.fromEntries(
    Object.entries(JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports).map((
      [subpath, source],
    ) => [subpath === "." ? "auto" : subpath.slice(2), `dist/${source.slice(2, -3)}.js`]),
  ),
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  outdir: "dist/bundle",
  chunkNames: "chunk-[hash]",
  external: ["node:*", "valibot", "hono", "hono/*", "@hono/node-server"],
  legalComments: "none",
  logLevel: "warning",
});
console.log(
  `build: dist/ compiled, ${rewritten} declaration files pointed at .js, dist/bundle/ bundled`,
);
