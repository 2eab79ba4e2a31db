/**
 * A retention purge is the one sanctioned way to remove history, so it is the disguise an insider
 * would pick: delete recent events, append a checkpoint with a recomputed hash, and the chain
 * alone looks whole. These tests hold a purge to the retention policy, on SQLite and PostgreSQL:
 * a purge inside audit.retentionDays is refused unless overridden (recorded, reported loudly);
 * each purge is anchored at once and listed by verify; a forged checkpoint fails verify — by the
 * policy, by its dates, or by an external anchor written after its cutoff; and verify says how far
 * it can prove the trail intact. The command line (one store is enough: the same code for both)
 * refuses `--before` in the future or inside the retention, and `--force --reason` is recorded,
 * alerted and shown by verify.
 */
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { canonicalJson, eventHash } from "../../src/audit/audit-fns.ts";
import { openAuditLog, parseAnchors, PurgeRefusedError, type AuditLog } from "../../src/audit/index.ts";
import type { Anchor, AuditEvent } from "../../src/audit/audit-types.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { waitFor } from "../helpers/relay-helpers.ts";
import { runCli } from "../helpers/run-cli.ts";
import { describeEachBackend, makeBackend, quietLogger, storedEvents, type Backend } from "./backends.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describeEachBackend("retention purges of the audit trail on %s", (kind) => {
  let b: Backend;
  let dir: string;
  let anchorFile: string;
  let clock: number;
  const logs: AuditLog[] = [];
  /** the gateway: anchors to the anchor file, stamps events with the test's clock */
  const open = async (extra: { retentionDays?: number } = {}): Promise<AuditLog> => {
    const log = await openAuditLog({
      config: b.config({ anchor: { intervalMinutes: 60, file: anchorFile }, ...extra }),
      dataDir: b.dataDir,
      gateway: "gw-purge",
      logger: quietLogger(),
      serving: true,
      now: () => new Date(clock),
    });
    logs.push(log);
    return log;
  };
  const anchors = (): Anchor[] => parseAnchors(readFileSync(anchorFile, "utf8")).anchors;
  const message = (log: AuditLog, at = clock): string => {
    const id = newAuditId(new Date(at));
    log.record({ type: "received", auditId: id, actor: "gateway", data: { mailFrom: "a@example.jp", rcptTo: ["s@city.example.lg.jp"], subject: "件名", size: 10, sha256: "a".repeat(64) } });
    log.record({ type: "delivered", auditId: id, actor: "gateway", data: {} });
    return id;
  };
  /** six messages an hour apart (12 events), anchored after each: the review's setup */
  const sixHours = async (log: AuditLog): Promise<Anchor[]> => {
    const written: Anchor[] = [];
    for (let i = 0; i < 6; i++) {
      clock += HOUR;
      message(log);
      await log.flush();
      written.push((await log.anchor())!);
    }
    return written;
  };
  const events = (): Promise<AuditEvent[]> => storedEvents(b);
  /**
   * What someone with write access to the database can do: delete events 1..through (and their
   * summaries) and append a checkpoint with a recomputed hash naming them, as a purge would.
   */
  const forgePurge = async (through: number, checkpoint: { ts: string; data?: Record<string, unknown> }): Promise<AuditEvent> => {
    const all = await events();
    const last = all.find((e) => e.seq === through)!;
    const head = all.at(-1)!;
    await b.exec("DELETE FROM {e} WHERE seq <= ?", [through]);
    await b.exec("DELETE FROM {m} WHERE first_seq <= ?", [through]);
    const content: Omit<AuditEvent, "hash"> = {
      seq: head.seq + 1,
      ts: checkpoint.ts,
      gateway: "gw-purge",
      type: "checkpoint",
      actor: "cli:root",
      data: { purgedThroughSeq: through, purgedThroughTs: last.ts, anchorHash: last.hash, removed: through, ...checkpoint.data },
      prevHash: head.hash,
    };
    const forged = { ...content, hash: eventHash(content) };
    await b.exec("INSERT INTO {e} (seq, ts, gateway, type, audit_id, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?)", [
      forged.seq,
      forged.ts,
      forged.gateway,
      forged.type,
      forged.actor,
      canonicalJson(forged.data),
      forged.prevHash,
      forged.hash,
    ]);
    return forged;
  };
  /** verify as an auditor runs it: the configuration's policy, the external anchors */
  const verifyAsAuditor = async (given: Anchor[] = anchors()) => {
    const reader = await openAuditLog({ config: b.config(), dataDir: b.dataDir, gateway: "cli", logger: quietLogger(), spillDir: false, now: () => new Date(clock) });
    logs.push(reader);
    return reader.verify({ anchors: given });
  };

  beforeEach(() => {
    b = makeBackend(kind);
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-purge-"));
    anchorFile = path.join(dir, "anchors.log");
    clock = Date.parse("2026-12-01T00:00:00Z");
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await b.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails a checkpoint appended by hand after deleting hours-old events, naming it and the retention it breaks", async () => {
    const log = await open();
    await sixHours(log);
    await log.close();
    logs.splice(0);
    // the review's attack: four messages (seq 1–8) gone, a checkpoint with a recomputed hash claims a purge before 05:00
    const forged = await forgePurge(8, { ts: "2026-12-01T07:00:00.000Z", data: { before: "2026-12-01T05:00:00.000Z" } });
    clock = Date.parse("2026-12-01T08:00:00Z");
    const result = await verifyAsAuditor();
    expect(result).toMatchObject({ ok: false, firstBad: { seq: forged.seq } });
    expect(result.firstBad!.reason).toContain("inside audit.retentionDays (365)");
    expect(result.firstBad!.reason).toContain("no override recorded");
    expect(result.purges).toMatchObject({ count: 1, listed: [{ seq: forged.seq, actor: "cli:root", throughSeq: 8, before: "2026-12-01T05:00:00.000Z" }] });
  });

  it("fails a forged checkpoint whose cutoff looks old when an external anchor in its range was written after that cutoff", async () => {
    const log = await open();
    const written = await sixHours(log);
    await log.close();
    logs.splice(0);
    // the cutoff and the last purged time are made to look a year old; only the anchors know better
    await forgePurge(8, { ts: "2026-12-01T07:00:00.000Z", data: { before: "2025-11-30T00:00:00.000Z", purgedThroughTs: "2025-11-29T00:00:00.000Z" } });
    clock = Date.parse("2026-12-01T08:00:00Z");
    const result = await verifyAsAuditor();
    expect(result.ok).toBe(false);
    expect(result.firstBad!.reason).toContain(`the external anchor at seq ${written[0]!.seq} was written at ${written[0]!.ts}`);
    // without any anchor, nothing in the store contradicts it: verify passes but says it proves nothing beyond the chain
    const alone = await verifyAsAuditor([]);
    expect(alone).toMatchObject({ ok: true, coverage: { unanchored: alone.checked } });
    expect(alone.coverage!.anchoredThrough).toBeUndefined();
  });

  it("fails a checkpoint naming another hash for its last purged seq than the external anchor there, even with the chain rebuilt to match", async () => {
    const log = await open();
    const written = await sixHours(log);
    await log.close();
    logs.splice(0);
    // a rebuilt chain: seq 9–12 re-linked to an invented seq 8 and rehashed, behind a checkpoint naming that invention
    const invented = "f".repeat(64);
    let prev = invented;
    for (const e of (await events()).filter((x) => x.seq > 8)) {
      const { hash: _old, ...content } = { ...e, prevHash: prev };
      prev = eventHash(content);
      await b.exec("UPDATE {e} SET prev_hash = ?, hash = ? WHERE seq = ?", [content.prevHash, prev, e.seq]);
    }
    await forgePurge(8, { ts: "2026-12-01T07:00:00.000Z", data: { before: "2025-11-30T00:00:00.000Z", purgedThroughTs: "2025-11-29T00:00:00.000Z", anchorHash: invented } });
    clock = Date.parse("2026-12-01T08:00:00Z");
    // the auditor noted only the anchor of seq 8 (on paper, say): it lies in the purged range, and still tells
    const at8 = written.find((a) => a.seq === 8)!;
    const result = await verifyAsAuditor([{ seq: at8.seq, hash: at8.hash }]);
    expect(result).toMatchObject({ ok: false, firstBad: { seq: 13 } });
    expect(result.firstBad!.reason).toContain("names a hash for seq 8 other than the external anchor");
  });

  it("fails a forged checkpoint dated after the verification, or whose cutoff is after its own time", async () => {
    const log = await open();
    await sixHours(log);
    await log.close();
    logs.splice(0);
    clock = Date.parse("2026-12-01T08:00:00Z");
    // dated two years ahead so that a cutoff a year ahead looks "past retention"
    await forgePurge(12, { ts: "2028-12-01T00:00:00.000Z", data: { before: "2027-12-01T00:00:00.000Z", purgedThroughTs: "2026-12-01T06:00:00.000Z" } });
    const result = await verifyAsAuditor([]);
    expect(result).toMatchObject({ ok: false, firstBad: { seq: 13 } });
    expect(result.firstBad!.reason).toContain("is dated after this verification");
  });

  it("refuses a purge inside the retention period or in the future, and removes nothing", async () => {
    const log = await open({ retentionDays: 30 });
    message(log);
    await log.flush();
    clock += DAY;
    await expect(log.purge(new Date(clock - HOUR), "cli:root")).rejects.toMatchObject({ name: "PurgeRefusedError", code: "inside-retention" });
    await expect(log.purge(new Date(Date.parse("2099-01-01T00:00:00Z")), "cli:root", { override: { reason: "INC-1" } })).rejects.toBeInstanceOf(PurgeRefusedError);
    await expect(log.purge(new Date(clock - HOUR), "cli:root", { override: { reason: "  " } })).rejects.toMatchObject({ code: "no-reason" });
    expect((await events()).map((e) => e.type)).toEqual(["received", "delivered"]);
  });

  it("lists every purge — through which seq, before which time, by whom, when — anchored at once", async () => {
    const log = await open({ retentionDays: 30 });
    message(log);
    message(log);
    await log.flush();
    clock += 31 * DAY;
    const kept = message(log);
    await log.flush();
    const before = new Date(clock - 30 * DAY);
    const purge = await log.purge(before, "gateway");
    expect(purge).toMatchObject({ removed: 4, checkpoint: { seq: 7, data: { purgedThroughSeq: 4, retentionDays: 30 } } });
    // the checkpoint is outside the store at once: the anchor file's last line names it
    expect(anchors().at(-1)).toEqual(purge.anchor);
    expect(purge.anchor).toMatchObject({ seq: 7, hash: purge.checkpoint!.hash });
    const result = await log.verify({ anchors: anchors() });
    expect(result).toMatchObject({
      ok: true,
      purges: { count: 1, listed: [{ seq: 7, at: new Date(clock).toISOString(), actor: "gateway", throughSeq: 4, before: before.toISOString(), removed: 4, retentionDays: 30 }] },
      coverage: { anchoredThrough: { seq: 7 }, unanchored: 0 },
    });
    expect(result.purges!.listed[0]!.problem).toBeUndefined();
    expect(result.warnings).toBeUndefined();
    expect((await log.search({})).rows.map((r) => r.auditId)).toEqual([kept]);
  });

  it("records an override's reason in the checkpoint, and verify reports it loudly without failing", async () => {
    const log = await open({ retentionDays: 30 });
    message(log);
    await log.flush();
    clock += 2 * DAY;
    message(log);
    await log.flush();
    const purge = await log.purge(new Date(clock - DAY), "cli:kanri", { override: { reason: "個人情報削除請求 REQ-7\nsecond line" } });
    expect(purge.checkpoint!.data).toMatchObject({ override: { reason: "個人情報削除請求 REQ-7 second line" }, retentionDays: 30 });
    const result = await log.verify({ anchors: anchors() });
    expect(result.ok).toBe(true);
    expect(result.purges!.listed[0]).toMatchObject({ actor: "cli:kanri", override: { reason: "個人情報削除請求 REQ-7 second line" } });
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings![0]).toContain("by override, reason: 個人情報削除請求 REQ-7");
  });

  it("says how far it proves the trail: a tail cut after the last anchor goes unseen (and is said to), one reaching into it fails", async () => {
    const log = await open();
    message(log);
    await log.flush();
    const anchor = (await log.anchor())!;
    message(log);
    message(log);
    await log.flush();
    expect(await log.verify({ anchors: anchors() })).toMatchObject({ ok: true, coverage: { anchoredThrough: { seq: anchor.seq }, unanchored: 4 } });
    await b.exec("DELETE FROM {e} WHERE seq > ?", [anchor.seq + 2]);
    await b.exec("DELETE FROM {m} WHERE first_seq > ?", [anchor.seq + 2]);
    expect(await log.verify({ anchors: anchors() })).toMatchObject({ ok: true, coverage: { anchoredThrough: { seq: anchor.seq }, unanchored: 2 } });
    await b.exec("DELETE FROM {e} WHERE seq >= ?", [anchor.seq]);
    await b.exec("DELETE FROM {m} WHERE first_seq >= ?", [anchor.seq - 1]);
    expect(await log.verify({ anchors: anchors() })).toMatchObject({ ok: false, firstBad: { kind: "truncated", seq: anchor.seq } });
  });

  if (kind === "sqlite") {
    let syslog: Socket | undefined;
    afterEach(() => {
      syslog?.close();
      syslog = undefined;
    });

    it("mumuka audit purge refuses --before in the future or inside the retention; --force --reason is recorded, alerted, anchored and shown by verify", async () => {
      const lines: string[] = [];
      syslog = createSocket("udp4");
      syslog.on("message", (m) => lines.push(m.toString("utf8")));
      await new Promise<void>((r) => syslog!.bind(0, "127.0.0.1", () => r()));
      const configFile = path.join(dir, "mumuka.yaml");
      writeFileSync(
        configFile,
        `dataDir: ${b.dataDir}\naudit:\n  tablePrefix: ${b.prefix}\n  retentionDays: 30\n  anchor: { file: ${anchorFile} }\n` +
          `alerts: { syslog: { host: 127.0.0.1, port: ${syslog.address().port} } }\n`,
      );
      // real time here: the command runs on the system clock
      clock = Date.now() - 3 * DAY;
      const log = await open({ retentionDays: 30 });
      const old = message(log);
      clock = Date.now() - HOUR;
      const today = message(log);
      await log.close();
      logs.splice(0);

      const future = await runCli(["audit", "purge", "-c", configFile, "--before", "2099-01-01"]);
      expect(future.code).toBe(2);
      expect(future.stderr).toContain("purge refused");
      const inside = await runCli(["audit", "purge", "-c", configFile, "--before", new Date(Date.now() - DAY).toISOString()]);
      expect(inside.code).toBe(2);
      expect(inside.stderr).toContain("--force --reason");
      expect((await runCli(["audit", "purge", "-c", configFile, "--before", new Date(Date.now() - DAY).toISOString(), "--force"])).code).toBe(2);
      // an override that overrides nothing (a cutoff outside the retention) would be a false alarm: refused
      const needless = await runCli(["audit", "purge", "-c", configFile, "--before", "2000-01-01", "--force", "--reason", "x"]);
      expect(needless.code).toBe(2);
      expect(needless.stderr).toContain("without it");
      expect((await events()).map((e) => e.auditId)).toEqual([old, old, today, today]);

      const forced = await runCli(["audit", "purge", "-c", configFile, "--before", new Date(Date.now() - DAY).toISOString(), "--force", "--reason", "削除請求 REQ-9"]);
      expect(forced.code, forced.stderr).toBe(0);
      expect(forced.stderr).toContain("WARNING");
      expect(forced.stdout).toContain("removed 2 events");
      const after = await events();
      const checkpoint = after.find((e) => e.type === "checkpoint")!;
      expect(checkpoint).toMatchObject({ actor: `cli:${os.userInfo().username}`, data: { purgedThroughSeq: 2, override: { reason: "削除請求 REQ-9" } } });
      // the override is an administrator action on record (kept: it is newer than the cutoff)
      expect(after.find((e) => e.type === "admin")).toMatchObject({ data: { action: "audit-purge-override", reason: "削除請求 REQ-9", retentionDays: 30 } });
      // anchored at once, and the operator is shown the anchor
      expect(anchors().at(-1)!.seq).toBeGreaterThanOrEqual(checkpoint.seq);
      expect(forced.stdout).toMatch(new RegExp(`アンカー / anchor: .*audit-anchor .*seq=${checkpoint.seq} `));
      await waitFor(() => lines.length >= 1, 10_000, "the purge-override alert");
      expect(lines[0]).toContain(`kind="audit-purge-override"`);

      const verify = await runCli(["audit", "verify", "-c", configFile]);
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.stderr).toContain("WARNING");
      expect(verify.stderr).toContain("by override, reason: 削除請求 REQ-9");
      expect(verify.stdout).toContain("1 purge(s) on record");
      expect(verify.stdout).toContain(`checkpoint seq ${checkpoint.seq}`);
      expect(verify.stdout).toContain("retention OVERRIDE: 削除請求 REQ-9");
      expect(verify.stdout).toContain(`[${anchorFile}]`); // the configuration's anchor file, without --anchors
    });

    it("mumuka audit verify fails a forged purge, and checks the configured anchor file for a cut-off end without being asked", async () => {
      const configFile = path.join(dir, "mumuka.yaml");
      writeFileSync(configFile, `dataDir: ${b.dataDir}\naudit:\n  tablePrefix: ${b.prefix}\n  anchor: { file: ${anchorFile} }\n`);
      clock = Date.now() - 10 * HOUR;
      const log = await open();
      await sixHours(log);
      await log.close();
      logs.splice(0);
      const ok = await runCli(["audit", "verify", "-c", configFile]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain("証明できる範囲 / proven: seq 12");
      const plain = path.join(dir, "plain.yaml");
      writeFileSync(plain, `dataDir: ${b.dataDir}\naudit:\n  tablePrefix: ${b.prefix}\n`);
      expect((await runCli(["audit", "verify", "-c", plain])).stdout).toContain("NOT proven: 外部アンカーを照合していません");

      await b.exec("DELETE FROM {e} WHERE seq > 10");
      await b.exec("DELETE FROM {m} WHERE first_seq > 10");
      const cut = await runCli(["audit", "verify", "-c", configFile]);
      expect(cut.code).toBe(1);
      expect(cut.stderr).toContain("[truncated]");

      await forgePurge(8, { ts: new Date(Date.now() - HOUR).toISOString(), data: { before: new Date(Date.now() - 2 * HOUR).toISOString() } });
      const forged = await runCli(["audit", "verify", "-c", plain]);
      expect(forged.code).toBe(1);
      expect(forged.stderr).toContain("FAILED");
      expect(forged.stderr).toContain("inside audit.retentionDays");
    });
  }
});
