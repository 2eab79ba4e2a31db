// What a build of dist/ was built from: a SHA-256 over src/ (every file, by
// its path relative to the checkout and its bytes) and the two tsconfig files
// that shape the output. bin/build.js writes it into dist/ (BUILT_FROM) when it
// builds; bin/mumuka.js, told to run the built code (MUMUKA_FROM=dist, the
// systemd unit), compares it with the checkout's src/ and refuses a dist/ that
// no longer matches (a `git pull` without `npm run build`) instead of running
// the old code. A digest of the bytes, not of timestamps: copies, archives and
// checkouts do not keep the order of modification times.
//
// Reads only this checkout's own files; no state.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/** the file in dist/ that records the digest of the source it was built from */
export const BUILT_FROM = ".built-from";

/** hex SHA-256 of src/ and the tsconfig files of the checkout at `root` */
export function sourceDigest(root) {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      // a symbolic link counts as what it points to, as tsc reads it through the link
      const kind = entry.isSymbolicLink() ? statSync(path.join(root, rel)) : entry;
      if (kind.isDirectory()) walk(rel);
      else if (kind.isFile()) files.push(rel);
    }
  };
  walk("src");
  files.push("tsconfig.json", "tsconfig.build.json");
  files.sort();
  const hash = createHash("sha256");
  for (const file of files) {
    const bytes = readFileSync(path.join(root, file));
    // name and length first: no two different trees hash the same bytes
    hash.update(`${file}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}
