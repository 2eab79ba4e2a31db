/**
 * The text staff received, on SQLite and PostgreSQL alike: it stays in the
 * audit store beside the chain (the console's message detail reads it), the
 * chain holds its SHA-256, it has a retention of its own that leaves the
 * chain verifiable, `audit.keepText: false` keeps only the hash, and export
 * carries it only when asked (`--with-text`).
 */
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog, runRetention, type AuditLog } from "../../src/audit/index.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { describeEachBackend, makeBackend, quietLogger, type Backend } from "./backends.ts";

const TEXT = "【通知】このメールは無害化されました。\n\n会議の資料を添付します。よろしくお願いします。";
const DAY = 24 * 3600 * 1000;

describeEachBackend("the text staff received, on %s", (kind) => {
  let b: Backend;
  let clock: number;
  const logs: AuditLog[] = [];
  const open = async (extra = {}): Promise<AuditLog> => {
    const log = await openAuditLog({ config: b.config(extra), dataDir: b.dataDir, gateway: "gw", logger: quietLogger(), now: () => new Date(clock) });
    logs.push(log);
    return log;
  };
  const sanitized = (log: AuditLog, id: string) => {
    log.record({ type: "received", auditId: id, data: { mailFrom: "a@example.jp", rcptTo: ["s@city.example.lg.jp"], size: 10, sha256: "a".repeat(64) } });
    log.record({ type: "sanitized", auditId: id, data: { report: { headers: { subject: "資料" }, attachments: [] }, text: TEXT } });
  };
  const exported = async (log: AuditLog, withText: boolean): Promise<Record<string, unknown>[]> => {
    let out = "";
    const sink = new Writable({
      write(chunk, _e, done) {
        out += String(chunk);
        done();
      },
    });
    await log.exportJsonl(new Date(0), new Date(clock + DAY), sink, { withText });
    return out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  };

  beforeEach(() => {
    b = makeBackend(kind);
    clock = Date.parse("2026-09-01T00:00:00Z");
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await b.cleanup();
  });

  it("keeps the text beside the chain, its SHA-256 in it, and exports it only with --with-text", async () => {
    const log = await open();
    const id = newAuditId();
    sanitized(log, id);
    await log.flush();
    const story = await log.story(id);
    expect(story[1]!.data).toMatchObject({ text: TEXT, textSha256: createHash("sha256").update(TEXT).digest("hex") });
    expect(await log.verify()).toMatchObject({ ok: true });
    const plain = await exported(log, false);
    expect(JSON.stringify(plain)).not.toContain("会議の資料");
    const full = await exported(log, true);
    expect(full[1]).toMatchObject({ type: "sanitized", text: TEXT });
  });

  it("removes texts past audit.textRetentionDays and the chain still verifies", async () => {
    const log = await open({ textRetentionDays: 30 });
    const old = newAuditId();
    sanitized(log, old);
    clock += 40 * DAY;
    const recent = newAuditId();
    sanitized(log, recent);
    await log.flush();
    const removed = await runRetention({ audit: log, config: { audit: { retentionDays: 365, textRetentionDays: 30 } }, logger: quietLogger(), now: () => new Date(clock) });
    expect(removed).toMatchObject({ events: 0, texts: 1 });
    expect((await log.story(old))[1]!.data.text).toBeUndefined();
    expect((await log.story(old))[1]!.data.textSha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await log.story(recent))[1]!.data.text).toBe(TEXT);
    expect(await log.verify()).toMatchObject({ ok: true });
  });

  it("records only the hash with audit.keepText: false", async () => {
    const log = await open({ keepText: false });
    const id = newAuditId();
    sanitized(log, id);
    await log.flush();
    const data = (await log.story(id))[1]!.data;
    expect(data.text).toBeUndefined();
    expect(data.textSha256).toBe(createHash("sha256").update(TEXT).digest("hex"));
    expect(JSON.stringify(await exported(log, true))).not.toContain("会議の資料");
  });
});
