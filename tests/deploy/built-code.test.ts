/**
 * The systemd unit runs the built code (MUMUKA_FROM=dist: dist/, compiled by `npm run build`), and
 * never an old build as if it were current. In a copy of the checkout, built once:
 *  - `mumuka serve` from dist/ loads only compiled .js in every thread (main, receiver, sanitizer):
 *    no TypeScript type stripper anywhere (issue 13: about 11 MiB per isolate), and every worker
 *    the code picks by its own file name has its .js beside it in dist/;
 *  - a src/ changed after the build (a `git pull` without the build), a build without its record
 *    (tsc alone, a failed build) and a missing dist/ are refused in one line naming the command;
 *  - without MUMUKA_FROM a checkout runs src/ as before (`./run mumuka`, development; no build needed).
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modulesLoadedByServe } from "../helpers/modules-loaded.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-built-"));
const copy = path.join(dir, "checkout");
const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };

beforeAll(() => {
  for (const item of ["src", "bin", "package.json", "tsconfig.json", "tsconfig.build.json"]) cpSync(path.join(REPO, item), path.join(copy, item), { recursive: true });
  symlinkSync(realpathSync(path.join(REPO, "node_modules")), path.join(copy, "node_modules"));
  // an earlier build's module whose source has since been removed: the build must not leave it behind
  mkdirSync(path.join(copy, "dist"));
  writeFileSync(path.join(copy, "dist", "removed-since.js"), "export {};\n");
  // the build as an operator runs it (npm run build = node bin/build.js)
  const r = spawnSync(process.execPath, [path.join(copy, "bin", "build.js")], { cwd: copy, encoding: "utf8", timeout: 240_000 });
  if (r.status !== 0) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
}, 250_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `mumuka ARGS` in the copy, with MUMUKA_FROM as given (undefined: not set) */
function mumuka(from: string | undefined, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.MUMUKA_FROM;
  if (from !== undefined) env.MUMUKA_FROM = from;
  const r = spawnSync(process.execPath, [path.join(copy, "bin", "mumuka.js"), ...args], { cwd: dir, env, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectRefusal(r: { code: number | null; stdout: string; stderr: string }): void {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  const lines = r.stderr.split("\n").filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("./run npm run build");
  expect(lines[0]).toContain(copy);
}

describe("the unit", () => {
  it("runs bin/mumuka.js with MUMUKA_FROM=dist", () => {
    const unit = readFileSync(path.join(REPO, "deploy", "mumuka.service"), "utf8");
    expect(unit).toMatch(/^Environment=MUMUKA_FROM=dist$/m);
    expect(unit).toMatch(/^ExecStart=\S+ \/opt\/mumuka\/bin\/mumuka\.js serve /m);
  });
});

describe("mumuka serve from dist/", () => {
  it("loads compiled JavaScript only, in every thread, and stops cleanly", async () => {
    const run = await modulesLoadedByServe({ dir, entry: path.join(copy, "bin", "mumuka.js"), cwd: dir, env: { ...process.env, MUMUKA_FROM: "dist" } });
    expect(run.code).toBe(0);

    const own = pathToFileURL(copy).href + "/";
    const loaded = run.loaded
      .filter((x) => x.url.startsWith(own) && !x.url.startsWith(`${own}node_modules/`));
    const rel = (u: string) => u.slice(own.length);
    // the gateway's threads started their compiled workers (a hook that saw nothing would pass the check below)
    expect(loaded.map((x) => rel(x.url))).toEqual(expect.arrayContaining(["dist/cli.js", "dist/serve.js", "dist/receive/receiver-worker.js", "dist/sanitize-pool/worker.js"]));
    expect(new Set(loaded.map((x) => x.thread)).size).toBeGreaterThanOrEqual(3);
    const notBuilt = loaded.map((x) => rel(x.url)).filter((u) => !(u.startsWith("dist/") && u.endsWith(".js")) && !u.startsWith("bin/"));
    expect(notBuilt).toEqual([]);
  }, 60_000);

  it("every worker the code picks by its own file name (.ts or .js) is compiled beside it", () => {
    const picks: string[] = [];
    const walk = (sub: string) => {
      for (const e of readdirSync(path.join(REPO, "src", sub), { withFileTypes: true })) {
        const rel = path.join(sub, e.name);
        if (e.isDirectory()) walk(rel);
        else if (e.name.endsWith(".ts")) {
          const text = readFileSync(path.join(REPO, "src", rel), "utf8");
          for (const m of text.matchAll(/import\.meta\.url\.endsWith\("\.ts"\) \? "(\.\/[\w./-]+)\.ts" : "(\.\/[\w./-]+)\.js"/g)) {
            expect(m[1]).toBe(m[2]);
            picks.push(path.join(path.dirname(rel), `${m[2]}.js`));
          }
        }
      }
    };
    walk("");
    // the receiver, the sanitizer pool, authentication, text extraction, the rules replay
    expect(picks.length).toBeGreaterThanOrEqual(5);
    expect(picks.filter((p) => !existsSync(path.join(copy, "dist", p)))).toEqual([]);
  });
});

describe("the build", () => {
  it("replaces dist/ whole: an old build's module whose source is gone is not left behind, nor the build's own directories", () => {
    expect(existsSync(path.join(copy, "dist", "removed-since.js"))).toBe(false);
    expect(existsSync(path.join(copy, "dist", "cli.js"))).toBe(true);
    expect(existsSync(path.join(copy, "dist.next")) || existsSync(path.join(copy, "dist.old"))).toBe(false);
  });
});

describe("a build that is not current is refused, never run", () => {
  it("runs a current build", () => {
    expect(mumuka("dist", "--version")).toEqual({ code: 0, stdout: `mumuka ${pkg.version} (Node.js ${process.versions.node})\n`, stderr: "" });
  });

  it("refuses a dist/ older than a changed src/ (git pull without a build), and runs it again once src/ is back", () => {
    const file = path.join(copy, "src", "deliver", "queue-manager.ts");
    const before = readFileSync(file);
    appendFileSync(file, "// changed after the build\n");
    try {
      expectRefusal(mumuka("dist", "--version"));
      expectRefusal(mumuka("dist", "serve", "--config", "/nonexistent.yaml"));
    } finally {
      writeFileSync(file, before);
    }
    expect(mumuka("dist", "--version").code).toBe(0);
  });

  it("follows a symbolic link in src/ as tsc does: a change behind it is refused; a dangling one is refused in one line", () => {
    const file = path.join(copy, "src", "deliver", "queue-manager.ts");
    const before = readFileSync(file);
    const outside = path.join(dir, "queue-manager-elsewhere.ts");
    writeFileSync(outside, before);
    rmSync(file);
    symlinkSync(outside, file);
    try {
      // the same bytes through a link: still the source the build was made from
      expect(mumuka("dist", "--version").code).toBe(0);
      appendFileSync(outside, "// changed behind the link\n");
      expectRefusal(mumuka("dist", "--version"));
      rmSync(outside);
      expectRefusal(mumuka("dist", "--version"));
    } finally {
      rmSync(file, { force: true });
      writeFileSync(file, before);
    }
    expect(mumuka("dist", "--version").code).toBe(0);
  });

  it("refuses a build without its record of the source (tsc alone, an older or failed build)", () => {
    const record = path.join(copy, "dist", ".built-from");
    const saved = readFileSync(record);
    rmSync(record);
    try {
      expectRefusal(mumuka("dist", "--version"));
    } finally {
      writeFileSync(record, saved);
    }
  });

  it("refuses when there is no dist/ at all, and refuses an unknown MUMUKA_FROM", () => {
    renameSync(path.join(copy, "dist"), path.join(dir, "dist-aside"));
    try {
      expectRefusal(mumuka("dist", "--version"));
      // without MUMUKA_FROM a fresh clone runs src/ (./run mumuka, development), no build needed
      expect(mumuka(undefined, "--version").code).toBe(0);
    } finally {
      renameSync(path.join(dir, "dist-aside"), path.join(copy, "dist"));
    }
    const odd = mumuka("build", "--version");
    expect(odd.code).toBe(1);
    expect(odd.stderr).toContain("MUMUKA_FROM");
  });

  it("with no src/ (the container image, a package) runs dist/, set or not", () => {
    renameSync(path.join(copy, "src"), path.join(dir, "src-aside"));
    try {
      for (const from of [undefined, "dist"]) expect([from, mumuka(from, "--version").code]).toEqual([from, 0]);
      // asked for a src/ that is not there: one line, not a module-loader stack trace
      const r = mumuka("src", "--version");
      expect(r.code).toBe(1);
      expect(r.stderr.split("\n").filter(Boolean)).toEqual([expect.stringContaining("src/cli.ts")]);
    } finally {
      renameSync(path.join(dir, "src-aside"), path.join(copy, "src"));
    }
  });

  it("without MUMUKA_FROM a checkout runs src/, current whatever dist/ holds", () => {
    const file = path.join(copy, "src", "cli.ts");
    const before = readFileSync(file);
    // a visible change in src/ only: the version line says where it came from
    writeFileSync(file, before.toString("utf8").replace("`mumuka ${", "`mumuka-src ${"));
    try {
      const r = mumuka(undefined, "--version");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^mumuka-src /);
    } finally {
      writeFileSync(file, before);
    }
  });
});
