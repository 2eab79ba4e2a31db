/**
 * The incident commands, spawned as an administrator runs them: `audit
 * search --sha256 / --link-domain / --verdict`, `audit recipients` (who else
 * received this file, per day), and `mumuka report --month` in JSON, CSV (a
 * BOM for Excel, formulas neutralised) and printable HTML; each report made is
 * recorded in the audit trail, and bad arguments are one line and exit 2.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog, type AuditLog } from "../../src/audit/index.ts";
import { auditSchema } from "../../src/config/schema.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import type { MonthReport } from "../../src/report/report-fns.ts";
import { runCli } from "../helpers/run-cli.ts";
import { quietLogger } from "./backends.ts";

const PDF = "9f".repeat(32);

describe("incident search and the monthly report, spawned", () => {
  let dir: string;
  let configFile: string;
  let gateway: AuditLog;
  const pdfIds: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "mumuka-incident-"));
    configFile = path.join(dir, "mumuka.yaml");
    writeFileSync(configFile, "dataDir: ./data\n");
    let clock = Date.parse("2026-11-03T00:30:00Z");
    gateway = await openAuditLog({ config: auditSchema.parse({ flushMs: 10 }), dataDir: path.join(dir, "data"), gateway: "gw", logger: quietLogger(), now: () => new Date(clock) });
    const story = (from: string, to: string[], data: Record<string, unknown>, end: "delivered" | "held", delayMs = 2000): string => {
      const id = newAuditId(new Date(clock));
      gateway.record({ type: "received", auditId: id, data: { mailFrom: from, rcptTo: to, size: 100, sha256: "a".repeat(64) } });
      gateway.record({ type: "sanitized", auditId: id, data: { rulesApplied: [], ...data } });
      clock += delayMs;
      gateway.record(end === "held" ? { type: "held", auditId: id, actor: "gateway", data: { reason: "rule: 実行ファイル" } } : { type: "delivered", auditId: id, data: {} });
      clock += 60_000;
      return id;
    };
    const pdf = (name: string) => ({
      report: {
        attachments: [{ filename: name, contentType: "application/pdf", sniffedType: "pdf", size: 5000, sha256: PDF, typeMismatch: false, encrypted: false }],
        links: { found: 1, disarmed: 1, mode: "defang", urls: ["https://login.evil.example/x"] },
      },
    });
    pdfIds.push(story("=cmd@evil.example", ["one@city.lg.jp", "two@city.lg.jp"], pdf("請求書.pdf"), "delivered"));
    pdfIds.push(story("b@evil.example", ["three@city.lg.jp"], pdf("invoice.pdf"), "delivered", 8000));
    clock = Date.parse("2026-11-04T01:00:00Z");
    pdfIds.push(story("c@evil.example", ["four@city.lg.jp", "five@city.lg.jp"], pdf("invoice2.pdf"), "delivered"));
    story("tanaka@partner.example", ["six@city.lg.jp"], { report: { attachments: [{ filename: "資料.zip", sniffedType: "zip", sha256: "b".repeat(64), encrypted: true }], links: { found: 0, disarmed: 0, mode: "defang", urls: [] } } }, "delivered");
    story("x@other.example", ["seven@city.lg.jp"], { facts: { attachments: [{ filename: "a.exe", sniffedType: "exe", sha256: "c".repeat(64) }] }, rulesApplied: ["block-exe"], action: "hold" }, "held");
    gateway.record({ type: "admin", actor: "admin:sato", data: { action: "user-add", user: "suzuki" } });
    // a reason quoted from elsewhere that Excel would run as a formula
    gateway.record({ type: "deleted", actor: "admin:sato", data: { reason: '=HYPERLINK("http://x.example","x")' } });
    await gateway.flush();
  });

  afterAll(async () => {
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("audit search --sha256 finds the three messages with the file; --link-domain and --verdict find theirs", async () => {
    const bySha = await runCli(["audit", "search", "-c", configFile, "--sha256", PDF.toUpperCase(), "--json"]);
    expect(bySha.code).toBe(0);
    expect((JSON.parse(bySha.stdout) as { rows: { auditId: string }[] }).rows.map((r) => r.auditId).sort()).toEqual([...pdfIds].sort());
    const byDomain = await runCli(["audit", "search", "-c", configFile, "--link-domain", "evil.example", "--json"]);
    expect((JSON.parse(byDomain.stdout) as { total: number }).total).toBe(3);
    const ppap = await runCli(["audit", "search", "-c", configFile, "--verdict", "ppap"]);
    expect(ppap.code).toBe(0);
    expect(ppap.stdout).toContain("1 件");
  });

  it("audit recipients --sha256 lists the five recipients with counts per day", async () => {
    const r = await runCli(["audit", "recipients", "-c", configFile, "--sha256", PDF]);
    expect(r.code).toBe(0);
    for (const who of ["one", "two", "three", "four", "five"]) expect(r.stdout).toContain(`${who}@city.lg.jp`);
    expect(r.stdout).not.toContain("six@city.lg.jp");
    expect(r.stdout).toMatch(/2026-11-03\s+2\s+3/);
    expect(r.stdout).toMatch(/2026-11-04\s+1\s+2/);
  });

  it("refuses a malformed hash, a month that is not YYYY-MM and an unknown format with exit 2", async () => {
    const bad = await runCli(["audit", "search", "-c", configFile, "--sha256", "xyz"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("64");
    expect((await runCli(["audit", "recipients", "-c", configFile])).code).toBe(2);
    expect((await runCli(["report", "-c", configFile, "--month", "2026-13"])).code).toBe(2);
    expect((await runCli(["report", "-c", configFile, "--month", "2026-11", "--format", "pdf"])).code).toBe(2);
  });

  it("report --format json counts the month: outcomes per day, types, PPAP, links, holds with why, senders, latency, chain, admin actions", async () => {
    const r = await runCli(["report", "-c", configFile, "--month", "2026-11", "--format", "json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as MonthReport;
    expect(report.messages).toBe(5);
    expect(report.days).toHaveLength(30);
    expect(report.days.find((d) => d.day === "2026-11-03")).toMatchObject({ received: 2, outcomes: { delivered: 2 } });
    expect(report.days.find((d) => d.day === "2026-11-04")).toMatchObject({ received: 3, outcomes: { delivered: 2, held: 1 } });
    expect(report.attachments.byType).toEqual([
      { type: "pdf", count: 3 },
      { type: "exe", count: 1 },
      { type: "zip", count: 1 },
    ]);
    expect(report.ppap).toEqual({ messages: 1, files: 1 });
    expect(report.links).toMatchObject({ disarmed: 3, messages: 3 });
    expect(report.actions.held).toBe(1);
    expect(report.actions.rows[0]).toMatchObject({ type: "held", actor: "gateway", reason: "rule: 実行ファイル" });
    expect(report.senderDomains[0]).toEqual({ domain: "evil.example", messages: 3 });
    expect(report.latency).toMatchObject({ delivered: 4, p50: 2000, max: 8000 });
    expect(report.dmarc).toBeUndefined(); // no verdict recorded: "not verified", not "0 failures"
    expect(report.chain).toMatchObject({ ok: true });
    expect(report.adminActions).toContainEqual({ actor: "admin:sato", action: "user-add", count: 1 });
    expect(report.adminActions).toContainEqual({ actor: "admin:sato", action: "deleted", count: 1 });
  });

  it("report --format csv opens in Excel: a UTF-8 BOM, CRLF, Japanese intact, a formula-like cell neutralised", async () => {
    const out = path.join(dir, "r.csv");
    const r = await runCli(["report", "-c", configFile, "--month", "2026-11", "--format", "csv", "--out", out]);
    expect(r.code).toBe(0);
    const bytes = readFileSync(out);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString("utf8");
    expect(text).toContain("\r\n");
    expect(text).toContain('"保留・解放・削除 Held, released, deleted"');
    expect(text).toContain('"rule: 実行ファイル"');
    expect(text).toContain(`"'=HYPERLINK(""http://x.example"",""x"")"`);
    expect(text).not.toMatch(/(^|,)"=/m);
  });

  it("report --format html is one printable document with the chart, and each report made is in the audit trail", async () => {
    const r = await runCli(["report", "-c", configFile, "--month", "2026-11"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^<!doctype html>/);
    expect(r.stdout).toContain("@page { size: A4");
    expect(r.stdout).toContain("<svg");
    expect(r.stdout).not.toMatch(/<script|src="http/i);
    const reports = (await gateway.search({})).total; // the store is shared: read the admin events
    expect(reports).toBe(5);
    const events = await gateway.eventsBetween(new Date(0), new Date(Date.now() + 60_000), undefined, 1000);
    const made = events.filter((e) => e.type === "admin" && e.data.action === "report");
    expect(made.length).toBeGreaterThanOrEqual(3);
    expect(made.at(-1)).toMatchObject({ actor: expect.stringMatching(/^cli:/), data: { month: "2026-11", format: "html" } });
  });
});
