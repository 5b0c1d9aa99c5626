#!/usr/bin/env node
// `npm run build` (and `prepare`): builds what the npm package ships, dist/.
//   1. src/pull/heartbeat_thread_source.ts from src/pull/heartbeat_thread.ts (scripts/thread_source.mjs);
//      with --check it is compared instead of written, and a stale file fails the build.
//   2. tsc -p tsconfig.build.json: JavaScript and .d.ts for every runtime.
//   3. The .d.ts files' relative `.ts` specifiers become `.js` (tsc rewrites them in .js only), so
//      TypeScript and Deno find the declarations next to the code inside node_modules.

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
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
console.log(`build: dist/ compiled; ${rewritten} declaration files pointed at .js`);
