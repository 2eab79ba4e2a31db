/**
 * The administrator's commands, spawned for real (`node src/cli.ts …`) against
 * a store another process is writing to at the same time, as a running
 * gateway would: search finds messages by subject, show tells the story,
 * export writes JSON lines, verify passes and then fails when a stored subject
 * is edited by hand, original get releases the original and leaves a record.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog, type AuditLog } from "../../src/audit/index.ts";
import { auditSchema } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { runCli } from "../helpers/run-cli.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";
import { makeBackend, PG_URL, quietLogger, sqliteExec } from "./backends.ts";

const KEY = "ab".repeat(32);

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { env });

describe("mumuka audit and mumuka original, spawned", () => {
  let dir: string;
  let configFile: string;
  let gateway: AuditLog;
  const ids = { meeting: "", invoice: "" };
  const raw = "From: suzuki@example.ne.jp\r\nSubject: invoice\r\n\r\nbody\r\n";

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-cli-"));
    configFile = path.join(dir, "mumuka.yaml");
    // single-person release mode: one login runs these commands (the two-person flow is tests/originals/release-cli.test.ts)
    // a retention of one day: the purge test removes the messages of 2026-11-24 (the policy refuses anything younger)
    writeFileSync(configFile, "dataDir: ./data\naudit:\n  retentionDays: 1\noriginals:\n  keyEnv: MUMUKA_TEST_ORIGINALS_KEY\n  release:\n    approvals: 1\n");
    const dataDir = path.join(dir, "data");
    // the "gateway": stays open and keeps writing while the commands run
    let clock = Date.parse("2026-11-24T01:00:00Z");
    gateway = await openAuditLog({ config: auditSchema.parse({ flushMs: 10 }), dataDir, gateway: "gw-cli", logger: quietLogger(), now: () => new Date(clock) });
    ids.meeting = newAuditId(new Date(clock));
    ids.invoice = newAuditId(new Date(Date.parse("2026-11-25T01:00:00Z")));
    const story = (id: string, from: string, subject: string, end: "delivered" | "held") => {
      clock = Date.parse(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T01:00:00Z`);
      gateway.record({ type: "received", auditId: id, data: { clientAddress: "127.0.0.1", helo: "mx", mailFrom: from, rcptTo: ["soumu@city.example.lg.jp"], headerFrom: from, subject, size: raw.length, sha256: "c".repeat(64) } });
      gateway.record({ type: "sanitized", auditId: id, data: { attachments: [{ filename: "請求書.pdf.exe", contentType: "application/pdf", size: 1000, sha256: "d".repeat(64) }], rulesApplied: [] } });
      gateway.record({ type: end, auditId: id, data: {} });
    };
    story(ids.meeting, "tanaka@example.co.jp", "打ち合わせの日程について", "delivered");
    story(ids.invoice, "suzuki@example.ne.jp", "請求書\u202Efdp.exe", "held");
    await gateway.flush();
    const spooled = path.join(dir, "spooled");
    writeSpoolRecord(spooled, ids.invoice, raw);
    await openOriginals({ config: { retentionDays: 30, keyEnv: "K" }, dataDir, audit: gateway, env: { K: KEY } }).retire(ids.invoice, spooled);
  });

  afterAll(async () => {
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("search --json finds each message by its subject", async () => {
    for (const [id, subject] of [[ids.meeting, "打ち合わせ"], [ids.invoice, "請求書"]] as const) {
      const r = await run(["audit", "search", "--json", "--subject", subject, "--config", configFile]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout) as { total: number; rows: { auditId: string; status: string }[] };
      expect(result.total).toBe(1);
      expect(result.rows[0]!.auditId).toBe(id);
    }
  });

  it("search shows a table in Japan time with sender text made harmless for the terminal", async () => {
    gateway.record({ type: "admin", actor: "admin:x", data: { note: "the gateway keeps writing" } });
    const r = await run(["audit", "search", "--since", "2026-11-25", "--until", "2026-11-25", "--config", configFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("件名");
    expect(r.stdout).toContain("2026-11-25 10:00:00"); // 01:00Z is 10:00 JST
    expect(r.stdout).toContain("請求書<U+202E>fdp.exe");
    expect(r.stdout).not.toContain("\u202E");
    expect(r.stdout).not.toContain(ids.meeting); // the 24th is outside the range
    expect(r.stdout).toContain("1–1 / 1 件");
  });

  it("show tells the whole story in order", async () => {
    const r = await run(["audit", "show", ids.meeting, "--config", configFile]);
    expect(r.code).toBe(0);
    const types = r.stdout.split("\n").slice(1).filter(Boolean).map((l) => l.split(/\s+/)[3]);
    expect(types).toEqual(["received", "sanitized", "delivered"]);
    expect(r.stdout).toContain("removed: 請求書.pdf.exe application/pdf 1000B");
  });

  it("export writes the events of a range as JSON lines", async () => {
    const r = await run(["audit", "export", "--since", "2026-11-01", "--until", "2099-01-01", "--config", configFile]);
    expect(r.stderr).toMatch(/^exported \d+ events/);
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; hash: string });
    expect(events.length).toBeGreaterThanOrEqual(6);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(r.stderr).toMatch(/exported \d+ events/);

    // the export itself is an administrator action in the trail
    const again = await run(["audit", "export", "--since", "2026-11-01", "--until", "2099-01-01", "--config", configFile]);
    const last = JSON.parse(again.stdout.trim().split("\n").at(-1)!) as { type: string; actor: string; data: { action: string; events: number } };
    expect(last).toMatchObject({ type: "admin", data: { action: "audit-export", events: events.length } });
    expect(last.actor).toMatch(/^cli:/);
  });

  it("rejects bad arguments with a clear message and exit code 2", async () => {
    const status = await run(["audit", "search", "--status", "lost", "--config", configFile]);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain("--status must be one of");
    const since = await run(["audit", "search", "--since", "last tuesday", "--config", configFile]);
    expect(since.code).toBe(2);
    expect(since.stderr).toContain("YYYY-MM-DD");
  });

  /** an approved release request for the invoice's original (approvals: 1 approves it at once) */
  const approved = async (): Promise<string> => {
    const r = await run(["original", "request", ids.invoice, "--reason", "INC-1", "--config", configFile], { MUMUKA_TEST_ORIGINALS_KEY: KEY });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.split(" ")[0]!;
  };

  it("original get writes the original privately and the retrieval is on record with the user", async () => {
    const out = path.join(dir, "taken.eml");
    const r = await run(["original", "get", ids.invoice, "--request", await approved(), "-o", out, "--config", configFile], { MUMUKA_TEST_ORIGINALS_KEY: KEY });
    expect(r.stderr).toContain("wrote");
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(raw);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const story = await gateway.story(ids.invoice);
    expect(story.at(-1)).toMatchObject({ type: "original-retrieved", actor: `cli:${os.userInfo().username}` });
  });

  it("original get writes to stdout when it is not a terminal", async () => {
    const r = await run(["original", "get", ids.invoice, "--request", await approved(), "--config", configFile], { MUMUKA_TEST_ORIGINALS_KEY: KEY });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(raw);
  });

  it("original get with the wrong key fails clearly and leaves no file", async () => {
    const out = path.join(dir, "wrong.eml");
    const request = await approved();
    const r = await run(["original", "get", ids.invoice, "--request", request, "-o", out, "--config", configFile], { MUMUKA_TEST_ORIGINALS_KEY: "cd".repeat(32) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("different key");
    expect(existsSync(out)).toBe(false);
  });

  it("purge removes the events before a date behind a checkpoint, and verify still passes", async () => {
    const r = await run(["audit", "purge", "--before", "2026-11-25", "--config", configFile]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("removed 3 events");
    expect(await gateway.story(ids.meeting)).toEqual([]);
    let lines = "";
    await gateway.exportJsonl(new Date(0), new Date(Date.now() + 60_000), { write: (t: string) => ((lines += t), true), on() {}, off() {} } as never);
    const events = lines.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; type: string; actor?: string; data: Record<string, unknown> });
    expect(events[0]!.seq).toBe(4);
    expect(events.find((e) => e.type === "checkpoint")).toMatchObject({ actor: `cli:${os.userInfo().username}`, data: { purgedThroughSeq: 3, removed: 3 } });
    const ok = await run(["audit", "verify", "--config", configFile]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("verify passes, and fails naming the message once one stored subject is edited by hand", async () => {
    const ok = await run(["audit", "verify", "--config", configFile]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK .* \d+ events/);

    sqliteExec(path.join(dir, "data", "audit.sqlite"), "UPDATE audit_messages SET subject = ? WHERE audit_id = ?", ["ただのお知らせ", ids.invoice]);
    const bad = await run(["audit", "verify", "--config", configFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("FAILED");
    expect(bad.stderr).toContain(ids.invoice);
    expect(bad.stderr).toContain("subject");
  });
});

describe.skipIf(!PG_URL)("mumuka audit on a shared PostgreSQL store, spawned", () => {
  it("searches and verifies what a gateway wrote", async () => {
    const b = makeBackend("postgres");
    const configFile = path.join(b.dataDir, "mumuka.yaml");
    writeFileSync(configFile, `dataDir: ./data\naudit:\n  url: ${PG_URL}\n  tablePrefix: ${b.prefix}\n`);
    const log = await openAuditLog({ config: b.config(), dataDir: b.dataDir, gateway: "gw-pg", logger: quietLogger() });
    try {
      const id = newAuditId();
      log.record({ type: "received", auditId: id, data: { mailFrom: "a@example.jp", rcptTo: ["b@city.example.lg.jp"], subject: "共有ストア" } });
      await log.flush();
      const found = await run(["audit", "search", "--json", "--from", "a@example", "--config", configFile]);
      expect(found.code).toBe(0);
      expect((JSON.parse(found.stdout) as { rows: { auditId: string }[] }).rows.map((r) => r.auditId)).toEqual([id]);
      const verified = await run(["audit", "verify", "--config", configFile]);
      expect(verified.stderr).toBe("");
      expect(verified.code).toBe(0);
      await b.exec("UPDATE {e} SET ts = ? WHERE seq = 1", ["2020-01-01T00:00:00.000Z"]);
      const bad = await run(["audit", "verify", "--config", configFile]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("seq 1");
    } finally {
      await log.close();
      await b.cleanup();
    }
  });
});
