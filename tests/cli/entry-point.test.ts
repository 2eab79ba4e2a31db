/**
 * bin/mumuka.js, the command an operator types (npx mumuka, ./run mumuka,
 * /usr/local/bin/mumuka), on the Node.js a stock machine has. Under a
 * Node.js older than package.json's engines it must either run the command
 * with the Node.js ./run installed into .tools/ — arguments, stdin, exit
 * status and signals passed through — or refuse in one line saying what to
 * run; never load the native modules and crash (a segmentation fault).
 *
 * The old-Node half needs such a Node.js: the first `node` on the system's
 * PATH (/usr/local/bin, /usr/bin) older than engines. Where there is none the
 * tests say so and skip.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(REPO, "bin", "mumuka.js");
const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string; engines: { node: string } };
const NEED = Number(/\d+/.exec(pkg.engines.node)![0]);
const TOOLS_NODE = path.join(REPO, ".tools", "node", "bin", "node");

/** The system's own node (as a stock shell finds it), when it is older than engines. */
function findOldNode(): { node: string; version: string } | undefined {
  for (const dir of ["/usr/local/bin", "/usr/bin"]) {
    const node = path.join(dir, "node");
    if (!existsSync(node)) continue;
    const r = spawnSync(node, ["-p", "process.versions.node"], { encoding: "utf8" });
    const version = r.stdout?.trim() ?? "";
    if (Number(version.split(".")[0]) < NEED) return { node, version };
    return undefined; // the first node on a stock PATH is new enough: nothing old to test with
  }
  return undefined;
}
const old = findOldNode();
const oldMissing = old ? "" : `no Node.js older than ${NEED} first on the system PATH (/usr/local/bin, /usr/bin)`;
const toolsMissing = existsSync(TOOLS_NODE) ? "" : `no ${TOOLS_NODE} (./run installs it when the system Node.js is older than ${NEED})`;
if (oldMissing) console.warn(`entry point tests on an old Node.js skipped: ${oldMissing}`);
else if (toolsMissing) console.warn(`entry point re-exec tests skipped: ${toolsMissing}`);

/** A stock shell's PATH with the old node's folder first (no Node.js 24 anywhere on it). */
const stockEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(old?.node ?? "/usr/bin")}:/usr/local/bin:/usr/bin:/bin` };
  delete env.MUMUKA_REEXEC;
  return env;
};

function run(node: string, bin: string, args: string[], input = ""): { code: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(node, [bin, ...args], { encoding: "utf8", input, env: stockEnv(), cwd: os.tmpdir(), timeout: 60_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-entry-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, extra = ""): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, `dataDir: ${path.join(dir, name)}\nsmtp: { port: 0 }\nadmin: { enabled: false }\nlog: { format: json }\n${extra}`);
  return file;
}

describe("the Node.js version, said once", () => {
  it("engines, the Dockerfile's images and the README name the same major version; ./run reads engines", () => {
    const dockerfile = readFileSync(path.join(REPO, "Dockerfile"), "utf8");
    const froms = [...dockerfile.matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    expect(froms.length).toBeGreaterThan(0);
    expect(new Set(froms)).toEqual(new Set([NEED]));
    const readme = readFileSync(path.join(REPO, "README.md"), "utf8");
    const named = new Set([...readme.matchAll(/Node(?:\.js)? (\d+)(?!\d)(?! *(?:など|, say))/g)].map((m) => Number(m[1])));
    expect(named).toEqual(new Set([NEED]));
    const run = readFileSync(path.join(REPO, "run"), "utf8");
    expect(run).toMatch(/want=\$\(sed [^\n]*package\.json/);
    expect(run).not.toMatch(/^want=\d/m);
  });
});

describe("mumuka --version", () => {
  it("prints the package version and the Node.js that runs it", () => {
    const r = spawnSync(process.execPath, [BIN, "--version"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`mumuka ${pkg.version} (Node.js ${process.versions.node})\n`);
  });
});

describe.skipIf(oldMissing !== "")(`bin/mumuka.js under the system's Node.js (${old?.version ?? "none"})`, () => {
  it("without .tools/: refuses in one line that says what to run, exit 1", () => {
    // a copy of the entry point alone: package.json beside it, no .tools, no node_modules
    const copy = path.join(dir, "bare");
    mkdirSync(path.join(copy, "bin"), { recursive: true });
    cpSync(BIN, path.join(copy, "bin", "mumuka.js"));
    cpSync(path.join(REPO, "package.json"), path.join(copy, "package.json"));
    const r = run(old!.node, path.join(copy, "bin", "mumuka.js"), ["admin", "add-user", "kanri", "--role", "admin"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Node.js ${NEED}`);
    expect(lines[0]).toContain(old!.version);
    expect(lines[0]).toContain("./run mumuka");
  });

  describe.skipIf(toolsMissing !== "")("with the Node.js ./run installed", () => {
    it("runs a command that loads better-sqlite3 (the README's add-user), stdin and exit status passed through", () => {
      const config = configFile("users");
      const r = run(old!.node, BIN, ["admin", "add-user", "kanri", "--role", "admin", "--config", config], "correct horse battery staple\n");
      expect(r.stderr).toBe("");
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("kanri");
      // and a failing command's exit status comes back unchanged (2: bad arguments)
      const bad = run(old!.node, BIN, ["audit", "search", "--status", "nonsense", "--config", config]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--status must be one of");
    });

    it("--version names the Node.js that really runs the command", () => {
      const r = run(old!.node, BIN, ["--version"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^mumuka ${pkg.version.replaceAll(".", "\\.")} \\(Node\\.js ${NEED}\\.`));
    });

    it("passes SIGHUP and SIGTERM on to the gateway: rules reloaded, then a clean stop, no process left", async () => {
      const config = configFile("serve");
      const child = spawn(old!.node, [BIN, "serve", "--config", config], { env: stockEnv(), stdio: ["ignore", "pipe", "pipe"] });
      const gateway = await waitForLine(child, (l) => l.msg === "mumuka gateway listening");
      expect(gateway.pid).not.toBe(child.pid); // the gateway is the re-executed child
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
      child.kill("SIGHUP"); // at once: a reload right after the start must not kill the gateway (Node's default for SIGHUP)
      await waitForLine(child, (l) => l.msg === "rules reloaded (SIGHUP)");
      child.kill("SIGTERM");
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(alive(gateway.pid as number)).toBe(false);
    });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the first JSON log line (the gateway logs on stderr) that matches; rejects when the process ends first. */
function waitForLine(child: ChildProcess, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let all = "";
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      all += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (match(parsed)) {
            child.stderr!.off("data", onData);
            resolve(parsed);
            return;
          }
        } catch {
          // not a JSON line
        }
      }
    };
    child.stderr!.on("data", onData);
    child.stdout!.on("data", (c: Buffer) => (all += c.toString("utf8")));
    child.once("exit", () => reject(new Error(`exited before the expected line:\n${all}`)));
  });
}
