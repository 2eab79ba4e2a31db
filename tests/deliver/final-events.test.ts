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
import { readdir, readFile, writeFile } from "node:fs/promises";
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
import { openQueueAdmin } from "../../src/spool/queue-admin.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { spawnGateway, type GatewayProcess } from "../helpers/relay-process.ts";
import { plainMessage, sendRaw, silentLogger, tempDir, waitFor } from "../helpers/relay-helpers.ts";

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
    if (!v.ok) console.log(JSON.stringify(v));
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

/** a running gateway's own store, after what it recorded is stored */
async function readStory(g: Gateway, id: string): Promise<AuditEvent[]> {
  await g.audit.flush();
  return (g.audit as unknown as { story(id: string): Promise<AuditEvent[]> }).story(id);
}
