/**
 * No acknowledged message without its `received` event, on SQLite and
 * PostgreSQL alike: events that were only in memory when the process died
 * come back from the journal; a message still in the spool gets its
 * `received` rebuilt from its record; nothing is stored twice; and verify
 * names every message that reached a final state without one.
 */
import { mkdirSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAuditLog } from "../../src/audit/audit-log.ts";
import type { AuditStore } from "../../src/audit/audit-store.ts";
import { openAuditLog, openAuditStore, recoverReceived, type AuditLog } from "../../src/audit/index.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { createHeaderPeek } from "../../src/receive/header-peek.ts";
import { openSpool } from "../../src/spool/spool.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";
import { describeEachBackend, makeBackend, quietLogger, type Backend } from "./backends.ts";

/** A store whose writes never finish: the events stay in the writer's memory, as at the moment of a kill -9. */
function frozen(store: AuditStore): AuditStore {
  return { ...store, append: () => new Promise(() => {}) };
}

const receivedData = (subject: string) => ({
  clientAddress: "192.0.2.1",
  clientHelo: "mx.example.com",
  protocol: "ESMTP",
  mailFrom: "sender@example.com",
  rcptTo: ["staff@city.example.lg.jp"],
  subject,
  size: 100,
  sha256: "c".repeat(64),
});

describeEachBackend("completeness of the audit trail on %s", (kind) => {
  let b: Backend;
  const open: AuditLog[] = [];
  const reopen = async (): Promise<AuditLog> => {
    const log = await openAuditLog({ config: b.config(), dataDir: b.dataDir, gateway: "gw", logger: quietLogger(), serving: true });
    open.push(log);
    return log;
  };
  /** a gateway's writer that "dies" with everything it recorded still in memory */
  const crashingLog = async (): Promise<AuditLog> => {
    const store = openAuditStore(b.config(), b.dataDir);
    await store.init();
    return createAuditLog({
      store: frozen(store),
      config: b.config(),
      gateway: "gw",
      logger: quietLogger(),
      spillDir: path.join(b.dataDir, "audit-spill"),
      journalDir: path.join(b.dataDir, "audit-journal"),
    });
  };

  beforeEach(() => {
    b = makeBackend(kind);
  });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    await b.cleanup();
  });

  it("finds a message whose events were only in memory when the process died (delivered and gone from the spool)", async () => {
    const id = newAuditId();
    const dying = await crashingLog();
    dying.record({ type: "received", auditId: id, actor: "gateway", data: receivedData("落ちる直前") });
    dying.record({ type: "delivered", auditId: id, actor: "gateway", data: { rcptTo: ["staff@city.example.lg.jp"] } });
    // kill -9: nothing of it was stored
    const log = await reopen();
    await log.flush();
    const found = await log.search({ auditId: id });
    expect(found.rows).toEqual([expect.objectContaining({ auditId: id, subject: "落ちる直前", mailFrom: "sender@example.com" })]);
    expect((await log.story(id)).map((e) => e.type)).toEqual(["received"]);
    expect(await log.verify()).toMatchObject({ ok: true });
  });

  it("stores a journaled received only once, whatever was already stored before the crash", async () => {
    const stored = await reopen();
    const ids = [newAuditId(), newAuditId()];
    stored.record({ type: "received", auditId: ids[0]!, actor: "gateway", data: receivedData("保存済み") });
    await stored.flush();
    // the same received again, as a journal of a crash would hold it, plus one that was lost
    const dying = await crashingLog();
    dying.record({ type: "received", auditId: ids[0]!, actor: "gateway", data: receivedData("保存済み") });
    dying.record({ type: "received", auditId: ids[1]!, actor: "gateway", data: receivedData("未保存") });
    await stored.close();
    open.splice(0);
    const log = await reopen();
    await log.flush();
    for (const id of ids) expect((await log.story(id)).filter((e) => e.type === "received")).toHaveLength(1);
    expect((await log.search({})).total).toBe(2);
    expect(await log.verify()).toMatchObject({ ok: true });
  });

  it("keeps the journal empty once the store has its events, and removes it at a clean stop", async () => {
    const log = await reopen();
    const journalDir = path.join(b.dataDir, "audit-journal");
    for (let i = 0; i < 20; i++) log.record({ type: "received", auditId: newAuditId(), actor: "gateway", data: receivedData(`件名 ${i}`) });
    const [file] = readdirSync(journalDir);
    expect(statSync(path.join(journalDir, file!)).size).toBeGreaterThan(0);
    await log.flush();
    expect(statSync(path.join(journalDir, file!)).size).toBe(0);
    await log.close();
    open.splice(0);
    expect(readdirSync(journalDir)).toEqual([]);
  });

  it("rebuilds the received event of a spooled message from its record: arrival, envelope, size, hash, headers", async () => {
    const spool = await openSpool(b.dataDir);
    const id = newAuditId(new Date("2026-11-20T01:02:03Z"));
    const raw = "From: 差出人 <sender@example.com>\r\nSubject: =?UTF-8?B?5YaN5qeL56+J?=\r\nMessage-ID: <r1@example.com>\r\n\r\n本文\r\n";
    mkdirSync(spool.dir("deferred"), { recursive: true });
    writeSpoolRecord(spool.recordPath("deferred", id), id, raw, { receivedAt: "2026-11-20T01:02:04.000Z", rcptTo: ["a@city.example.lg.jp", "b@city.example.lg.jp"] });
    const log = await reopen();
    const run = () => recoverReceived({ spool, audit: log, known: (x) => log.knownMessages(x), logger: quietLogger(), headerPeek: createHeaderPeek });
    expect(await run()).toBe(1);
    await log.flush();
    const [row] = (await log.search({ auditId: id })).rows;
    expect(row).toMatchObject({ receivedAt: "2026-11-20T01:02:04.000Z", subject: "再構築", rcptTo: ["a@city.example.lg.jp", "b@city.example.lg.jp"], size: Buffer.byteLength(raw) });
    const [event] = await log.story(id);
    expect(event).toMatchObject({ type: "received", data: { recovered: true, messageId: "<r1@example.com>", mailFrom: "sender@example.com" } });
    expect(event!.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    // the next start finds it known: nothing recorded twice
    expect(await run()).toBe(0);
    await log.flush();
    expect(await log.story(id)).toHaveLength(1);
  });

  it("verify names the messages that reached a final state without a received event", async () => {
    const log = await reopen();
    const ok = newAuditId();
    const lost = [newAuditId(), newAuditId()];
    log.record({ type: "received", auditId: ok, actor: "gateway", data: receivedData("ある") });
    log.record({ type: "delivered", auditId: ok, actor: "gateway", data: {} });
    log.record({ type: "sanitized", auditId: lost[0]!, actor: "gateway", data: {} });
    log.record({ type: "delivered", auditId: lost[0]!, actor: "gateway", data: {} });
    log.record({ type: "held", auditId: lost[1]!, actor: "gateway", data: { reason: "rule" } });
    // not final: a message still on its way is not a gap
    log.record({ type: "deferred", auditId: newAuditId(), actor: "gateway", data: {} });
    await log.flush();
    const result = await log.verify();
    expect(result.ok).toBe(false);
    expect(result.missingReceived).toEqual({ count: 2, auditIds: [...lost].sort() });
    expect(result.firstBad?.reason).toContain(lost.sort()[0]);
  });
});
