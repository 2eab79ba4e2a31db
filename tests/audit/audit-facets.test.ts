/**
 * Searching by what was removed or disarmed, on SQLite and PostgreSQL alike:
 * an attachment's SHA-256, a substring of its file name, its sniffed type, a
 * link's domain (any parent domain) or full URL, the sender's domain, a
 * recorded verdict; and "who else received this?" — every message and
 * recipient with the same hash, with counts per day. The index is kept with
 * the events (a purge removes both), and a store written before the index
 * existed is indexed from its events when opened.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog, type AuditLog } from "../../src/audit/index.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { backendKinds, backendMissing, makeBackend, quietLogger, type Backend } from "./backends.ts";

const PDF = "d".repeat(64);
const ZIP = "e".repeat(64);
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

function report(parts: { filename: string; sha256: string; sniffedType?: string; encrypted?: boolean }[], urls: string[] = []) {
  return {
    headers: { subject: "請求書" },
    attachments: parts.map((p, i) => ({ path: String(i + 2), contentType: "application/octet-stream", typeMismatch: false, size: 100, encrypted: false, ...p })),
    links: { found: urls.length, disarmed: urls.length, mode: "defang", urls },
  };
}

describe.each(backendKinds())("search by attachment, link, sender and verdict, on %s", (kind) => {
  let b: Backend;
  let clock: number;
  const logs: AuditLog[] = [];
  const open = async (): Promise<AuditLog> => {
    const log = await openAuditLog({ config: b.config(), dataDir: b.dataDir, gateway: "gw", logger: quietLogger(), now: () => new Date(clock) });
    logs.push(log);
    return log;
  };
  const message = (log: AuditLog, from: string, to: string[], data: Record<string, unknown>): string => {
    const id = newAuditId(new Date(clock)); // as the gateway names a message: by its arrival
    log.record({ type: "received", auditId: id, data: { mailFrom: from, rcptTo: to, size: 10, sha256: "a".repeat(64) } });
    log.record({ type: "sanitized", auditId: id, data: { rulesApplied: [], ...data } });
    return id;
  };

  beforeEach(() => {
    b = makeBackend(kind);
    clock = Date.parse("2026-11-02T01:00:00Z");
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await b.cleanup();
  });

  it.skipIf(backendMissing(kind))("finds every message with a removed file's hash, name, type, a link's domain or URL, the sender domain and a verdict", async () => {
    const log = await open();
    const invoice = message(log, "billing@mail.evil.example", ["a@city.lg.jp"], {
      report: report([{ filename: "Invoice_2026.PDF", sha256: PDF, sniffedType: "pdf" }], ["https://login.evil.example/a?b=1"]),
    });
    const ppap = message(log, "staff@partner.example", ["b@city.lg.jp"], {
      report: report([{ filename: "資料.zip", sha256: ZIP, sniffedType: "zip", encrypted: true }], ["http://www.partner.example/"]),
    });
    const held = message(log, "x@other.example", ["c@city.lg.jp"], {
      facts: { attachments: [{ filename: "run.exe", sha256: "f".repeat(64), sniffedType: "exe", typeMismatch: true, encrypted: false }] },
      rulesApplied: ["block-exe"],
      action: "hold",
    });
    await log.flush();
    const ids = async (q: Parameters<AuditLog["search"]>[0]) => (await log.search(q)).rows.map((r) => r.auditId).sort();

    expect(await ids({ sha256: PDF.toUpperCase() })).toEqual([invoice]);
    expect(await ids({ attachmentName: "invoice" })).toEqual([invoice]);
    expect(await ids({ attachmentName: "資料" })).toEqual([ppap]);
    expect(await ids({ attachmentName: "100%" })).toEqual([]); // a LIKE wildcard is a character, not a pattern
    expect(await ids({ sniffedType: "zip" })).toEqual([ppap]);
    expect(await ids({ linkDomain: "evil.example" })).toEqual([invoice]);
    expect(await ids({ linkDomain: "login.evil.example" })).toEqual([invoice]);
    expect(await ids({ linkDomain: "example" })).toEqual([]); // a top-level domain alone is not a link domain
    expect(await ids({ url: "https://login.evil.example/a?b=1" })).toEqual([invoice]);
    expect(await ids({ senderDomain: "@evil.example" })).toEqual([invoice]);
    expect(await ids({ verdict: "ppap" })).toEqual([ppap]);
    expect(await ids({ verdict: "rule:block-exe" })).toEqual([held]);
    expect(await ids({ verdict: "action:hold" })).toEqual([held]);
    expect(await ids({ verdict: "type-mismatch" })).toEqual([held]);
    expect(await ids({ sha256: PDF, senderDomain: "partner.example" })).toEqual([]); // fields combine with AND
    expect(await log.verify()).toMatchObject({ ok: true });
  });

  it.skipIf(backendMissing(kind))("records a sender-authentication verdict whatever event carries it, so it can be searched", async () => {
    const log = await open();
    const id = newAuditId();
    log.record({ type: "received", auditId: id, data: { mailFrom: "a@spoof.example", rcptTo: ["a@city.lg.jp"], size: 1, authentication: { dmarc: { result: "fail" }, spf: "softfail" } } });
    await log.flush();
    expect((await log.search({ verdict: "dmarc:fail" })).rows.map((r) => r.auditId)).toEqual([id]);
    expect((await log.search({ verdict: "spf:softfail" })).total).toBe(1);
  });

  it.skipIf(backendMissing(kind))("answers who else received a file: five recipients over two days, with counts per day", async () => {
    const log = await open();
    message(log, "a@evil.example", ["one@city.lg.jp", "two@city.lg.jp"], { report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    clock += 2 * HOUR;
    message(log, "b@evil.example", ["three@city.lg.jp"], { report: report([{ filename: "b.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    clock += DAY;
    message(log, "c@evil.example", ["Four@city.lg.jp", "five@city.lg.jp", "one@city.lg.jp"], { report: report([{ filename: "c.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    message(log, "d@good.example", ["six@city.lg.jp"], { report: report([{ filename: "c.pdf", sha256: ZIP, sniffedType: "zip" }]) });
    await log.flush();
    const spread = await log.spread({ kind: "sha256", value: PDF });
    expect(spread.messages).toBe(3);
    expect(spread.truncated).toBe(false);
    expect(spread.recipientsComplete).toBe(true);
    expect(spread.days).toEqual([
      { day: "2026-11-02", messages: 2, recipients: 3 },
      { day: "2026-11-03", messages: 1, recipients: 3 },
    ]);
    expect(spread.recipients.map((r) => r.address)).toEqual(["one@city.lg.jp", "five@city.lg.jp", "four@city.lg.jp", "three@city.lg.jp", "two@city.lg.jp"]);
    expect(spread.recipients[0]).toEqual({ address: "one@city.lg.jp", messages: 2 });
    expect(spread.rows).toHaveLength(3);
    expect(spread.rows[0]!.rcptTo).toContain("Four@city.lg.jp"); // newest first
    // a search by the hash alone pages newest first, like every search
    const first = await log.search({ sha256: PDF, limit: 2 });
    const second = await log.search({ sha256: PDF, limit: 2, offset: 2 });
    expect(first.total).toBe(3);
    expect([...first.rows, ...second.rows].map((r) => r.rcptTo[0])).toEqual(["Four@city.lg.jp", "three@city.lg.jp", "one@city.lg.jp"]);
    // and so does a file-name substring (c.pdf is in two messages, counted once each)
    const names = [await log.search({ attachmentName: ".PDF", limit: 3 }), await log.search({ attachmentName: ".pdf", limit: 3, offset: 3 })];
    expect(names.map((p) => p.total)).toEqual([4, 4]);
    const paged = names.flatMap((p) => p.rows).map((r) => r.rcptTo[0]);
    expect(paged.slice(2)).toEqual(["three@city.lg.jp", "one@city.lg.jp"]);
    expect(paged.slice(0, 2).sort()).toEqual(["Four@city.lg.jp", "six@city.lg.jp"]); // same second: the audit id decides
    expect((await log.search({ attachmentName: "pdf" })).rows.map((r) => r.rcptTo[0])).toEqual(paged);
  });

  it.skipIf(backendMissing(kind))("lists the newest 1,000 messages of a spread but counts every recipient and every day", async () => {
    const log = await open();
    for (let i = 0; i < 1003; i++) {
      if (i === 3) clock += DAY; // three on the first day, a thousand on the next
      message(log, "a@evil.example", [`staff${i % 7}@city.lg.jp`, ...(i === 0 ? ["Chief@city.lg.jp"] : [])], {
        report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }], ["https://cdn.evil.example/p.png"]),
      });
    }
    await log.flush();
    for (const question of [{ kind: "sha256", value: PDF }, { kind: "domain", value: "evil.example" }] as const) {
      const spread = await log.spread(question);
      expect(spread).toMatchObject({ messages: 1003, truncated: true, recipientsComplete: true });
      expect(spread.rows).toHaveLength(1000);
      expect(spread.days).toEqual([
        { day: "2026-11-02", messages: 3, recipients: 4 },
        { day: "2026-11-03", messages: 1000, recipients: 1000 },
      ]);
      // the oldest message, not listed, still names its second recipient
      expect(spread.recipients.find((r) => r.address === "chief@city.lg.jp")).toEqual({ address: "chief@city.lg.jp", messages: 1 });
      expect(spread.recipients.reduce((n, r) => n + r.messages, 0)).toBe(1004);
    }
    // a URL's recipients are counted over its newest messages (all of them here)
    expect(await log.spread({ kind: "url", value: "https://cdn.evil.example/p.png" })).toMatchObject({ messages: 1003, recipientsComplete: true });
  }, 60_000);

  it.skipIf(backendMissing(kind))("forgets a message's facets when a purge removes its events", async () => {
    const log = await open();
    message(log, "a@evil.example", ["one@city.lg.jp"], { report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    clock += 400 * DAY;
    const kept = message(log, "a@evil.example", ["two@city.lg.jp"], { report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    await log.flush();
    await log.purge(new Date(clock - 365 * DAY), "cli:test");
    const spread = await log.spread({ kind: "sha256", value: PDF });
    expect(spread.rows.map((r) => r.auditId)).toEqual([kept]);
    // the total and the counts per day are the kept message's alone
    expect(spread.messages).toBe(1);
    expect(spread.days).toEqual([{ day: "2027-12-07", messages: 1, recipients: 1 }]);
    expect(spread.recipients).toEqual([{ address: "two@city.lg.jp", messages: 1 }]);
    expect((await log.search({ sha256: PDF })).total).toBe(1);
    expect(await b.exec(`SELECT COUNT(*) AS n FROM ${b.prefix}_facets WHERE audit_id <> ?`, [kept])).toEqual([{ n: kind === "sqlite" ? 0 : "0" }]);
  });

  it.skipIf(backendMissing(kind))("forgets the facets a message gained after the purge's cut when its story began before it", async () => {
    const log = await open();
    const id = newAuditId(new Date(clock));
    log.record({ type: "received", auditId: id, data: { mailFrom: "a@evil.example", rcptTo: ["one@city.lg.jp"], size: 10, sha256: "a".repeat(64) } });
    clock += 30 * DAY; // held for a month, then its sanitized story goes on
    log.record({ type: "sanitized", auditId: id, data: { rulesApplied: [], report: report([{ filename: "late.pdf", sha256: PDF, sniffedType: "pdf" }]) } });
    await log.flush();
    const cut = clock - DAY; // after its arrival, before its sanitized story
    clock += 366 * DAY; // the cut is past audit.retentionDays (365) by now
    await log.purge(new Date(cut), "cli:test");
    expect(await log.spread({ kind: "sha256", value: PDF })).toMatchObject({ messages: 0, days: [], rows: [] });
    expect((await log.search({ attachmentName: "late" })).total).toBe(0);
    expect(await b.exec(`SELECT COUNT(*) AS n FROM ${b.prefix}_facets`)).toEqual([{ n: kind === "sqlite" ? 0 : "0" }]);
    // the purged message's file name is not kept in the names index either, nor its counts
    if (kind === "sqlite") expect(await b.exec(`SELECT COUNT(*) AS n FROM ${b.prefix}_facet_names`)).toEqual([{ n: 0 }]);
    expect(await b.exec(`SELECT COUNT(*) AS n FROM ${b.prefix}_facet_recipients`)).toEqual([{ n: kind === "sqlite" ? 0 : "0" }]);
    expect(await b.exec(`SELECT COUNT(*) AS n FROM ${b.prefix}_facet_days`)).toEqual([{ n: kind === "sqlite" ? 0 : "0" }]);
  });

  it.skipIf(backendMissing(kind))("takes back at a purge only what was counted: a facet stored before its message's received counted nowhere", async () => {
    const log = await open();
    // B's sanitized reaches the store before its received (a rebuilt received stored later): counted nowhere
    const late = newAuditId(new Date(clock));
    log.record({ type: "sanitized", auditId: late, data: { rulesApplied: [], report: report([{ filename: "b.pdf", sha256: PDF, sniffedType: "pdf" }]) } });
    await log.flush();
    log.record({ type: "received", auditId: late, data: { mailFrom: "b@evil.example", rcptTo: ["b@city.lg.jp"], size: 10, sha256: "b".repeat(64) } });
    await log.flush();
    const cut = clock + HOUR;
    clock += 2 * HOUR; // A arrives the same day, after the cut
    message(log, "a@evil.example", ["a@city.lg.jp"], { report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    await log.flush();
    expect(await log.spread({ kind: "sha256", value: PDF })).toMatchObject({ messages: 1, days: [{ day: "2026-11-02", messages: 1 }] });
    clock += 366 * DAY;
    await log.purge(new Date(cut), "cli:test");
    // A's count stays whole: B's uncounted facet is not subtracted from it
    expect(await log.spread({ kind: "sha256", value: PDF })).toMatchObject({ messages: 1, days: [{ day: "2026-11-02", messages: 1 }] });
  });

  it.skipIf(backendMissing(kind))("counts a message once per value, however many of its events carry it", async () => {
    const log = await open();
    const id = newAuditId(new Date(clock));
    const auth = { authentication: { dmarc: "fail" } };
    log.record({ type: "received", auditId: id, data: { mailFrom: "a@spoof.example", rcptTo: ["a@city.lg.jp", "b@city.lg.jp"], size: 1, ...auth } });
    log.record({ type: "sanitized", auditId: id, data: { rulesApplied: [], ...auth } });
    await log.flush();
    log.record({ type: "held", auditId: id, data: { reason: "dmarc", ...auth } }); // a later append, too
    await log.flush();
    expect((await log.search({ verdict: "dmarc:fail" })).total).toBe(1);
    const spread = await log.spread({ kind: "verdict", value: "dmarc:fail" });
    expect(spread).toMatchObject({ messages: 1, days: [{ day: "2026-11-02", messages: 1, recipients: 2 }] });
  });

  it.skipIf(backendMissing(kind))("walks a time range page by page in time order, events of the same instant included once each", async () => {
    const log = await open();
    clock = Date.parse("2026-10-31T14:00:00Z"); // the month before (Japan time): outside the range
    message(log, "a@x.example", ["a@city.lg.jp"], {});
    clock = Date.parse("2026-11-01T00:00:00Z");
    for (let i = 0; i < 3; i++) message(log, "a@x.example", ["a@city.lg.jp"], {}); // six events at one instant
    clock = Date.parse("2026-12-01T00:00:00Z"); // after the range
    message(log, "a@x.example", ["a@city.lg.jp"], {});
    await log.flush();
    const since = new Date("2026-10-31T15:00:00Z");
    const until = new Date("2026-11-30T15:00:00Z");
    const seen: number[] = [];
    let after: { ts: string; seq: number } | undefined;
    for (;;) {
      const page = await log.eventsBetween(since, until, after, 4);
      seen.push(...page.map((e) => e.seq));
      if (page.length < 4) break;
      after = { ts: page.at(-1)!.ts, seq: page.at(-1)!.seq };
    }
    expect(seen).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it.skipIf(backendMissing(kind))("indexes a store written before the index existed when it is opened", async () => {
    const log = await open();
    const id = message(log, "a@evil.example", ["one@city.lg.jp"], { report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    await log.flush();
    await log.close();
    logs.splice(0);
    await b.exec(`DROP TABLE ${b.prefix}_facets`);
    const again = await open();
    expect((await again.search({ sha256: PDF })).rows.map((r) => r.auditId)).toEqual([id]);
  });

  it.skipIf(backendMissing(kind))("counts per day for a store written before the counts existed when it is opened (a mangled summary counts one recipient)", async () => {
    const log = await open();
    const first = message(log, "a@evil.example", ["one@city.lg.jp", "two@city.lg.jp"], { report: report([{ filename: "Invoice.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    clock += DAY;
    const second = message(log, "b@evil.example", ["three@city.lg.jp"], { report: report([{ filename: "invoice-2.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    clock += DAY;
    const third = message(log, "c@evil.example", ["four@city.lg.jp"], { report: report([{ filename: "other.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    await log.flush();
    await log.close();
    logs.splice(0);
    await b.exec(`UPDATE {m} SET rcpt_to = ? WHERE audit_id = ?`, ["[not json", third]);
    await b.exec(`DROP TABLE ${b.prefix}_facet_days`);
    await b.exec(`DROP TABLE ${b.prefix}_facet_recipients`);
    if (kind === "sqlite") await b.exec(`DROP TABLE ${b.prefix}_facet_names`);
    const again = await open();
    expect(await again.spread({ kind: "sha256", value: PDF })).toMatchObject({
      messages: 3,
      recipientsComplete: true,
      recipients: [
        { address: "[not json", messages: 1 },
        { address: "one@city.lg.jp", messages: 1 },
        { address: "three@city.lg.jp", messages: 1 },
        { address: "two@city.lg.jp", messages: 1 },
      ],
      days: [
        { day: "2026-11-02", messages: 1, recipients: 2 },
        { day: "2026-11-03", messages: 1, recipients: 1 },
        { day: "2026-11-04", messages: 1, recipients: 1 },
      ],
    });
    expect((await again.search({ sniffedType: "pdf" })).total).toBe(3);
    expect((await again.search({ attachmentName: "invoice" })).rows.map((r) => r.auditId).sort()).toEqual([first, second].sort());
    // and new messages keep counting on the rebuilt table
    message(again, "d@evil.example", ["five@city.lg.jp"], { report: report([{ filename: "invoice-3.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    await again.flush();
    expect((await again.search({ sha256: PDF })).total).toBe(4);
    expect((await again.search({ attachmentName: "invoice" })).total).toBe(3);
  });
});

describe("facets of an event (pure)", () => {
  it("indexes a host under its parents down to the registered name, never a bare second-level domain", async () => {
    const { domainAndParents, urlHost } = await import("../../src/audit/facets.ts");
    expect(domainAndParents("a.b.evil.example")).toEqual(["a.b.evil.example", "b.evil.example", "evil.example"]);
    expect(domainAndParents("www.example.co.jp")).toEqual(["www.example.co.jp", "example.co.jp"]);
    expect(domainAndParents("city.example.lg.jp")).toEqual(["city.example.lg.jp", "example.lg.jp"]);
    expect(domainAndParents("192.0.2.1")).toEqual(["192.0.2.1"]);
    expect(urlHost("https://user:pw@Login.Evil.Example:8443/a?b")).toBe("login.evil.example");
    expect(urlHost("www.example.com/path")).toBe("www.example.com");
  });

  it("caps the facets of one event, however many links a message carries", async () => {
    const { facetsOf, MAX_FACETS_PER_EVENT } = await import("../../src/audit/facets.ts");
    const urls = Array.from({ length: 5000 }, (_, i) => `https://a.b.c.host${i}.example/`);
    const facets = facetsOf({ type: "sanitized", auditId: "x", data: { report: { links: { urls } } } });
    expect(facets.length).toBe(MAX_FACETS_PER_EVENT);
  });
});
