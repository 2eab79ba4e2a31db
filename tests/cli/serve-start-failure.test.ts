/**
 * A gateway that cannot start says which stage failed and why in one line
 * (Japanese first), exits 1, and leaves nothing behind: every stage already
 * started is closed, the spool lock is released, and the audit events already
 * accepted are stored (or spilled when the store is down), not lost.
 *
 * "Leaves nothing open" is tested by making it matter: the gateway runs with
 * tests/helpers/keep-refs.ts, which turns every unref() into a no-op, so a
 * timer, worker or socket left open keeps the process alive and the test's
 * timeout fails it. An exit that relied on unref (as before this test) hangs.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import { parseConfig } from "../../src/config/load.ts";
import { StartError } from "../../src/lib/close-stack.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { startGateway } from "../../src/serve.ts";
import { lockSpool } from "../../src/spool/spool-lock.ts";
import { silentLogger, tempDir } from "../helpers/relay-helpers.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";
import { freePort, repoRoot, spawnGateway, type GatewayProcess } from "../helpers/relay-process.ts";

const KEEP_REFS = path.join(repoRoot, "tests/helpers/keep-refs.ts");

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the CLI's own lines (`mumuka: …`), without the JSON log */
  said: string[];
  log: string;
}

/** `mumuka serve -c FILE` with every unref() disabled; resolves when the process has exited on its own. */
function serveOnce(configFile: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", KEEP_REFS, "src/cli.ts", "serve", "-c", configFile], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const err: Buffer[] = [];
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.stdout.resume();
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const text = Buffer.concat(err).toString("utf8");
      const lines = text.split("\n").filter(Boolean);
      resolve({ code, signal, said: lines.filter((l) => l.startsWith("mumuka: ")), log: lines.filter((l) => !l.startsWith("mumuka: ")).join("\n") });
    });
  });
}

const running: GatewayProcess[] = [];
const listeners: net.Server[] = [];
afterEach(async () => {
  for (const g of running.splice(0)) {
    g.child.kill("SIGKILL");
    await g.exited;
  }
  for (const s of listeners.splice(0)) await new Promise((r) => s.close(r));
});

/** A data directory, and a writer of configuration files for it (log: JSON at info, for the listening lines). */
async function setup(): Promise<{ dir: string; write(yaml: string): string }> {
  const dir = await tempDir("mumuka-startfail-");
  let n = 0;
  const write = (yaml: string): string => {
    const file = path.join(dir, `mumuka-${(n += 1)}.yaml`);
    writeFileSync(file, `dataDir: ${dir}/data\nlog: { level: info, format: json }\n${yaml}\n`);
    return file;
  };
  return { dir, write };
}

/** After a failed start the data directory is as good as before: a gateway starts on it and stops cleanly. */
async function startsAndStops(write: (yaml: string) => string): Promise<void> {
  const again = await spawnGateway(write("smtp: { port: 0 }\nadmin: { enabled: false }"));
  running.push(again);
  expect(again.port).toBeGreaterThan(0);
  again.child.kill("SIGTERM");
  expect(await again.exited).toEqual({ code: 0, signal: null });
  running.splice(running.indexOf(again), 1);
}

describe("a gateway that cannot start", () => {
  it("SMTP port in use: one line naming the stage and the address, exit 1, nothing left open", async () => {
    const taken = net.createServer();
    listeners.push(taken);
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    const { write } = await setup();
    const config = write(`smtp: { host: 127.0.0.1, port: ${port} }\nadmin: { enabled: false }`);
    const run = await serveOnce(config);
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.said).toHaveLength(1);
    expect(run.said[0]).toMatch(/^mumuka: 起動できません\(SMTP の受信\)\/ cannot start the SMTP listener: /);
    expect(run.said[0]).toContain(`127.0.0.1:${port} は使用中です / is already in use (EADDRINUSE)`);
    expect(run.said[0]).toContain("smtp.host / smtp.port");
    await startsAndStops(write);
  }, 60_000);

  it("a message left in the spool by an unclean stop: after a start that failed at the listener it is still there or delivered, and its received is stored", async () => {
    const taken = net.createServer();
    listeners.push(taken);
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    const { dir, write } = await setup();
    const id = newAuditId();
    mkdirSync(path.join(dir, "data", "spool", "incoming"), { recursive: true });
    writeSpoolRecord(path.join(dir, "data", "spool", "incoming", id), id, "From: a@example.com\r\nSubject: left behind\r\n\r\nHello.\r\n");
    const run = await serveOnce(write(`smtp: { host: 127.0.0.1, port: ${port} }\nadmin: { enabled: false }`));
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.said[0]).toMatch(/^mumuka: 起動できません\(SMTP の受信\)/);
    const where = ["incoming", "active", "deferred", "held"].filter((state) => readdirSync(path.join(dir, "data", "spool", state)).includes(id));
    const outbox = existsSync(path.join(dir, "data", "outbox")) ? readdirSync(path.join(dir, "data", "outbox")).filter((n) => n === `${id}.eml`) : [];
    expect(where.length + outbox.length).toBe(1);
    const store = openSqliteStore({ file: path.join(dir, "data", "audit.sqlite") });
    try {
      const story = (await store.story(id)).map((e) => e.type);
      expect(story[0]).toBe("received");
      // delivered before the stop (its story says so) or still waiting (its story ends before delivery)
      expect(story.includes("delivered")).toBe(outbox.length === 1);
    } finally {
      await store.close();
    }
  }, 60_000);

  it("spool locked by a running gateway: refused in one line naming it; the running one is untouched", async () => {
    const { write } = await setup();
    const config = write("smtp: { port: 0 }\nadmin: { enabled: false }");
    const first = await spawnGateway(config);
    running.push(first);
    const run = await serveOnce(write("smtp: { port: 0 }\nadmin: { enabled: false }"));
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.said).toHaveLength(1);
    expect(run.said[0]).toMatch(/^mumuka: 起動できません\(スプールのロック\)\/ cannot start the spool lock: /);
    expect(run.said[0]).toContain(`another gateway (pid ${first.child.pid}) is using the spool`);
    // the first gateway still has its lock and its listener
    expect(first.child.exitCode).toBeNull();
    const socket = net.connect(first.port, "127.0.0.1");
    const banner = await new Promise<string>((resolve, reject) => {
      socket.once("data", (d: Buffer) => resolve(d.toString("latin1")));
      socket.once("error", reject);
    });
    socket.destroy();
    expect(banner).toMatch(/^220 /);
    first.child.kill("SIGTERM");
    expect(await first.exited).toEqual({ code: 0, signal: null });
    running.splice(running.indexOf(first), 1);
    await startsAndStops(write);
  }, 60_000);

  it("console TLS file missing: the SMTP listener and everything else already started are closed", async () => {
    const { dir, write } = await setup();
    const config = write(`smtp: { port: 0 }\nadmin: { enabled: true, port: 0, tls: { cert: ${dir}/none.pem, key: ${dir}/none.key } }`);
    const run = await serveOnce(config);
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.said).toHaveLength(1);
    expect(run.said[0]).toMatch(/^mumuka: 起動できません\(管理コンソール\)\/ cannot start the admin console: ENOENT: .*none\.pem/);
    // it got as far as listening for mail before the console failed
    expect(run.log).toContain('"msg":"mumuka gateway listening"');
    await startsAndStops(write);
  }, 60_000);

  it("an invalid rules file: the audit event saying so is stored, not lost with the process", async () => {
    const { dir, write } = await setup();
    const config = write(`smtp: { port: 0 }\nadmin: { enabled: false }\nrules: { file: ${dir}/rules.yaml }`);
    writeFileSync(path.join(dir, "rules.yaml"), "rules:\n  - name: 1\n    when: nonsense\n");
    const run = await serveOnce(config);
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.said).toHaveLength(1);
    expect(run.said[0]).toMatch(/^mumuka: 起動できません\(ルール\)\/ cannot start the rules: /);
    const store = openSqliteStore({ file: path.join(dir, "data", "audit.sqlite") });
    try {
      const events = await store.eventsAfter(0, 100);
      expect(events.filter((e) => e.type === "rules-reloaded").map((e) => e.data.ok)).toEqual([false]);
    } finally {
      await store.close();
    }
    await startsAndStops(write);
  }, 60_000);

  it("audit store unreachable (PostgreSQL on a closed loopback port) and a later stage failing: the accepted events are spilled at once", async () => {
    const closed = await freePort(); // nothing listens there
    const { dir, write } = await setup();
    const config = write(`smtp: { port: 0 }\nadmin: { enabled: false }\naudit: { url: "postgres://mumuka:x@127.0.0.1:${closed}/mumuka" }\nrules: { file: ${dir}/rules.yaml }`);
    writeFileSync(path.join(dir, "rules.yaml"), "rules:\n  - name: 1\n    when: nonsense\n");
    const run = await serveOnce(config);
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.said).toHaveLength(1);
    expect(run.said[0]).toMatch(/^mumuka: 起動できません\(ルール\)/);
    const spillDir = path.join(dir, "data", "audit-spill");
    const spilled = readdirSync(spillDir).filter((n) => n.endsWith(".jsonl"));
    expect(spilled).toHaveLength(1);
    const events = readFileSync(path.join(spillDir, spilled[0]!), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string; data: { ok?: boolean } });
    expect(events.map((e) => [e.type, e.data.ok])).toEqual([["rules-reloaded", false]]);
    // spilled after one more try, not after the 5 s of retries a running gateway's shutdown allows
    const failedWrites = run.log.split("\n").filter((l) => l.includes("store write FAILED")).length;
    expect(failedWrites).toBeLessThanOrEqual(2);
  }, 60_000);
});

describe("a gateway that stops", () => {
  it("SIGTERM: the same stages closed the same way, nothing left open, exit 0", async () => {
    const { write } = await setup();
    const child = spawn(process.execPath, ["--import", KEEP_REFS, "src/cli.ts", "serve", "-c", write("smtp: { port: 0 }\nadmin: { enabled: true, port: 0 }")], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    let log = "";
    await new Promise<void>((resolve, reject) => {
      child.stderr.on("data", (c: Buffer) => {
        log += c.toString("utf8");
        if (log.includes('"msg":"admin console listening"')) resolve();
      });
      child.once("exit", () => reject(new Error(`exited before listening:\n${log}`)));
    });
    child.kill("SIGTERM");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(log).toContain('"msg":"stopped"');
    expect(log).not.toContain("error while closing a stage");
  }, 60_000);
});

describe("startGateway in-process", () => {
  it("closes what it opened when a stage fails: the spool lock is free and a second start right after works", async () => {
    const dir = await tempDir("mumuka-startfail-");
    mkdirSync(path.join(dir, "data"), { recursive: true });
    const logger = silentLogger();
    const failing = parseConfig({
      dataDir: path.join(dir, "data"),
      smtp: { port: 0 },
      admin: { enabled: true, port: 0, tls: { cert: path.join(dir, "none.pem"), key: path.join(dir, "none.key") } },
    });
    const error = await startGateway(failing, { logger }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StartError);
    expect((error as StartError).stage.en).toBe("admin console");
    expect((error as StartError).closeFailures).toEqual([]);
    // SQLite refuses a second lock in the same process while the first connection is open
    const lock = await lockSpool(path.join(dir, "data", "spool"), { waitMs: 0 });
    await lock.release();
    const gateway = await startGateway(parseConfig({ dataDir: path.join(dir, "data"), smtp: { port: 0 }, admin: { enabled: false } }), { logger });
    expect(gateway.address.port).toBeGreaterThan(0);
    await gateway.close();
  }, 60_000);
});
