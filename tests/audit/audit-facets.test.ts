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
  });

  it.skipIf(backendMissing(kind))("forgets a message's facets when a purge removes its events", async () => {
    const log = await open();
    message(log, "a@evil.example", ["one@city.lg.jp"], { report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    clock += 400 * DAY;
    const kept = message(log, "a@evil.example", ["two@city.lg.jp"], { report: report([{ filename: "a.pdf", sha256: PDF, sniffedType: "pdf" }]) });
    await log.flush();
    await log.purge(new Date(clock - 365 * DAY), "cli:test");
    expect((await log.spread({ kind: "sha256", value: PDF })).rows.map((r) => r.auditId)).toEqual([kept]);
    expect(await b.exec(`SELECT COUNT(*) AS n FROM ${b.prefix}_facets WHERE audit_id <> ?`, [kept])).toEqual([{ n: kind === "sqlite" ? 0 : "0" }]);
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
