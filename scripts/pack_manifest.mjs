#!/usr/bin/env node
// The package.json that `npm pack` and `npm publish` put in the tarball: this repository's,
// without what only this repository uses: `scripts`, `devDependencies` and `allowScripts` (the
// dev tools whose install scripts npm may run here). The scripts run files the tarball does not
// carry (test/, bench/, scripts/), and npm 11 warns every project that installs the tarball
// about its `prepare` ("1 package has install scripts").
//
//   node scripts/pack_manifest.mjs strip     (the `prepack` script) keeps package.json as
//                                            package.json.unpacked and writes the stripped one
//   node scripts/pack_manifest.mjs restore   (the `postpack` script) puts the original back
//
// A pack that failed between the two leaves package.json.unpacked behind: `strip` restores it
// first, so the original is never lost, and `restore` can be run by hand.

import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = join(root, "package.json");
const kept = join(root, "package.json.unpacked");

/** Puts the original package.json back, when a strip left it aside. */
function restore() {
  if (existsSync(kept)) renameSync(kept, manifest);
}

const command = process.argv[2];
if (command === "restore") restore();
else if (command === "strip") {
  restore();
  const text = readFileSync(manifest, "utf8");
  const { scripts: _s, devDependencies: _d, allowScripts: _a, ...published } = JSON.parse(text);
  writeFileSync(kept, text);
  writeFileSync(manifest, JSON.stringify(published, null, 2) + "\n");
} else {
  console.error(`Usage: node scripts/pack_manifest.mjs strip|restore (received ${command})`);
  process.exit(2);
}
