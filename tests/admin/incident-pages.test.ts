/**
 * The incident pages over HTTP (the console's in-memory doubles): a message's
 * story told as sentences in Japanese and English, with the raw fields folded
 * in <details> and no inline script; "who else received this?" by hash or
 * link domain, every lookup audited, a malformed hash refused; the monthly
 * report page and its downloads (CSV with a BOM), each download audited;
 * anonymous visitors sent to the login page.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/audit-types.ts";
import { eventSentence } from "../../src/admin/story.ts";
import { createHarness, ID1, ID2, type Harness } from "./harness.ts";

const PDF = "ab".repeat(32);
const event = (type: AuditEvent["type"], data: Record<string, unknown>, actor = "gateway"): AuditEvent => ({
  seq: 1,
  ts: "2026-11-26T01:02:03.000Z",
  gateway: "gw",
  type,
  actor,
  data,
  prevHash: "",
  hash: "",
});

describe("a message's story as sentences", () => {
  it("tells the arrival, the sanitizing and the delivery in Japanese and English, without raw keys or empty fields", () => {
    const received = event("received", { clientAddress: "203.0.113.5", clientHelo: "mx.example.co.jp", mailFrom: "yamada@example.co.jp", rcptTo: ["soumu@city.lg.jp"], size: 2048 });
    expect(eventSentence(received, "ja")).toBe("yamada@example.co.jp から soumu@city.lg.jp 宛てのメール（2.0 KiB）を受信しました（接続元 mx.example.co.jp, 203.0.113.5）。");
    expect(eventSentence(received, "en")).toBe("Received a message from yamada@example.co.jp to soumu@city.lg.jp, 2.0 KiB (connection from mx.example.co.jp, 203.0.113.5).");
    const sanitized = event("sanitized", {
      report: { attachments: [{ filename: "資料.pdf" }, { filename: "" }], html: { present: true, converted: true }, links: { found: 2, disarmed: 2 } },
      rulesApplied: [],
      released: false,
    });
    const ja = eventSentence(sanitized, "ja");
    expect(ja).toBe("無害化しました：添付ファイル 2 件（資料.pdf, （名前なし））を削除、HTML をテキストに変換、リンク 2 件を無効化。");
    expect(ja).not.toMatch(/rulesApplied|released|true|false/);
    expect(eventSentence(sanitized, "en")).toBe("Sanitized: removed 2 attachments (資料.pdf, (no name)), turned the HTML into text, disarmed 2 links.");
    expect(eventSentence(event("delivered", { rcptTo: ["soumu@city.lg.jp"], host: "127.0.0.1" }), "ja")).toBe("soumu@city.lg.jp 宛てに配送しました（配送先 127.0.0.1）。");
  });

  it("names who held, released or deleted a message and why, and what a rule decided", () => {
    expect(eventSentence(event("held", { reason: "rule: 実行ファイル" }), "ja")).toBe("ゲートウェイが保留にしました（理由: rule: 実行ファイル）。");
    expect(eventSentence(event("released", {}, "admin:sato"), "ja")).toBe("管理者 satoが保留を解除しました。");
    expect(eventSentence(event("deleted", {}, "cli:root"), "en")).toBe("Deleted by command-line user root.");
    expect(eventSentence(event("sanitized", { rulesApplied: ["block-exe"], action: "hold", reason: "exe", notice: true }), "ja")).toBe(
      "ルール「block-exe」を適用し、保留と判定しました（理由: exe）。宛先には保留のお知らせだけを届けます。",
    );
    expect(eventSentence(event("admin", { action: "original-download" }, "admin:kanri"), "en")).toBe("Administrator kanri downloaded the original.");
  });

  it("says something sensible for an event it does not know (a newer gateway), never throwing on odd data", () => {
    expect(eventSentence(event("checkpoint", { x: 1 }), "ja")).toBe("checkpoint（ゲートウェイ）");
    expect(() => eventSentence(event("sanitized", { report: "not an object", rulesApplied: "x" }), "ja")).not.toThrow();
    expect(() => eventSentence({ ...event("received", {}), data: null as unknown as Record<string, unknown> }, "en")).not.toThrow();
  });
});

describe("the incident and report pages", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
    const received = (to: string[]) => ({ type: "received" as const, actor: "gateway", data: { clientAddress: "203.0.113.5", clientHelo: "mx.evil.example", mailFrom: "a@evil.example", rcptTo: to } });
    const sanitized = { type: "sanitized" as const, actor: "gateway", data: { report: { attachments: [{ filename: "請求書.pdf", sniffedType: "pdf", sha256: PDF }], links: { found: 1, disarmed: 1, urls: ["https://login.evil.example/a"] } }, rulesApplied: [], released: false } };
    const summary = (auditId: string, rcptTo: string[]) => ({ auditId, receivedAt: new Date(h.clock.now).toISOString(), mailFrom: "a@evil.example", headerFrom: "a@evil.example", rcptTo, subject: "請求書", status: "delivered" as const, size: 10, attachmentsRemoved: 1 });
    h.audit.addMessage(summary(ID1, ["one@city.lg.jp", "two@city.lg.jp", "three@city.lg.jp"]), [received(["one@city.lg.jp", "two@city.lg.jp", "three@city.lg.jp"]), sanitized]);
    h.audit.addMessage(summary(ID2, ["four@city.lg.jp", "five@city.lg.jp"]), [received(["four@city.lg.jp", "five@city.lg.jp"]), sanitized]);
  });
  afterEach(async () => {
    await h.close();
  });

  it("shows the story with raw fields in <details>, the links disarmed, and a who-else link per removed file", async () => {
    const c = await h.loggedIn("viewer");
    const res = await c.get(`/messages/${ID1}`);
    expect(res.status).toBe(200);
    expect(res.body).toContain('<p class="sentence">a@evil.example から one@city.lg.jp, two@city.lg.jp, three@city.lg.jp 宛てのメールを受信しました（接続元 mx.evil.example, 203.0.113.5）。</p>');
    expect(res.body).toMatch(/<details class="raw"><summary>記録された項目<\/summary><ul class="kv">.*<li>clientAddress: 203\.0\.113\.5<\/li>/s);
    expect(res.body).not.toContain("<script");
    expect(res.body).toContain(`href="/incident?sha256=${PDF}"`);
    expect(res.body).toContain("hxxps[://]login[.]evil[.]example/a");
    expect(res.body).not.toContain("https://login.evil.example/a");
    expect(res.body).toContain('href="/incident?domain=login.evil.example"');
    const en = await c.get(`/messages/${ID1}?lang=en`);
    expect(en.body).toContain("Received a message from a@evil.example");
  });

  it("lists the five recipients of a hash and of a link domain, records each lookup, and refuses a malformed hash", async () => {
    const c = await h.loggedIn("viewer");
    for (const query of [`sha256=${PDF.toUpperCase()}`, "domain=evil.example"]) {
      const res = await c.get(`/incident?${query}`);
      expect(res.status).toBe(200);
      expect(res.body).toContain('<dd id="spread-recipients">5</dd>');
      for (const who of ["one", "two", "three", "four", "five"]) expect(res.body).toContain(`${who}@city.lg.jp`);
    }
    const lookups = h.audit.ofType("admin").filter((e) => e.data.action === "incident-lookup");
    expect(lookups.map((e) => [e.actor, e.data.kind, e.data.messages])).toEqual([
      ["admin:viewer", "sha256", 2],
      ["admin:viewer", "domain", 2],
    ]);
    const bad = await c.get("/incident?sha256=abc");
    expect(bad.status).toBe(400);
    expect(bad.body).toContain("16 進数 64 桁");
    expect(h.audit.ofType("admin").filter((e) => e.data.action === "incident-lookup")).toHaveLength(2);
  });

  it("finds messages by hash from the search form and records that search", async () => {
    const c = await h.loggedIn("viewer");
    const res = await c.get(`/messages?sha256=${PDF}`);
    expect(res.body).toContain("2 件");
    expect(h.audit.ofType("admin").find((e) => e.data.action === "incident-search")).toMatchObject({ actor: "admin:viewer", data: { sha256: PDF, results: 2 } });
    expect((await c.get("/messages?sha256=nothex")).status).toBe(400);
  });

  it("shows the report and hands out its downloads, each download recorded; a bad month or format is refused", async () => {
    const c = await h.loggedIn("viewer");
    const month = new Date(h.clock.now + 9 * 3600_000).toISOString().slice(0, 7);
    const page = await c.get(`/report?month=${month}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("report-doc");
    expect(page.body).toContain("<svg");
    const csv = await c.get(`/report/download?month=${month}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers["content-disposition"]).toBe(`attachment; filename="mumuka-report-${month}.csv"`);
    expect(csv.body.charCodeAt(0)).toBe(0xfeff);
    expect(h.audit.ofType("admin").filter((e) => e.data.action === "report-download")).toMatchObject([{ actor: "admin:viewer", data: { month, format: "csv" } }]);
    expect((await c.get("/report?month=2026-13")).status).toBe(400);
    expect((await c.get(`/report/download?month=${month}&format=exe`)).status).toBe(400);
    expect(h.audit.ofType("admin").filter((e) => e.data.action === "report-download")).toHaveLength(1);
  });

  it("sends an anonymous visitor of the incident and report pages to the login page", async () => {
    for (const url of [`/incident?sha256=${PDF}`, "/report", "/report/download?format=csv"]) {
      const res = await h.client().get(url);
      expect(res.status).toBe(303);
      expect(String(res.headers.location)).toMatch(/^\/login/);
    }
    expect(h.audit.ofType("admin")).toHaveLength(0);
  });
});
