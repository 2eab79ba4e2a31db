#!/usr/bin/env node
// `npm run build`: compiles src/ into dist/ (tsc -p tsconfig.build.json) and
// records in dist/.built-from what it was compiled from, so that the systemd
// unit (MUMUKA_FROM=dist) can tell a current build from a stale one
// (bin/source-digest.js). The digest is taken before tsc runs: a file changed
// during the build makes the build stale, not current.
//
// No untrusted input; a failed or interrupted build leaves dist/ without a
// new record, which bin/mumuka.js treats as stale.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BUILT_FROM, sourceDigest } from "./source-digest.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const record = path.join(root, "dist", BUILT_FROM);
const digest = sourceDigest(root);
// the old record goes first: a build that fails half-way must not leave dist/ looking current
rmSync(record, { force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });
if (r.status !== 0) {
  process.stderr.write(`build: tsc failed (${r.signal ?? `exit ${r.status}`}); dist/ is not current\n`);
  process.exit(r.status || 1);
}
mkdirSync(path.dirname(record), { recursive: true });
writeFileSync(record, `${digest}\n`);
