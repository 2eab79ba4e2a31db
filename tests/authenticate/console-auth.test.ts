/**
 * The verdicts in the console and the trail: the message detail shows SPF,
 * DKIM, DMARC and ARC; the search finds "every DMARC failure" in a date range,
 * says when it only looked at the newest messages, and refuses a filter that
 * is not method=result.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseAuthFilter, searchByAuth } from "../../src/authenticate/auth-search.ts";
import type { AuthVerdict } from "../../src/authenticate/auth-types.ts";
import type { MessageSummary } from "../../src/audit/audit-types.ts";
import { MemoryAudit } from "../admin/doubles.ts";
import { createHarness, ID1, ID2, type Harness } from "../admin/harness.ts";

function verdict(dmarc: AuthVerdict["dmarc"]["result"], spf: AuthVerdict["spf"]["result"] = "pass"): AuthVerdict {
  return {
    authservId: "mumuka.test",
    client: { address: "192.0.2.10", helo: "mail.example", source: "xforward" },
    spf: { result: spf, domain: "bank.example" },
    dkim: [{ result: dmarc === "pass" ? "pass" : "fail", domain: "bank.example", selector: "s", b: "AAAA1111", aligned: true }],
    dmarc: { result: dmarc, domain: "bank.example", policy: "reject", alignedDomain: dmarc === "pass" ? "bank.example" : "" },
    arc: { result: "none", instance: 0 },
  };
}

function summary(auditId: string, receivedAt: string, subject: string): MessageSummary {
  return { auditId, receivedAt, mailFrom: "x@bank.example", headerFrom: "Bank <x@bank.example>", rcptTo: ["staff@city.example.lg.jp"], subject, status: "delivered", size: 1000, attachmentsRemoved: 0 };
}

function addMessage(audit: MemoryAudit, id: string, receivedAt: string, subject: string, auth: AuthVerdict): void {
  audit.addMessage(summary(id, receivedAt, subject), [
    { type: "received", actor: "gateway", data: { clientAddress: "127.0.0.1" } },
    { type: "sanitized", actor: "gateway", data: { rulesApplied: [], auth } },
  ]);
}

describe("the console", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
    addMessage(h.audit, ID1, "2026-11-26T01:02:03Z", "forged invoice", verdict("fail", "fail"));
    addMessage(h.audit, ID2, "2026-11-26T02:03:04Z", "real newsletter", verdict("pass"));
  });
  afterEach(() => h.close());

  it("shows the verdicts in the message detail", async () => {
    const c = await h.loggedIn("viewer");
    const body = (await c.get(`/messages/${ID1}`)).body;
    expect(body).toContain("送信者認証");
    expect(body).toMatch(/<span class="pill bad">SPF fail<\/span>/);
    expect(body).toMatch(/<span class="pill bad">DMARC fail<\/span>/);
    expect(body).toMatch(/<span class="pill warn">ARC none<\/span>/);
    expect(body).toContain("header.from=bank.example (p=reject)");
    expect(body).toContain("client=192.0.2.10 (xforward)");
  });

  it("finds every DMARC failure in a date range, and only those", async () => {
    const c = await h.loggedIn("viewer");
    const body = (await c.get("/messages?since=2026-11-26&until=2026-11-26&auth=dmarc%3Dfail")).body;
    expect(body).toContain("forged invoice");
    expect(body).not.toContain("real newsletter");
    const passes = (await c.get("/messages?auth=dmarc%3Dpass")).body;
    expect(passes).toContain("real newsletter");
    expect(passes).not.toContain("forged invoice");
  });

  it("refuses a filter that is not method=result", async () => {
    const c = await h.loggedIn("viewer");
    expect((await c.get("/messages?auth=dmarc%3Dfailed")).status).toBe(400);
    expect((await c.get("/messages?auth=%3Cscript%3E")).status).toBe(400);
  });
});

describe("searchByAuth", () => {
  it("pages through the trail newest first, and says when it stopped at the scan limit", async () => {
    const audit = new MemoryAudit();
    for (let i = 0; i < 450; i++) {
      const id = `20261126T${String(i).padStart(6, "0")}Z-ABCDEFGHJKMNPQRS`;
      addMessage(audit, id, new Date(Date.UTC(2026, 10, 26, 0, 0, i)).toISOString(), `m${i}`, verdict(i % 3 === 0 ? "fail" : "pass"));
    }
    const filter = parseAuthFilter("dmarc=fail");
    if (typeof filter === "string") throw new Error(filter);
    const all = await searchByAuth(audit, { limit: 1000 }, filter);
    expect(all).toMatchObject({ total: 150, scanned: 450, truncated: false });
    expect(all.rows[0]!.subject).toBe("m447");
    const limited = await searchByAuth(audit, { limit: 1000 }, filter, 300);
    expect(limited).toMatchObject({ scanned: 300, truncated: true, total: 100 });
  });

  it("parses method=result filters from a closed vocabulary", () => {
    expect(parseAuthFilter("DMARC=fail,temperror")).toEqual({ method: "dmarc", results: ["fail", "temperror"] });
    expect(parseAuthFilter("bimi=pass")).toMatch(/not a method/);
    expect(parseAuthFilter("spf=maybe")).toMatch(/not a result/);
    expect(parseAuthFilter("spf")).toMatch(/method=result/);
  });
});
