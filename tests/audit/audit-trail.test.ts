/**
 * The audit trail's promises, on SQLite and on PostgreSQL alike: what is
 * recorded can be found, a message's story is complete and in order, and any
 * edit, deletion, insertion or reordering made behind its back — in the event
 * chain or in the message summaries search reads — makes verify fail, naming
 * the first bad event; a retention purge does not.
 */
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventHash } from "../../src/audit/audit-fns.ts";
import type { AuditLog } from "../../src/audit/index.ts";
import { openAuditLog } from "../../src/audit/index.ts";
import type { AuditEvent, MessageStatus } from "../../src/audit/audit-types.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { waitFor } from "../helpers/relay-helpers.ts";
import { describeEachBackend, makeBackend, memoryLogger, PG_URL, quietLogger, type Backend } from "./backends.ts";

const T0 = Date.parse("2026-11-20T00:00:00Z");
const MINUTE = 60_000;
/** audit.retentionDays by default: a purge may remove only what is older than this */
const RETENTION = 365 * 24 * 60 * MINUTE;

interface Msg {
  id: string;
  from: string;
  to: string;
  subject: string;
  attachments?: number;
  end?: MessageStatus | "none";
}

/** Records a typical story: received → sanitized → delivery-attempt → the end state. */
function recordStory(log: AuditLog, m: Msg): void {
  log.record({
    type: "received",
    auditId: m.id,
    actor: "gateway",
    data: {
      clientAddress: "127.0.0.1",
      helo: "mx.internet.example",
      mailFrom: m.from,
      rcptTo: [m.to],
      headerFrom: [{ name: "送信者", address: m.from }],
      subject: m.subject,
      messageId: `<${m.id}@example.jp>`,
      size: 1234,
      sha256: "a".repeat(64),
    },
  });
  log.record({
    type: "sanitized",
    auditId: m.id,
    data: {
      attachments: Array.from({ length: m.attachments ?? 0 }, (_, i) => ({ filename: `f${i}.exe`, contentType: "application/octet-stream", size: 10, sha256: "b".repeat(64) })),
      html: { present: true, converted: true },
      rulesApplied: [],
    },
  });
  log.record({ type: "delivery-attempt", auditId: m.id, data: { host: "127.0.0.1:25", reply: "250 2.0.0 Ok", recipients: [m.to] } });
  if (m.end !== "none") log.record({ type: (m.end ?? "delivered") as AuditEvent["type"], auditId: m.id, data: {} });
}

describeEachBackend("the audit trail on %s", (kind) => {
  let b: Backend;
  let log: AuditLog;
  let now = T0;

  const open = (extra = {}): Promise<AuditLog> =>
    openAuditLog({ config: b.config(extra), dataDir: b.dataDir, gateway: "gw-test", logger: quietLogger(), now: () => new Date(now) });

  beforeEach(async () => {
    now = T0;
    b = makeBackend(kind);
    log = await open();
  });
  afterEach(async () => {
    await log.close();
    await b.cleanup();
  });

  /** Three messages a minute apart; returns their ids. */
  async function threeMessages(): Promise<string[]> {
    const ids: string[] = [];
    for (const [i, m] of [
      { from: "tanaka@example.co.jp", to: "soumu@city.example.lg.jp", subject: "会議資料の送付" },
      { from: "news@shop.example.com", to: "kikaku@city.example.lg.jp", subject: "Weekly newsletter", attachments: 2 },
      { from: "suzuki@example.ne.jp", to: "soumu@city.example.lg.jp", subject: "請求書 11月分", end: "held" as const },
    ].entries()) {
      now = T0 + i * MINUTE;
      const id = newAuditId(new Date(now));
      ids.push(id);
      recordStory(log, { id, ...m });
    }
    await log.flush();
    return ids;
  }

  it("finds each message by subject, sender, recipient, status, id and time", async () => {
    const [a, bId, c] = await threeMessages();
    const ids = async (q: Parameters<AuditLog["search"]>[0]) => (await log.search(q)).rows.map((r) => r.auditId).sort();

    expect(await ids({ subject: "会議" })).toEqual([a]);
    expect(await ids({ subject: "NEWSLETTER" })).toEqual([bId]); // case-insensitive for ASCII
    expect(await ids({ from: "suzuki@" })).toEqual([c]);
    expect(await ids({ from: "送信者" })).toEqual([a, bId, c].sort()); // header From display name
    expect(await ids({ to: "soumu@" })).toEqual([a, c].sort());
    expect(await ids({ status: "held" })).toEqual([c]);
    expect(await ids({ status: "delivered" })).toEqual([a, bId].sort());
    expect(await ids({ auditId: bId })).toEqual([bId]);
    expect(await ids({ since: new Date(T0 + MINUTE), until: new Date(T0 + 2 * MINUTE) })).toEqual([bId]);
    expect(await ids({ subject: "%" })).toEqual([]); // LIKE wildcards are literal
    expect(await ids({ subject: "請求書 11" })).toEqual([c]); // 3+ characters: the trigram index where there is one
    expect(await ids({ subject: "資料の送" })).toEqual([a]);
    expect(await ids({ to: "KIKAKU@CITY" })).toEqual([bId]);
    expect(await ids({ from: "example" })).toEqual([a, bId, c].sort());
    expect(await ids({ subject: "letter_" })).toEqual([]); // "_" is not a wildcard either
    const row = (await log.search({ auditId: bId })).rows[0]!;
    expect(row).toMatchObject({ mailFrom: "news@shop.example.com", headerFrom: "送信者 <news@shop.example.com>", rcptTo: ["kikaku@city.example.lg.jp"], subject: "Weekly newsletter", status: "delivered", size: 1234, attachmentsRemoved: 2 });
  });

  it("pages through results newest first and counts them all", async () => {
    for (let i = 0; i < 25; i += 1) {
      now = T0 + i * MINUTE;
      recordStory(log, { id: newAuditId(new Date(now)), from: `s${i}@example.jp`, to: "x@city.example.lg.jp", subject: `件名 ${i}` });
    }
    await log.flush();
    const p1 = await log.search({ limit: 10, offset: 0 });
    const p3 = await log.search({ limit: 10, offset: 20 });
    expect(p1.total).toBe(25);
    expect(p1.rows.map((r) => r.subject)).toEqual(Array.from({ length: 10 }, (_, i) => `件名 ${24 - i}`));
    expect(p3.rows.map((r) => r.subject)).toEqual(["件名 4", "件名 3", "件名 2", "件名 1", "件名 0"]);
  });

  it("tells a message's whole story in order, its status being the latest state", async () => {
    const id = newAuditId(new Date(now));
    recordStory(log, { id, from: "a@example.jp", to: "b@city.example.lg.jp", subject: "s", end: "deferred" });
    log.record({ type: "held", auditId: id, data: { reason: "max queue lifetime" } });
    log.record({ type: "released", auditId: id, actor: "cli:admin", data: {} });
    await log.flush();
    expect((await log.search({ auditId: id })).rows[0]!.status).toBe("queued");
    log.record({ type: "delivered", auditId: id, data: { host: "127.0.0.1:25" } });
    log.record({ type: "original-retrieved", auditId: id, actor: "cli:admin", data: {} });
    await log.flush();
    const story = await log.story(id);
    expect(story.map((e) => e.type)).toEqual(["received", "sanitized", "delivery-attempt", "deferred", "held", "released", "delivered", "original-retrieved"]);
    expect(story.map((e) => e.seq)).toEqual([...story.map((e) => e.seq)].sort((x, y) => x - y));
    expect(story[5]!.actor).toBe("cli:admin");
    expect((await log.search({ auditId: id })).rows[0]!.status).toBe("delivered");
  });

  it("counts messages per Japan-time day", async () => {
    now = Date.parse("2026-11-20T14:30:00Z"); // 23:30 JST on the 20th
    recordStory(log, { id: newAuditId(new Date(now)), from: "a@x.jp", to: "b@y.jp", subject: "1", attachments: 3 });
    now = Date.parse("2026-11-20T15:30:00Z"); // 00:30 JST on the 21st
    recordStory(log, { id: newAuditId(new Date(now)), from: "a@x.jp", to: "b@y.jp", subject: "2", end: "held" });
    await log.flush();
    const days = await log.dailyCounts(new Date("2026-11-19T15:00:00Z"), new Date("2026-11-21T15:00:00Z"));
    expect(days).toEqual([
      { day: "2026-11-20", received: 1, delivered: 1, attachmentsRemoved: 3, held: 0, deferred: 0, bounced: 0, rejected: 0 },
      { day: "2026-11-21", received: 1, delivered: 0, attachmentsRemoved: 0, held: 1, deferred: 0, bounced: 0, rejected: 0 },
    ]);
  });

  it("exports the events of a time range as JSON lines", async () => {
    await threeMessages();
    const chunks: string[] = [];
    const { Writable } = await import("node:stream");
    const out = new Writable({ write: (c, _e, done) => (chunks.push(String(c)), done()) });
    const n = await log.exportJsonl(new Date(T0 + MINUTE), new Date(T0 + 2 * MINUTE), out);
    const lines = chunks.join("").trim().split("\n").map((l) => JSON.parse(l) as AuditEvent);
    expect(n).toBe(4);
    expect(lines.map((e) => e.type)).toEqual(["received", "sanitized", "delivery-attempt", "delivered"]);
    expect(lines[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("verifies an intact chain and reports its head", async () => {
    await threeMessages();
    const result = await log.verify();
    expect(result).toMatchObject({ ok: true, checked: 12, headSeq: 12 });
    expect(result.headHash).toMatch(/^[0-9a-f]{64}$/);
  });

  describe("tampering", () => {
    const rowAt = async (seq: number) => (await b.exec("SELECT * FROM {e} WHERE seq = ?", [seq]))[0]!;

    it("names an event whose content was edited", async () => {
      await threeMessages();
      const row = await rowAt(5);
      await b.exec("UPDATE {e} SET data = ? WHERE seq = ?", [String(row.data).replace("Weekly", "Harmless"), 5]);
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 5, reason: expect.stringContaining("edited") } });
    });

    it("names the event after one edited with a recomputed hash", async () => {
      await threeMessages();
      const [e5] = (await log.story((await rowAt(5)).audit_id as string)).filter((e) => e.seq === 5);
      const forged = { ...e5!, data: { ...e5!.data, subject: "forged" } };
      const { hash: _old, ...content } = forged;
      await b.exec("UPDATE {e} SET data = ?, hash = ? WHERE seq = ?", [JSON.stringify(forged.data), eventHash(content), 5]);
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 6 } });
    });

    it("names a deleted event", async () => {
      await threeMessages();
      await b.exec("DELETE FROM {e} WHERE seq = ?", [7]);
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 7, reason: expect.stringContaining("missing") } });
    });

    it("notices the first event deleted", async () => {
      await threeMessages();
      await b.exec("DELETE FROM {e} WHERE seq = ?", [1]);
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 2 } });
    });

    it("names an inserted event, even one hashed onto its predecessor", async () => {
      await threeMessages();
      await b.exec("UPDATE {e} SET seq = -seq - 1 WHERE seq > ?", [4]);
      await b.exec("UPDATE {e} SET seq = -seq WHERE seq < 0");
      const prev = await rowAt(4);
      const fake = { seq: 5, ts: new Date(T0).toISOString(), gateway: "gw-test", type: "delivered" as const, data: {}, prevHash: String(prev.hash) };
      await b.exec("INSERT INTO {e} (seq, ts, gateway, type, audit_id, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        5, fake.ts, fake.gateway, fake.type, null, null, "{}", fake.prevHash, eventHash(fake),
      ]);
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 6 } });
    });

    it("names reordered events", async () => {
      await threeMessages();
      await b.exec("UPDATE {e} SET seq = -1 WHERE seq = 5");
      await b.exec("UPDATE {e} SET seq = 5 WHERE seq = 6");
      await b.exec("UPDATE {e} SET seq = 6 WHERE seq = -1");
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 5 } });
    });

    it("fails when one stored subject is edited by hand in the message summaries", async () => {
      const [, target] = await threeMessages();
      await b.exec("UPDATE {m} SET subject = ? WHERE audit_id = ?", ["ただのお知らせ", target]);
      const result = await log.verify();
      expect(result.ok).toBe(false);
      expect(result.firstBad).toMatchObject({ auditId: target, reason: expect.stringContaining("subject") });
      expect(result.firstBad!.reason).toContain("Weekly newsletter");
    });

    it("fails when a message's summary is deleted or one is made up", async () => {
      const [a] = await threeMessages();
      await b.exec("DELETE FROM {m} WHERE audit_id = ?", [a]);
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { auditId: a, reason: expect.stringContaining("missing") } });

      const other = makeBackend(kind); // fresh store: only the made-up row is wrong
      const log2 = await openAuditLog({ config: other.config(), dataDir: other.dataDir, gateway: "g", logger: quietLogger() });
      try {
        recordStory(log2, { id: newAuditId(), from: "a@x.jp", to: "b@y.jp", subject: "s" });
        await log2.flush();
        await other.exec(
          "INSERT INTO {m} (audit_id, received_at, day_jst, mail_from, header_from, rcpt_to, subject, status, size, attachments_removed, first_seq, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          ["20261126T000000Z-0000000000000000", new Date().toISOString(), "2026-11-26", "x@x.jp", "", "[]", "made up", "delivered", 1, 0, 99, 99],
        );
        expect(await log2.verify()).toMatchObject({ ok: false, firstBad: { auditId: "20261126T000000Z-0000000000000000" } });
      } finally {
        await log2.close();
        await other.cleanup();
      }
    });
  });

  describe("retention", () => {
    it("purges old events behind a checkpoint, and what remains still verifies", async () => {
      const [a, bId, c] = await threeMessages();
      now = T0 + MINUTE + RETENTION;
      const { removed } = await log.purge(new Date(T0 + MINUTE), "cli:admin"); // the first message's 4 events
      expect(removed).toBe(4);
      expect(await log.verify()).toMatchObject({ ok: true, checked: 9 });
      expect((await log.search({})).rows.map((r) => r.auditId).sort()).toEqual([bId, c].sort());
      expect(await log.story(a!)).toEqual([]);
      const [checkpoint] = (await b.exec("SELECT actor, data FROM {e} WHERE type = 'checkpoint'")) as { actor: string; data: string }[];
      expect(checkpoint!.actor).toBe("cli:admin");
      expect(JSON.parse(checkpoint!.data)).toMatchObject({ purgedThroughSeq: 4, removed: 4 });

      // more mail after the purge: still one valid chain
      recordStory(log, { id: newAuditId(new Date(now)), from: "a@x.jp", to: "b@y.jp", subject: "after" });
      await log.flush();
      expect(await log.verify()).toMatchObject({ ok: true, checked: 13 });

      // and removing the first remaining event is still caught
      await b.exec("DELETE FROM {e} WHERE seq = ?", [5]);
      expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 6 } });
    });

    it("keeps the chain going when everything was purged", async () => {
      await threeMessages();
      now = T0 + 60 * MINUTE + RETENTION;
      expect((await log.purge(new Date(now - RETENTION), "cli:admin")).removed).toBe(12);
      expect(await log.verify()).toMatchObject({ ok: true, checked: 1, headSeq: 13 });
      recordStory(log, { id: newAuditId(new Date(now)), from: "a@x.jp", to: "b@y.jp", subject: "later" });
      await log.flush();
      expect(await log.verify()).toMatchObject({ ok: true, checked: 5, headSeq: 17 });
      expect((await log.purge(new Date(T0), "cli:admin")).removed).toBe(0);
    });
  });

  it("never throws from record(), even for data that cannot be stored as JSON", async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => log.record({ type: "admin", actor: "cli:x", data: cyclic })).not.toThrow();
    expect(() => log.record({ type: "admin", data: { big: 10n } as unknown as Record<string, unknown> })).not.toThrow();
    expect(() => log.record({ type: "admin", data: { when: new Date(T0), gone: undefined } })).not.toThrow();
    await log.flush();
    const events = await log.exportJsonl(new Date(0), new Date(T0 + 1), { write: () => true, on() {}, off() {} } as unknown as NodeJS.WritableStream);
    expect(events).toBe(3);
    expect(await log.verify()).toMatchObject({ ok: true, checked: 3 });
  });

  it("writes every event to the pino stream as well, as ids, addresses and sizes but no subject or text", async () => {
    const mem = memoryLogger();
    const l2 = await openAuditLog({ config: b.config(), dataDir: b.dataDir, gateway: "gw-log", logger: mem.logger });
    l2.record({ type: "received", auditId: "X1", data: { subject: "ログにも", mailFrom: "a@example.jp", rcptTo: ["s@city.example.lg.jp"], size: 12 } });
    l2.record({ type: "sanitized", auditId: "X1", data: { report: { headers: { subject: "ログにも" }, attachments: [{ filename: "秘密.exe" }] }, text: "本文はログに出ない" } });
    await l2.close();
    const lines = mem.lines().filter((l) => l.audit);
    expect(lines[0]).toMatchObject({ level: 30, audit: { type: "received", auditId: "X1", mailFrom: "a@example.jp", rcptTo: ["s@city.example.lg.jp"], size: 12 } });
    expect(lines[1]).toMatchObject({ audit: { type: "sanitized", auditId: "X1", attachmentsRemoved: 1 } });
    const all = JSON.stringify(mem.lines());
    for (const secret of ["ログにも", "秘密.exe", "本文はログに出ない"]) expect(all).not.toContain(secret);
    // the store keeps them all: the text beside the chain, its hash in it
    const story = await log.story("X1");
    expect(story.find((e) => e.type === "sanitized")?.data).toMatchObject({ text: "本文はログに出ない" });
  });

  it("puts subjects (and only subjects) in the pino stream with log.subjects", async () => {
    const mem = memoryLogger();
    const l2 = await openAuditLog({ config: b.config(), dataDir: b.dataDir, gateway: "gw-log", logger: mem.logger, logSubjects: true });
    l2.record({ type: "received", auditId: "X2", data: { subject: "件名は出る" } });
    l2.record({ type: "sanitized", auditId: "X2", data: { report: { headers: { subject: "件名は出る" } }, text: "本文は出ない" } });
    await l2.close();
    const lines = mem.lines().filter((l) => l.audit);
    expect(lines.map((l) => (l.audit as { subject?: string }).subject)).toEqual(["件名は出る", "件名は出る"]);
    expect(JSON.stringify(lines)).not.toContain("本文は出ない");
  });
});

describe.skipIf(!PG_URL)("the audit trail shared on PostgreSQL", () => {
  it("keeps one valid chain when two gateways write at once", async () => {
    const b = makeBackend("postgres");
    const open = (gw: string) => openAuditLog({ config: b.config({ flushMs: 5, batchSize: 37 }), dataDir: b.dataDir, gateway: gw, logger: quietLogger() });
    const [g1, g2] = await Promise.all([open("gw1"), open("gw2")]);
    try {
      const PER_GATEWAY = 300;
      for (let i = 0; i < PER_GATEWAY; i += 1) {
        recordStory(g1, { id: `g1-${i}`, from: "a@x.jp", to: "b@y.jp", subject: `one ${i}`, end: "none" });
        recordStory(g2, { id: `g2-${i}`, from: "a@x.jp", to: "b@y.jp", subject: `two ${i}`, end: "none" });
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all([g1.flush(), g2.flush()]);
      const result = await g1.verify();
      expect(result).toMatchObject({ ok: true, checked: PER_GATEWAY * 6, headSeq: PER_GATEWAY * 6 });
      const gateways = await b.exec("SELECT gateway, COUNT(*) AS n FROM {e} GROUP BY gateway ORDER BY gateway");
      expect(gateways.map((r) => [r.gateway, Number(r.n)])).toEqual([["gw1", PER_GATEWAY * 3], ["gw2", PER_GATEWAY * 3]]);
      // each message's story is whole and in order even though the batches interleaved
      expect((await g2.story("g2-7")).map((e) => e.type)).toEqual(["received", "sanitized", "delivery-attempt"]);
    } finally {
      await Promise.all([g1.close(), g2.close()]);
      await b.cleanup();
    }
  });

  it("does not throw while the database is unreachable, says so loudly, and catches up", async () => {
    const b = makeBackend("postgres");
    const target = new URL(PG_URL!);
    let up = false;
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      if (!up) {
        client.destroy();
        return;
      }
      const server = net.connect(Number(target.port || 5432), target.hostname);
      sockets.add(client).add(server);
      client.pipe(server).pipe(client);
      const end = () => (client.destroy(), server.destroy());
      client.on("error", end).on("close", end);
      server.on("error", end).on("close", end);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const via = new URL(PG_URL!);
    via.hostname = "127.0.0.1";
    via.port = String((proxy.address() as net.AddressInfo).port);

    const mem = memoryLogger("warn");
    let lag = 0;
    const log = await openAuditLog({
      config: b.config({ url: via.toString() }),
      dataDir: b.dataDir,
      gateway: "gw-down",
      logger: mem.logger,
      metrics: { auditLag: { set: (v: number) => void (lag = v) } as never },
    });
    try {
      for (let i = 0; i < 20; i += 1) {
        expect(() => recordStory(log, { id: `m${i}`, from: "a@x.jp", to: "b@y.jp", subject: `s${i}` })).not.toThrow();
      }
      // wait for the outcome (every event waiting, the failure reported), not a number of milliseconds
      await waitFor(() => lag === 80 && mem.lines().some((l) => l.level === 50 && String(l.msg).includes("FAILED")), 30_000, "the outage to show");
      expect(lag).toBe(80);
      expect(mem.lines().some((l) => l.level === 50 && String(l.msg).includes("FAILED"))).toBe(true);

      up = true;
      await log.flush();
      expect(lag).toBe(0);
      expect(await log.verify()).toMatchObject({ ok: true, checked: 80 });
      expect((await log.search({ subject: "s19" })).total).toBe(1);
    } finally {
      await log.close();
      for (const s of sockets) s.destroy();
      proxy.close();
      await b.cleanup();
    }
  });
});
