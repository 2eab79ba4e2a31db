#!/usr/bin/env node
// `npm run build`: compiles src/ into dist/ (tsc -p tsconfig.build.json) and
// records in dist/.built-from what it was compiled from, so that the systemd
// unit (MUMUKA_FROM=dist) can tell a current build from a stale one
// (bin/source-digest.js). The digest is taken before tsc runs: a file changed
// during the build makes the build stale, not current.
//
// tsc writes into a new directory (dist.next/), which then replaces dist/
// whole: a module removed from src/ does not linger in dist/, and dist/ is
// never half-written or missing for the length of a compilation (only for the
// moment between two renames). A gateway running from dist/ must still be
// restarted after a build: the threads and modules it loads later would
// otherwise come from the new build, unchecked against the old.
//
// No untrusted input; a failed or interrupted build leaves the old dist/ as it
// was, which bin/mumuka.js refuses if src/ has changed since it was built.
import { spawnSync } from "node:child_process";
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BUILT_FROM, sourceDigest } from "./source-digest.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const next = path.join(root, "dist.next");
const old = path.join(root, "dist.old");
const digest = sourceDigest(root);
rmSync(next, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json"), "--outDir", next], { stdio: "inherit" });
if (r.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  process.stderr.write(`build: tsc failed (${r.signal ?? `exit ${r.status}`}); dist/ is left as it was\n`);
  process.exit(r.status || 1);
}
writeFileSync(path.join(next, BUILT_FROM), `${digest}\n`);
rmSync(old, { recursive: true, force: true });
if (existsSync(dist)) renameSync(dist, old);
renameSync(next, dist);
rmSync(old, { recursive: true, force: true });
