/**
 * What staff receive about sender authentication: mumuka's own
 * Authentication-Results (the original's never pass), the X-Mumuka-Auth
 * summary, and the notice's plain warning only when the sender could not be
 * verified.
 */
import { describe, expect, it } from "vitest";
import type { AuthVerdict } from "../../src/authenticate/auth-types.ts";
import { sanitize } from "../../src/sanitize/index.ts";
import { testOptions } from "../helpers/options.ts";

const WARNING_JA = "差出人のドメイン認証に失敗しました。差出人が偽装されている可能性があります。";

function verdict(over: Partial<AuthVerdict> = {}): AuthVerdict {
  return {
    authservId: "mumuka.test",
    client: { address: "192.0.2.10", helo: "mail.good.example", source: "xforward" },
    spf: { result: "pass", domain: "good.example" },
    dkim: [{ result: "pass", domain: "good.example", selector: "sel", b: "tVfQY0Nh", aligned: true }],
    dmarc: { result: "pass", domain: "good.example", policy: "reject", alignedDomain: "good.example" },
    arc: { result: "none", instance: 0 },
    ...over,
  };
}

const ORIGINAL = [
  "Authentication-Results: evil.example; dkim=pass header.d=bank.example; spf=pass; dmarc=pass",
  "ARC-Authentication-Results: i=1; evil.example; dmarc=pass",
  "Received-SPF: pass",
  "From: Alice <alice@good.example>",
  "To: staff@city.example.lg.jp",
  "Subject: hello",
  "Date: Sat, 05 Dec 2026 10:00:00 +0900",
  "Message-ID: <m1@good.example>",
  "",
  "Hello.",
  "",
].join("\r\n");

async function out(auth?: AuthVerdict, options: Parameters<typeof testOptions>[0] = {}): Promise<{ head: string; text: string }> {
  const result = await sanitize(Buffer.from(ORIGINAL), testOptions({ ...options, ...(auth ? { authentication: auth } : {}) }));
  const raw = result.message.toString("latin1");
  return { head: raw.slice(0, raw.indexOf("\r\n\r\n")), text: result.text ?? "" };
}

function field(head: string, name: string): string[] {
  return head
    .split(/\r\n(?![ \t])/)
    .filter((f) => f.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((f) => f.replace(/\r\n[ \t]+/g, " "));
}

describe("Authentication-Results and X-Mumuka-Auth", () => {
  it("one Authentication-Results, mumuka's own, on top; the original's are gone", async () => {
    const { head } = await out(verdict());
    const ar = field(head, "Authentication-Results");
    expect(ar).toEqual([
      "Authentication-Results: mumuka.test; spf=pass (client-ip=192.0.2.10) smtp.mailfrom=good.example smtp.helo=mail.good.example; dkim=pass header.d=good.example header.s=sel header.b=tVfQY0Nh; dmarc=pass policy.dmarc=reject header.from=good.example; arc=none",
    ]);
    expect(head.startsWith("Authentication-Results: mumuka.test;")).toBe(true);
    expect(head).not.toContain("evil.example");
    expect(field(head, "ARC-Authentication-Results")).toEqual([]);
    expect(field(head, "Received-SPF")).toEqual([]);
    expect(field(head, "X-Mumuka-Auth")).toEqual(["X-Mumuka-Auth: spf=pass; dkim=pass; dmarc=pass; arc=none; from-domain=good.example; aligned=good.example; client=xforward"]);
  });

  it("lists every DKIM signature and the ARC instance", async () => {
    const { head } = await out(
      verdict({
        dkim: [
          { result: "fail", domain: "good.example", selector: "sel", b: "AAAA1111", aligned: true },
          { result: "pass", domain: "esp.example", selector: "esp", b: "BBBB2222", aligned: false },
        ],
        arc: { result: "pass", instance: 2 },
      }),
    );
    const ar = field(head, "Authentication-Results")[0]!;
    expect(ar).toContain("dkim=fail header.d=good.example header.s=sel header.b=AAAA1111;");
    expect(ar).toContain("dkim=pass header.d=esp.example header.s=esp header.b=BBBB2222;");
    expect(ar).toContain("arc=pass (i=2)");
  });

  it("without verification (authentication off) there is no Authentication-Results at all", async () => {
    const { head } = await out(undefined);
    expect(field(head, "Authentication-Results")).toEqual([]);
    expect(field(head, "X-Mumuka-Auth")).toEqual([]);
  });
});

describe("the notice", () => {
  it("says nothing alarming when everything passes", async () => {
    const { text } = await out(verdict());
    expect(text).not.toContain(WARNING_JA);
    expect(text).not.toContain("⚠");
  });

  it("warns in plain Japanese when DMARC fails", async () => {
    const { text } = await out(verdict({ dmarc: { result: "fail", domain: "good.example", policy: "reject", alignedDomain: "" } }));
    expect(text).toContain(WARNING_JA);
  });

  it("warns when nothing could be verified (no DMARC record, nothing aligned, DNS failure)", async () => {
    for (const dmarc of [
      { result: "none", domain: "x.example", policy: "none", alignedDomain: "" },
      { result: "temperror", domain: "x.example", policy: "none", alignedDomain: "" },
    ] as const) {
      const { text } = await out(verdict({ spf: { result: "fail", domain: "x.example" }, dkim: [], dmarc }));
      expect(text).toContain(WARNING_JA);
    }
  });

  it("does not warn for a domain without a DMARC record whose aligned DKIM signature passes", async () => {
    const { text } = await out(verdict({ dmarc: { result: "none", domain: "good.example", policy: "none", alignedDomain: "good.example" } }));
    expect(text).not.toContain(WARNING_JA);
  });

  it("keeps the warning even with an operator's template that leaves it out", async () => {
    const { text } = await out(verdict({ dmarc: { result: "fail", domain: "good.example", policy: "reject", alignedDomain: "" } }), {
      noticeTemplate: "外部からのメールです。管理番号: {{auditId}}\n",
    });
    expect(text).toContain(WARNING_JA);
  });

  it("in English when the notice is English", async () => {
    const { text } = await out(verdict({ dmarc: { result: "fail", domain: "good.example", policy: "reject", alignedDomain: "" } }), { language: "en" });
    expect(text).toContain("the sender's domain could not be verified. The sender may be forged.");
  });
});
