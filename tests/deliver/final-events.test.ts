/**
 * The complete audit trail's second half: every acknowledged message ends
 * with exactly one final event in the store, also when the process dies in the
 * audit batch window after the message was done. Tested the way it breaks:
 *
 * - the gateway process is killed (SIGKILL) after delivering, while the
 *   delivered event waits in memory (a long flush interval), and started again
 *   on the same spool and audit database;
 * - the audit store is down after a delivery, and comes back;
 * - an earlier run left a finished record whose final event the store has;
 * - events of a held message and of a corrupt record never reached the store.
 *
 * Real SMTP on loopback both ways, the real spool, the real SQLite store.
 */
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createAuditLog } from "../../src/audit/audit-log.ts";
import type { AuditStore } from "../../src/audit/audit-store.ts";
import type { AuditEvent } from "../../src/audit/audit-types.ts";
import { openAuditLog, openAuditStore } from "../../src/audit/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { startGateway, type Gateway, type GatewayOptions } from "../../src/serve.ts";
import { openQueueAdmin, QueueAdminError } from "../../src/spool/queue-admin.ts";
import { openSpool } from "../../src/spool/spool.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { repoRoot, spawnGateway, type GatewayProcess } from "../helpers/relay-process.ts";
import { plainMessage, sendRaw, silentLogger, tempDir, waitFor } from "../helpers/relay-helpers.ts";
import { runCli } from "../helpers/run-cli.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

async function downstream(): Promise<Downstream> {
  const d = await startDownstream();
  cleanup.push(() => d.stop());
  return d;
}

function configFor(dataDir: string, port: number, audit: object = {}): Config {
  return parseConfig({
    dataDir,
    smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.test", clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"] },
    delivery: { mode: "smtp", host: "127.0.0.1", port, retryFirstSeconds: 1, retryMaxSeconds: 2, connectTimeoutMs: 2000 },
    audit,
    admin: { enabled: false },
  });
}

async function start(config: Config, audit?: GatewayOptions["audit"]): Promise<Gateway> {
  const g = await startGateway(config, { logger: silentLogger(), ...(audit ? { audit } : {}) });
  cleanup.push(() => g.close());
  return g;
}

const files = (dir: string) => readdir(dir).catch((): string[] => []);
const spoolFiles = async (dataDir: string, state: string) => files(path.join(dataDir, "spool", state));
/** the queue manager is done with every message: none waiting or in a pass */
const passesOver = async (dataDir: string) => (await spoolFiles(dataDir, "incoming")).length + (await spoolFiles(dataDir, "active")).length === 0;
const dayOf = (id: string) => `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}`;
const originalsOf = async (dataDir: string, id: string) => (await files(path.join(dataDir, "originals", dayOf(id)))).filter((f) => f.startsWith(id));

/** the stored story of a message, read the way the CLI reads it */
async function storyOf(config: Config, id: string): Promise<AuditEvent[]> {
  const log = await openAuditLog({ config: config.audit, dataDir: config.dataDir, gateway: "test", logger: silentLogger(), spillDir: false });
  try {
    const v = await log.verify();
    expect(v).toMatchObject({ ok: true });
    return await log.story(id);
  } finally {
    await log.close();
  }
}

const ofType = (story: AuditEvent[], type: string) => story.filter((e) => e.type === type);

async function send(port: number, subject: string): Promise<string> {
  const reply = await sendRaw({ port, from: "sender@example.com", to: ["staff@city.example.lg.jp"], raw: plainMessage(subject) });
  return /queued as (\S+)/.exec(reply.response)![1]!;
}

describe("the final event of a message", () => {
  it("is rebuilt from the spool after a kill -9 in the batch window after delivery or a bounce; the message is not delivered or bounced again and its original is kept once", { timeout: 90_000 }, async () => {
    const down = await downstream();
    const dsnSink = await downstream();
    down.rcptReplies.set("gone@city.example.lg.jp", { code: 550, message: "5.1.1 no such user" });
    const dataDir = await tempDir("mumuka-final-kill-");
    const yaml = (flushMs: number) =>
      [
        `dataDir: ${dataDir}`,
        "smtp: { host: 127.0.0.1, port: 0, hostname: mumuka.test, clients: [127.0.0.1/32], recipientDomains: [city.example.lg.jp] }",
        `delivery: { mode: smtp, host: 127.0.0.1, port: ${down.port}, dsnRelay: { host: 127.0.0.1, port: ${dsnSink.port} } }`,
        `audit: { flushMs: ${flushMs} }`,
        "log: { level: info, format: json }",
        "admin: { enabled: false }",
        "",
      ].join("\n");
    const configFile = path.join(dataDir, "mumuka.yaml");
    // ten minutes: every event of the pass is still in memory when the kill comes
    await writeFile(configFile, yaml(600_000));
    const first: GatewayProcess = await spawnGateway(configFile);
    cleanup.push(async () => first.child.kill("SIGKILL"));
    const id = await send(first.port, "killed after delivery");
    const bouncedId = /queued as (\S+)/.exec((await sendRaw({ port: first.port, from: "sender@example.com", to: ["gone@city.example.lg.jp"], raw: plainMessage("killed after a bounce") })).response)![1]!;
    await waitFor(() => down.received.length === 1, 20_000, "delivery");
    await waitFor(() => dsnSink.received.length === 1, 20_000, "DSN");
    await waitFor(() => passesOver(dataDir), 10_000, "the pass is over");
    first.child.kill("SIGKILL");
    await first.exited;

    await writeFile(configFile, yaml(200));
    const second = await spawnGateway(configFile);
    cleanup.push(async () => second.child.kill("SIGKILL"));
    await waitFor(async () => (await spoolFiles(dataDir, "done")).length === 0 && (await passesOver(dataDir)), 20_000, "the record settled");
    await waitFor(async () => (await originalsOf(dataDir, id)).length === 1 && (await originalsOf(dataDir, bouncedId)).length === 1, 10_000, "the originals retained");
    second.child.kill("SIGTERM");
    expect(await second.exited).toMatchObject({ code: 0 });

    expect(down.received.length).toBe(1);
    expect(dsnSink.received.length).toBe(1);
    const config = parseConfig({ dataDir, smtp: { clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"] } });
    const story = await storyOf(config, id);
    expect(ofType(story, "received")).toHaveLength(1);
    const delivered = ofType(story, "delivered");
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.data).toMatchObject({ rcptTo: ["staff@city.example.lg.jp"], host: expect.stringMatching(/^127\.0\.0\.1/), recovered: true });
    expect(await originalsOf(dataDir, id)).toEqual([`${id}.rec`]);
    const bounced = await storyOf(config, bouncedId);
    expect(ofType(bounced, "bounced")).toHaveLength(1);
    expect(ofType(bounced, "bounced")[0]!.data).toMatchObject({ recipients: [expect.objectContaining({ rcpt: "gone@city.example.lg.jp" })], recovered: true });
    expect(ofType(bounced, "dsn-sent")).toHaveLength(1);
    expect(ofType(bounced, "dsn-sent")[0]!.data).toMatchObject({ to: "sender@example.com", recovered: true });
    expect(await originalsOf(dataDir, bouncedId)).toEqual([`${bouncedId}.rec`]);
    expect(await files(path.join(dataDir, "spool", "done-journal"))).toEqual([]);
  });

  it("keeps a delivered message's record in the spool while the audit store is down, and lets it go once the store has its events", { timeout: 60_000 }, async () => {
    const down = await downstream();
    const dataDir = await tempDir("mumuka-final-down-");
    const config = configFor(dataDir, down.port, { flushMs: 20 });
    const real = openAuditStore(config.audit, dataDir);
    await real.init();
    const store = Object.assign(Object.create(null) as object, real, {
      down: true,
      attempts: 0,
      async append(pending: Parameters<AuditStore["append"]>[0]) {
        store.attempts += 1;
        if (store.down) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
        return real.append(pending);
      },
    }) as AuditStore & { down: boolean; attempts: number };
    const audit = createAuditLog({ store, config: config.audit, gateway: "test", logger: silentLogger(), spillDir: path.join(dataDir, "audit-spill") });
    const g = await start(config, audit);
    const id = await send(g.address.port, "store down");
    await waitFor(() => down.received.length === 1, 20_000, "delivery");
    await waitFor(async () => (await spoolFiles(dataDir, "done")).includes(id), 10_000, "the record waits in done/");
    // a write that held the delivered event failed after the record went to done/: still there
    const attempts = store.attempts;
    await waitFor(() => store.attempts > attempts + 1, 10_000, "more failed writes");
    expect(await spoolFiles(dataDir, "done")).toEqual([id]);
    expect(await originalsOf(dataDir, id)).toEqual([]);
    // not shown to an administrator as a message still queued
    expect((await openQueueAdmin(dataDir, audit).list()).map((e) => e.id)).not.toContain(id);

    store.down = false;
    await waitFor(async () => (await spoolFiles(dataDir, "done")).length === 0, 20_000, "the record left the spool");
    expect(await originalsOf(dataDir, id)).toEqual([`${id}.rec`]);
    expect(await spoolFiles(dataDir, "meta")).toEqual([]);
    const story = await real.story(id);
    expect(ofType(story, "delivered")).toHaveLength(1);
    expect(ofType(story, "delivered")[0]!.data.recovered).toBeUndefined();
    expect(down.received.length).toBe(1);
  });

  it("retires a record an earlier run left in done/ whose final event is stored, without delivering it again or rebuilding the event", { timeout: 60_000 }, async () => {
    const down = await downstream();
    const dataDir = await tempDir("mumuka-final-stored-");
    const config = configFor(dataDir, down.port, { flushMs: 20 });
    const log = await openAuditLog({ config: config.audit, dataDir, gateway: "test", logger: silentLogger() });
    // the events are stored, but the run ends before it hears so: the record stays in done/
    const g = await startGateway(config, { logger: silentLogger(), audit: { record: (e) => log.record(e), flush: () => log.flush(), afterStored: () => {}, close: () => log.close() } });
    const id = await send(g.address.port, "stored, then stopped");
    await waitFor(() => down.received.length === 1, 20_000, "delivery");
    await waitFor(async () => (await spoolFiles(dataDir, "done")).includes(id), 10_000, "the record in done/");
    await g.close();
    expect(await spoolFiles(dataDir, "done")).toEqual([id]);
    expect(ofType(await storyOf(config, id), "delivered")).toHaveLength(1);

    const again = await start(config);
    await waitFor(async () => (await spoolFiles(dataDir, "done")).length === 0, 20_000, "the record left the spool");
    await again.close();
    expect(down.received.length).toBe(1);
    expect(await originalsOf(dataDir, id)).toEqual([`${id}.rec`]);
    const delivered = ofType(await storyOf(config, id), "delivered");
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.data.recovered).toBeUndefined();
  });

  it("delivers a done/ record again when its journal line was lost (a power cut) and the trail does not show it finished", { timeout: 60_000 }, async () => {
    const down = await downstream();
    const dataDir = await tempDir("mumuka-final-noproof-");
    const config = configFor(dataDir, down.port);
    // a run whose events all die with it, and that never hears they are stored
    const g = await startGateway(config, { logger: silentLogger(), audit: { record: () => {}, flush: async () => {}, afterStored: () => {} } });
    const id = await send(g.address.port, "journal line lost");
    await waitFor(async () => (await spoolFiles(dataDir, "done")).includes(id), 20_000, "the record in done/");
    await g.close();
    for (const f of await files(path.join(dataDir, "spool", "done-journal"))) await writeFile(path.join(dataDir, "spool", "done-journal", f), "");

    const again = await start(config);
    await waitFor(() => down.received.length === 2, 20_000, "delivered again");
    await waitFor(async () => (await spoolFiles(dataDir, "done")).length === 0 && (await passesOver(dataDir)), 20_000, "the record settled");
    await again.close();
    const story = await storyOf(config, id);
    expect(ofType(story, "received")).toHaveLength(1);
    expect(ofType(story, "delivered")).toHaveLength(1);
    expect(await originalsOf(dataDir, id)).toEqual([`${id}.rec`]);
  });

  it("is rebuilt for a held message and a corrupt record whose events never reached the store", { timeout: 60_000 }, async () => {
    const down = await downstream();
    down.rcptReplies.set("staff@city.example.lg.jp", { code: 550, message: "5.1.1 no such user" });
    const dataDir = await tempDir("mumuka-final-held-");
    const config = configFor(dataDir, down.port);
    // a run whose events all die with it
    const g = await startGateway(config, { logger: silentLogger(), audit: { record: () => {}, flush: async () => {} } });
    const id = await send(g.address.port, "held, then killed");
    await waitFor(async () => (await spoolFiles(dataDir, "held")).includes(id), 20_000, "held (no DSN relay)");
    await g.close();
    // a record an earlier run received (that much reached the store) and then moved to corrupt/
    const corruptId = newAuditId();
    const earlier = await openAuditLog({ config: config.audit, dataDir, gateway: "test", logger: silentLogger(), spillDir: false });
    earlier.record({ type: "received", auditId: corruptId, actor: "gateway", data: { mailFrom: "sender@example.com", rcptTo: ["staff@city.example.lg.jp"], size: 4 } });
    await earlier.close();
    await writeFile(path.join(dataDir, "spool", "corrupt", corruptId), "MUMUKA-SPOOL/1 99\r\ntorn");

    const again = await start(config);
    await waitFor(async () => ofType(await readStory(again, id), "held").length === 1, 20_000, "held event rebuilt");
    await waitFor(async () => ofType(await readStory(again, corruptId), "held").length === 1, 20_000, "corrupt event rebuilt");
    await again.close();
    const story = await storyOf(config, id);
    expect(ofType(story, "received")).toHaveLength(1);
    expect(ofType(story, "held")[0]!.data).toMatchObject({ reason: expect.stringContaining("no DSN relay"), recovered: true });
    const corrupt = ofType(await storyOf(config, corruptId), "held");
    expect(corrupt).toHaveLength(1);
    expect(corrupt[0]!.data).toMatchObject({ state: "corrupt", recovered: true, reason: expect.stringContaining("corrupt spool file") });
    // its record stays where it was: an administrator decides
    expect(await spoolFiles(dataDir, "held")).toEqual([id]);
    expect(JSON.parse(await readFile(path.join(dataDir, "spool", "meta", `${id}.json`), "utf8")).holdReason).toMatch(/no DSN relay/);
  });
});

describe("an administrator's delete", () => {
  /** a message held (refused for good, no DSN relay) by a gateway that has stopped: received and held are stored */
  async function heldMessage(prefix: string): Promise<{ dataDir: string; config: Config; configFile: string; down: Downstream; id: string }> {
    const down = await downstream();
    down.rcptReplies.set("staff@city.example.lg.jp", { code: 550, message: "5.1.1 no such user" });
    const dataDir = await tempDir(prefix);
    const config = configFor(dataDir, down.port, { flushMs: 20 });
    const g = await startGateway(config, { logger: silentLogger() });
    const id = await send(g.address.port, "to be deleted");
    await waitFor(async () => (await spoolFiles(dataDir, "held")).includes(id), 20_000, "held (no DSN relay)");
    await g.close();
    // the gateway started again later would deliver it if it ever came back from the dead
    down.rcptReplies.clear();
    const configFile = path.join(dataDir, "mumuka.yaml");
    await writeFile(configFile, `dataDir: ${dataDir}\naudit: { flushMs: 20 }\nlog: { level: warn, format: json }\n`);
    return { dataDir, config, configFile, down, id };
  }

  /** the message is in no queue state an administrator or the queue manager sees */
  const goneFromQueue = async (dataDir: string, id: string) => {
    for (const state of ["incoming", "active", "deferred", "held", "corrupt"]) if ((await spoolFiles(dataDir, state)).includes(id)) return false;
    return true;
  };

  it("from the CLI, killed after the delete and before the store had its event: the next gateway start records it once, keeps the original once and delivers nothing", { timeout: 90_000 }, async () => {
    const { dataDir, config, configFile, down, id } = await heldMessage("mumuka-final-qdelete-kill-");
    // another writer holds the store's write lock: the CLI's event cannot be stored
    const lock = new Database(path.join(dataDir, "audit.sqlite"));
    cleanup.push(async () => lock.close());
    lock.exec("BEGIN IMMEDIATE");
    const cli = spawn(process.execPath, ["src/cli.ts", "queue", "delete", id, "-c", configFile], { cwd: repoRoot, stdio: "ignore" });
    const exited = new Promise((resolve) => cli.on("exit", resolve));
    cleanup.push(async () => cli.kill("SIGKILL"));
    await waitFor(() => goneFromQueue(dataDir, id), 20_000, "the message deleted from the queue");
    cli.kill("SIGKILL");
    await exited;
    lock.exec("ROLLBACK");
    lock.close();
    expect(ofType(await storyOf(config, id), "deleted")).toHaveLength(0);

    const g = await start(config);
    await waitFor(async () => (await spoolFiles(dataDir, "done")).length === 0 && (await originalsOf(dataDir, id)).length === 1, 20_000, "the record settled");
    await waitFor(() => passesOver(dataDir), 10_000, "the queue idle");
    await g.close();
    const story = await storyOf(config, id);
    expect(ofType(story, "received")).toHaveLength(1);
    const deleted = ofType(story, "deleted");
    expect(deleted).toHaveLength(1);
    expect(deleted[0]!).toMatchObject({ actor: expect.stringMatching(/^cli:/), data: { from: "held", recovered: true } });
    expect(ofType(story, "delivered")).toHaveLength(0);
    expect(down.received.length).toBe(0);
    expect(await originalsOf(dataDir, id)).toEqual([`${id}.rec`]);
    expect(await goneFromQueue(dataDir, id)).toBe(true);
    expect(await spoolFiles(dataDir, "meta")).toEqual([]);
    expect(await files(path.join(dataDir, "spool", "done-journal"))).toEqual([]);
  });

  it("from the console inside the gateway: the record waits in done/ while the store is down, leaves once the event is stored, and a crash before that is recorded at the next start", { timeout: 90_000 }, async () => {
    const { dataDir, config, down, id } = await heldMessage("mumuka-final-qdelete-console-");
    const real = openAuditStore(config.audit, dataDir);
    await real.init();
    const store = Object.assign(Object.create(null) as object, real, {
      down: true,
      async append(pending: Parameters<AuditStore["append"]>[0]) {
        if (store.down) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
        return real.append(pending);
      },
    }) as AuditStore & { down: boolean };
    const audit = createAuditLog({ store, config: config.audit, gateway: "test", logger: silentLogger(), spillDir: path.join(dataDir, "audit-spill") });
    const g = await start(config, audit);
    // as serve.ts wires the console: the gateway's own done queue
    const consoleQueue = openQueueAdmin(dataDir, audit, undefined, { done: g.queue.done });
    await consoleQueue.delete(id, "admin:operator");
    expect(await goneFromQueue(dataDir, id)).toBe(true);
    expect(await spoolFiles(dataDir, "done")).toEqual([id]);
    expect(await originalsOf(dataDir, id)).toEqual([]);
    expect(await consoleQueue.get(id)).toBeUndefined();
    store.down = false;
    await waitFor(async () => (await spoolFiles(dataDir, "done")).length === 0, 20_000, "the record left the spool");
    expect(await originalsOf(dataDir, id)).toEqual([`${id}.rec`]);
    const deleted = ofType(await real.story(id), "deleted");
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatchObject({ actor: "admin:operator", data: { from: "held" } });
    expect(deleted[0]!.data.recovered).toBeUndefined();
    await g.close();
    await real.close();

    // a second held message, deleted from the console by a gateway whose events die with it (a crash)
    const held = await heldMessage("mumuka-final-qdelete-crash-");
    const lost = await startGateway(held.config, { logger: silentLogger(), audit: { record: () => {}, flush: async () => {}, afterStored: () => {} } });
    await openQueueAdmin(held.dataDir, lost.audit, undefined, { done: lost.queue.done }).delete(held.id, "admin:operator");
    await lost.close();
    expect(await spoolFiles(held.dataDir, "done")).toEqual([held.id]);
    const again = await start(held.config);
    await waitFor(async () => (await spoolFiles(held.dataDir, "done")).length === 0 && (await originalsOf(held.dataDir, held.id)).length === 1, 20_000, "the record settled");
    await waitFor(() => passesOver(held.dataDir), 10_000, "the queue idle");
    await again.close();
    const story = await storyOf(held.config, held.id);
    expect(ofType(story, "deleted")).toHaveLength(1);
    expect(ofType(story, "deleted")[0]!.data).toEqual({ from: "held", recovered: true });
    expect(held.down.received.length + down.received.length).toBe(0);
  });

  it("outside the gateway, with a store that does not answer: the delete stands, says its event is not confirmed, and the next gateway start records it", { timeout: 60_000 }, async () => {
    const { dataDir, config, down, id } = await heldMessage("mumuka-final-qdelete-pending-");
    // a store that never answers: flush() never resolves, afterStored never calls back
    const silent = { record: () => {}, flush: () => new Promise<void>(() => {}), afterStored: () => {} };
    const err = await openQueueAdmin(dataDir, silent).delete(id, "cli:test").then(() => undefined, (e: unknown) => e as QueueAdminError);
    expect(err).toBeInstanceOf(QueueAdminError);
    expect(err).toMatchObject({ code: "EPENDING", message: expect.stringMatching(/was deleted, .*next start/) });
    expect(await goneFromQueue(dataDir, id)).toBe(true);
    expect(await spoolFiles(dataDir, "done")).toEqual([id]);

    const g = await start(config);
    await waitFor(async () => (await spoolFiles(dataDir, "done")).length === 0 && (await originalsOf(dataDir, id)).length === 1, 20_000, "the record settled");
    await waitFor(() => passesOver(dataDir), 10_000, "the queue idle");
    await g.close();
    expect(ofType(await storyOf(config, id), "deleted").map((e) => e.data)).toEqual([{ from: "held", recovered: true }]);
    expect(down.received.length).toBe(0);
  });

  it("a gateway starting while a CLI is in the middle of a delete leaves that record to the CLI, and settles what a dead one left", { timeout: 60_000 }, async () => {
    const { dataDir, config, down, id } = await heldMessage("mumuka-final-qdelete-live-");
    const journalDir = path.join(dataDir, "spool", "done-journal");
    const proof = (auditId: string) => `${JSON.stringify({ id: auditId, proof: [{ type: "deleted", actor: "cli:test", data: { from: "held" } }] })}\n`;
    // a running process (the test runner, not this one) has journaled its delete and moved the record into done/
    await writeFile(path.join(journalDir, `000001700000000-${process.ppid}-0.journal`), proof(id));
    expect(await openSpool(dataDir).then((s) => s.move(id, "held", "done"))).toBe(true);
    // one a dead CLI left (pid above Linux's pid_max): received is stored, deleted is not
    const left = newAuditId();
    const earlier = await openAuditLog({ config: config.audit, dataDir, gateway: "test", logger: silentLogger(), spillDir: false });
    earlier.record({ type: "received", auditId: left, actor: "gateway", data: { mailFrom: "sender@example.com", rcptTo: ["staff@city.example.lg.jp"], size: 4 } });
    await earlier.close();
    writeSpoolRecord(path.join(dataDir, "spool", "done", left), left, "Subject: x\r\n\r\nbody\r\n");
    await writeFile(path.join(journalDir, `000001700000000-${2 ** 22 + 1}-0.journal`), proof(left));

    const g = await start(config);
    await waitFor(async () => (await originalsOf(dataDir, left)).length === 1, 20_000, "the dead CLI's record settled");
    await waitFor(() => passesOver(dataDir), 10_000, "the queue idle");
    await g.close();
    expect(ofType(await storyOf(config, left), "deleted").map((e) => e.data)).toEqual([{ from: "held", recovered: true }]);
    // the live one's: untouched, nothing recorded for it, not delivered, its journal kept
    expect(await spoolFiles(dataDir, "done")).toEqual([id]);
    expect(ofType(await storyOf(config, id), "deleted")).toHaveLength(0);
    expect(await files(journalDir)).toEqual([`000001700000000-${process.ppid}-0.journal`]);
    expect(down.received.length).toBe(0);
  });

  it("from the CLI: a corrupt record is deleted with its event stored and is not kept as an original; a delete whose journal cannot be written puts the message back with nothing recorded", { timeout: 60_000 }, async () => {
    const { dataDir, config, configFile, id } = await heldMessage("mumuka-final-qdelete-corrupt-");
    const corruptId = newAuditId();
    const earlier = await openAuditLog({ config: config.audit, dataDir, gateway: "test", logger: silentLogger(), spillDir: false });
    earlier.record({ type: "received", auditId: corruptId, actor: "gateway", data: { mailFrom: "sender@example.com", rcptTo: ["staff@city.example.lg.jp"], size: 4 } });
    await earlier.close();
    await writeFile(path.join(dataDir, "spool", "corrupt", corruptId), "MUMUKA-SPOOL/1 99\r\ntorn");
    const ok = await runCli(["queue", "delete", corruptId, "-c", configFile]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await spoolFiles(dataDir, "corrupt")).toEqual([]);
    expect(await spoolFiles(dataDir, "done")).toEqual([]);
    expect(await originalsOf(dataDir, corruptId)).toEqual([]);
    expect(ofType(await storyOf(config, corruptId), "deleted").map((e) => e.data)).toEqual([{ from: "corrupt" }]);

    // the done journal cannot be written (a file where its directory should be; permissions do not stop root): nothing is deleted, nothing recorded
    const journalDir = path.join(dataDir, "spool", "done-journal");
    await rm(journalDir, { recursive: true });
    await writeFile(journalDir, "");
    const refused = await runCli(["queue", "delete", id, "-c", configFile]);
    await rm(journalDir);
    await mkdir(journalDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^mumuka: [^\n]*was not deleted: [^\n]*; it is held\n$/);
    expect(await spoolFiles(dataDir, "held")).toEqual([id]);
    expect(await spoolFiles(dataDir, "done")).toEqual([]);
    expect(ofType(await storyOf(config, id), "deleted")).toHaveLength(0);
    // and once it can be written, the delete goes through
    const r = await runCli(["queue", "delete", id, "-c", configFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(await originalsOf(dataDir, id)).toEqual([`${id}.rec`]);
    expect(ofType(await storyOf(config, id), "deleted").map((e) => e.data)).toEqual([{ from: "held" }]);
    expect(await files(journalDir)).toEqual([]);
  });
});

/** a running gateway's own store, after what it recorded is stored */
async function readStory(g: Gateway, id: string): Promise<AuditEvent[]> {
  await g.audit.flush();
  return (g.audit as unknown as { story(id: string): Promise<AuditEvent[]> }).story(id);
}
