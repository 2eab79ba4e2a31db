/**
 * The release of an original with two people: nobody takes an original out
 * without a reason and a different administrator's approval; the requester
 * alone downloads, within the window and as many times as allowed (also when
 * two ask at once, and after a restart); every step is on record; the
 * single-person mode exists only when configured; break-glass is recorded
 * before anything is read and raises an alert.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEventInput, AuditSink } from "../../src/audit/audit-types.ts";
import { originalsSchema } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { openOriginals, type OriginalStore } from "../../src/originals/index.ts";
import { createReleaseDesk, ReleaseError, type ReleaseDesk } from "../../src/originals/release-desk.ts";
import { openReleaseStore, type ReleaseStore } from "../../src/originals/release-store.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";

const HOUR = 3600 * 1000;
const raw = Buffer.from("From: a@example.jp\r\nSubject: test\r\n\r\nbody\r\n");

function recordingSink(): AuditSink & { events: AuditEventInput[] } {
  const events: AuditEventInput[] = [];
  return { events, record: (e) => void events.push(e), flush: async () => {} };
}

async function bytes(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function code(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (error) {
    if (error instanceof ReleaseError) return error.code;
    throw error;
  }
  return undefined;
}

describe("release of an original with two people", () => {
  let dataDir: string;
  let store: ReleaseStore;
  let originals: OriginalStore;
  let audit: ReturnType<typeof recordingSink>;
  let clock: { now: number };
  let id: string;
  const desk = (release: Record<string, unknown> = {}, extra: Partial<Parameters<typeof createReleaseDesk>[0]> = {}): ReleaseDesk =>
    createReleaseDesk({ store, originals, audit, config: originalsSchema.parse({ release }).release, now: () => new Date(clock.now), ...extra });

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "mumuka-release-"));
    store = openReleaseStore(dataDir);
    audit = recordingSink();
    originals = openOriginals({ config: originalsSchema.parse({}), dataDir, audit });
    clock = { now: Date.parse("2026-12-06T01:00:00Z") };
    id = newAuditId();
    const file = path.join(dataDir, "seed");
    writeSpoolRecord(file, id, raw);
    await originals.retire(id, file);
  });
  afterEach(() => {
    store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("needs a reason, then a different administrator's approval, then lets the requester alone download once", async () => {
    const d = desk();
    expect(await code(d.request(id, "admin:tanaka", "   \u0007 "))).toBe("EBADREASON");
    const r = await d.request(id, "admin:tanaka", "依頼番号 2026-123\r\nX-Injected: yes");
    expect(r).toMatchObject({ status: "open", requester: "admin:tanaka", reason: "依頼番号 2026-123 X-Injected: yes", downloadsAllowed: 1 });
    expect(await code(d.download(r.id, "admin:tanaka"))).toBe("ENOTAPPROVED");
    // the requester cannot approve, not even from the other channel
    expect(await code(() => d.approve(r.id, "cli:tanaka"))).toBe("ESELF");
    const approved = d.approve(r.id, "admin:sato", "ok");
    expect(approved).toMatchObject({ status: "approved", decidedBy: "admin:sato", expiresAt: "2026-12-07T01:00:00.000Z" });
    expect(await code(() => d.approve(r.id, "admin:suzuki"))).toBe("ENOTOPEN");
    expect(await code(d.download(r.id, "admin:sato"))).toBe("ENOTREQUESTER");
    const first = await d.download(r.id, "admin:tanaka");
    expect((await bytes(first.stream)).equals(raw)).toBe(true);
    expect(await code(d.download(r.id, "admin:tanaka"))).toBe("EUSEDUP");

    const actions = audit.events.map((e) => (e.type === "admin" ? `${e.actor} ${e.data.action}${e.data.why ? ` ${e.data.why}` : ""}` : `${e.actor} ${e.type}`));
    expect(actions).toEqual([
      "admin:tanaka original-release-requested",
      "admin:tanaka original-release-download-refused ENOTAPPROVED",
      "cli:tanaka original-release-self-decision-refused",
      "admin:sato original-release-approved",
      "admin:sato original-release-download-refused ENOTREQUESTER",
      "admin:tanaka original-retrieved",
      "admin:tanaka original-release-download-refused EUSEDUP",
    ]);
    expect(audit.events.every((e) => e.auditId === id)).toBe(true);
    expect(audit.events[0]!.data).toMatchObject({ request: r.id, reason: "依頼番号 2026-123 X-Injected: yes" });
    expect(audit.events.find((e) => e.type === "original-retrieved")!.data).toMatchObject({ request: r.id, download: 1, of: 1 });
  });

  it("refuses a download after the window, and a refused request never downloads", async () => {
    const d = desk({ windowHours: 2, downloads: 3 });
    const r = await d.request(id, "admin:tanaka", "INC-1");
    d.approve(r.id, "admin:sato");
    clock.now += HOUR;
    await bytes((await d.download(r.id, "cli:tanaka")).stream);
    clock.now += HOUR;
    expect(await code(d.download(r.id, "admin:tanaka"))).toBe("EEXPIRED");

    const other = await d.request(id, "admin:tanaka", "INC-2");
    expect(await code(() => d.refuse(other.id, "admin:sato", " "))).toBe("EBADREASON");
    expect(d.refuse(other.id, "admin:sato", "not needed")).toMatchObject({ status: "refused", note: "not needed" });
    expect(await code(d.download(other.id, "admin:tanaka"))).toBe("EREFUSED");
  });

  it("takes exactly one download when two ask at once, and remembers it across a restart", async () => {
    const d = desk();
    const r = await d.request(id, "admin:tanaka", "INC-3");
    d.approve(r.id, "admin:sato");
    const results = await Promise.allSettled([d.download(r.id, "admin:tanaka"), d.download(r.id, "cli:tanaka")]);
    expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    for (const x of results) if (x.status === "fulfilled") await bytes(x.value.stream);
    store.close();
    store = openReleaseStore(dataDir);
    expect(store.get(r.id)).toMatchObject({ status: "approved", downloadsUsed: 1 });
    expect(await code(desk().download(r.id, "admin:tanaka"))).toBe("EUSEDUP");
  });

  it("gives a download back when the original cannot be read after all", async () => {
    const d = desk();
    const r = await d.request(id, "admin:tanaka", "INC-4");
    d.approve(r.id, "admin:sato");
    rmSync(path.join(dataDir, "originals"), { recursive: true });
    await expect(d.download(r.id, "admin:tanaka")).rejects.toThrow(/no retained original/);
    expect(store.get(r.id)!.downloadsUsed).toBe(0);
  });

  it("refuses a request for a message with no original, or for what is not an audit id", async () => {
    const d = desk();
    expect(await code(d.request(newAuditId(), "admin:tanaka", "INC-5"))).toBe("ENOORIGINAL");
    expect(await code(d.request("../../etc/passwd", "admin:tanaka", "INC-5"))).toBe("ENOORIGINAL");
    expect(await code(d.download("R-1; DROP TABLE", "admin:tanaka"))).toBe("ENOREQUEST");
  });

  it("approves a request by itself only in the single-person mode, and says so in the trail", async () => {
    expect(originalsSchema.parse({}).release.approvals).toBe(2);
    expect(() => originalsSchema.parse({ release: { approvals: 0 } })).toThrow();
    const d = desk({ approvals: 1 });
    const r = await d.request(id, "admin:tanaka", "INC-6");
    expect(r).toMatchObject({ status: "approved", decidedBy: "admin:tanaka" });
    expect(audit.events.at(-1)).toMatchObject({ actor: "admin:tanaka", data: { action: "original-release-approved", singlePerson: true } });
    expect((await bytes((await d.download(r.id, "admin:tanaka")).stream)).equals(raw)).toBe(true);
  });

  it("expires a request nobody decided within openDays, on record, so it can no longer be approved or used", async () => {
    const d = desk({ openDays: 7 });
    const stale = await d.request(id, "admin:tanaka", "INC-8");
    clock.now += 6 * 24 * HOUR;
    const fresh = await d.request(id, "admin:tanaka", "INC-9");
    expect(d.list().map((r) => r.status)).toEqual(["open", "open"]);
    clock.now += 24 * HOUR; // the first is now 7 days old, the second 1 day
    expect(await code(() => d.approve(stale.id, "admin:sato"))).toBe("ENOTOPEN");
    expect(d.get(stale.id)).toMatchObject({ status: "expired", decidedAt: new Date(clock.now).toISOString() });
    expect(d.get(stale.id)!.decidedBy).toBeUndefined(); // no person decided it
    expect(await code(d.download(stale.id, "admin:tanaka"))).toBe("ELAPSED");
    const expiredEvents = audit.events.filter((e) => e.data.action === "original-release-expired");
    expect(expiredEvents).toEqual([
      { type: "admin", auditId: id, actor: "system", data: { action: "original-release-expired", request: stale.id, requester: "admin:tanaka", requestedAt: stale.createdAt, openDays: 7 } },
    ]);
    // the younger request is untouched and can still be approved
    expect(d.approve(fresh.id, "admin:sato")).toMatchObject({ status: "approved" });
    expect(originalsSchema.parse({}).release.openDays).toBe(7);
  });

  it("lets the requester alone cancel a request while it is open, on record", async () => {
    const d = desk();
    const r = await d.request(id, "admin:tanaka", "INC-10");
    expect(await code(() => d.cancel(r.id, "admin:sato"))).toBe("ENOTYOURS");
    expect(d.cancel(r.id, "cli:tanaka")).toMatchObject({ status: "cancelled", decidedBy: "cli:tanaka" });
    expect(audit.events.at(-1)).toEqual({ type: "admin", auditId: id, actor: "cli:tanaka", data: { action: "original-release-cancelled", request: r.id } });
    expect(await code(() => d.approve(r.id, "admin:sato"))).toBe("ENOTOPEN");
    expect(await code(d.download(r.id, "admin:tanaka"))).toBe("ECANCELLED");
    expect(await code(() => d.cancel(r.id, "admin:tanaka"))).toBe("ENOTOPEN");
    // an approved request is no longer the requester's to withdraw
    const other = await d.request(id, "admin:tanaka", "INC-11");
    d.approve(other.id, "admin:sato");
    expect(await code(() => d.cancel(other.id, "admin:tanaka"))).toBe("ENOTOPEN");
  });

  it("opens a requests file made before requests could be cancelled or expire, keeping its rows", async () => {
    const d = desk();
    const r = await d.request(id, "admin:tanaka", "INC-12");
    store.close();
    // the old table: the narrower status check
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(path.join(dataDir, "releases.sqlite"));
    db.exec(`ALTER TABLE release_requests RENAME TO t; CREATE TABLE release_requests (id TEXT PRIMARY KEY, audit_id TEXT NOT NULL, requester TEXT NOT NULL,
      reason TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('open','approved','refused')), created_at TEXT NOT NULL, decided_by TEXT, decided_at TEXT,
      note TEXT, expires_at TEXT, downloads_allowed INTEGER NOT NULL CHECK (downloads_allowed >= 1),
      downloads_used INTEGER NOT NULL DEFAULT 0 CHECK (downloads_used >= 0 AND downloads_used <= downloads_allowed));
      INSERT INTO release_requests SELECT * FROM t; DROP TABLE t;`);
    db.close();
    store = openReleaseStore(dataDir);
    expect(desk().cancel(r.id, "admin:tanaka")).toMatchObject({ id: r.id, status: "cancelled", reason: "INC-12" });
  });

  it("records a break-glass retrieval with its reason before reading, and tells the alerts", async () => {
    const told: unknown[] = [];
    const d = desk({}, { onBreakGlass: (e) => told.push(e) });
    expect(await code(d.breakGlass(id, "cli:root", ""))).toBe("EBADREASON");
    expect(told).toEqual([]);
    expect((await bytes(await d.breakGlass(id, "cli:root", "障害対応 INC-7"))).equals(raw)).toBe(true);
    expect(told).toEqual([{ auditId: id, actor: "cli:root", reason: "障害対応 INC-7" }]);
    expect(audit.events.map((e) => e.type === "admin" ? e.data.action : e.type)).toEqual(["original-break-glass", "original-retrieved"]);
    expect(audit.events[1]!.data).toMatchObject({ breakGlass: true, reason: "障害対応 INC-7" });
  });
});
