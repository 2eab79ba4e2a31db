import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { href, html, raw, visible } from "../../src/admin/html.ts";
import { formatJst, jstDay, jstDayStart, jstWeekStart } from "../../src/lib/japan-time.ts";
import { niceMax, dailyChart } from "../../src/admin/chart.ts";
import { parseCookies, parseSearch, safeNext } from "../../src/admin/http-fns.ts";
import { translator } from "../../src/admin/i18n.ts";
import { createRuleTrial } from "../../src/admin/rule-trial.ts";
import { sanitizeSchema } from "../../src/config/schema.ts";
import { noRules } from "../../src/rules/rules-engine.ts";
import { createFailureLimiter } from "../../src/admin/rate-limit.ts";
import { createSessionStore } from "../../src/admin/sessions.ts";
import { dummyHash, hashPassword, verifyPassword } from "../../src/admin/password.ts";

describe("html``", () => {
  it("escapes every interpolated string so no character of it can start markup or leave an attribute", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: fc.constantFrom("<", ">", "&", '"', "'", "`", "=", "a", "あ", "\u202E") }), fc.string({ unit: "binary" })), (s) => {
        const out = html`${s}`.value;
        expect(out).not.toMatch(/[<>"'`]/);
        const back = out.replace(/&(lt|gt|quot|#39|#96|amp);/g, (_m, e: string) => ({ lt: "<", gt: ">", quot: '"', "#39": "'", "#96": "`", amp: "&" })[e]!);
        expect(back).toBe(s);
      }),
    );
  });

  it("keeps Html fragments as they are and joins arrays, but raw() is the only way in for strings", () => {
    expect(html`<p>${[html`<b>${"<i>"}</b>`, "<u>"]}</p>`.value).toBe("<p><b>&lt;i&gt;</b>&lt;u&gt;</p>");
    expect(html`${raw("<br>")}`.value).toBe("<br>");
    expect(html`${undefined}${null}${false}${0}`.value).toBe("0");
  });

  it("builds URLs whose path segments and query values are percent-encoded", () => {
    expect(href(["users", "../admin?x=1#y"], { q: "a&b=c", empty: "" })).toBe("/users/..%2Fadmin%3Fx%3D1%23y?q=a%26b%3Dc");
  });

  it("makes bidi overrides and control characters visible", () => {
    expect(visible("invoice\u202Efdp.exe\u0007")).toBe("invoice<U+202E>fdp.exe<U+0007>");
    expect(visible("行1\n行2\t終")).toBe("行1\n行2\t終");
  });
});

describe("Japan time", () => {
  it("formats instants and finds days and weeks in Japan time (UTC+9, no DST)", () => {
    expect(formatJst("2026-11-26T15:30:00Z")).toBe("2026-11-27 00:30:00");
    expect(jstDay(new Date("2026-11-26T15:00:00Z"))).toBe("2026-11-27");
    expect(jstDayStart("2026-11-27")!.toISOString()).toBe("2026-11-26T15:00:00.000Z");
    expect(jstDayStart("2026-13-45")).toBeUndefined();
    expect(jstWeekStart(new Date("2026-11-29T14:00:00Z"))).toBe("2026-11-23"); // Sunday 23:00 JST → Monday 23rd
    expect(jstWeekStart(new Date("2026-11-29T15:00:00Z"))).toBe("2026-11-30"); // Monday 00:00 JST
  });
});

describe("search form", () => {
  it("turns Japan-time dates into an inclusive range and pages by 50", () => {
    const { audit, form } = parseSearch({ since: "2026-11-01", until: "2026-11-02", from: " yamada ", page: "3" });
    expect(audit.since!.toISOString()).toBe("2026-10-31T15:00:00.000Z");
    expect(audit.until!.toISOString()).toBe("2026-11-02T15:00:00.000Z");
    expect(audit.from).toBe("yamada");
    expect(audit.offset).toBe(100);
    expect(form.page).toBe(3);
  });

  it("names a malformed field instead of searching something else", () => {
    expect(parseSearch({ since: "yesterday" }).error).toBe("since");
    expect(parseSearch({ status: "pwned" }).error).toBe("status");
    expect(parseSearch({ page: "-4" }).form.page).toBe(1);
  });
});

describe("request helpers", () => {
  it("parses cookies without being fooled by duplicates or bad encodings", () => {
    expect(parseCookies("a=1; b=%E3%81%82; a=2; c=%zz")).toEqual({ a: "1", b: "あ" });
  });

  it("allows only same-origin paths as the post-login target", () => {
    for (const bad of ["//evil", "/\\evil", "https://evil", "evil", "/login", "/x\u0000y", undefined, 5]) expect(safeNext(bad)).toBeUndefined();
    expect(safeNext("/messages?from=a")).toBe("/messages?from=a");
  });
});

describe("chart", () => {
  it("rounds the axis up to 1, 2, 5 × 10^k and draws one group of bars per day", () => {
    expect([0, 3, 5, 11, 27, 180, 999].map(niceMax)).toEqual([4, 4, 5, 20, 50, 200, 1000]);
    const days = [{ day: "2026-11-26", received: 7, delivered: 6, attachmentsRemoved: 2, held: 1, deferred: 0, bounced: 0, rejected: 0 }];
    const svg = dailyChart(days, translator("ja")).value;
    expect(svg.match(/<rect /g)).toHaveLength(3);
    expect(svg).toContain("11/26");
    expect(svg).not.toContain("style=");
  });
});

describe("rate limiter and sessions", () => {
  it("blocks a key at its limit and forgets failures after the window", () => {
    let now = 0;
    const limiter = createFailureLimiter({ max: 3, windowMs: 1000, now: () => now });
    expect([limiter.fail("k"), limiter.fail("k"), limiter.fail("k")]).toEqual([false, false, true]);
    expect(limiter.blocked("k")).toBe(true);
    expect(limiter.blocked("other")).toBe(false);
    now = 1001;
    expect(limiter.blocked("k")).toBe(false);
  });

  it("expires idle sessions and caps every session at 12 hours", () => {
    let now = 0;
    const store = createSessionStore(30, () => now);
    const s = store.create("u");
    while (now + 29 * 60_000 <= 12 * 3_600_000) {
      now += 29 * 60_000;
      expect(store.get(s.id)).toBeDefined();
    }
    now += 29 * 60_000;
    expect(store.get(s.id)).toBeUndefined();
    const idle = store.create("v");
    now += 30 * 60_000 + 1;
    expect(store.get(idle.id)).toBeUndefined();
  });
});

describe("password hashes", () => {
  it("verify only the right password, and never against the dummy hash used for unknown users", async () => {
    const cost = { log2N: 10, r: 8, p: 1 };
    const h = await hashPassword("パスワード長いものです", cost);
    expect(await verifyPassword("パスワード長いものです", h)).toBe(true);
    expect(await verifyPassword("パスワード長いものでず", h)).toBe(false);
    expect(await verifyPassword("", dummyHash(cost))).toBe(false);
    expect(await verifyPassword("x", "plaintext")).toBe(false);
    expect(h).not.toBe(await hashPassword("パスワード長いものです", cost)); // salted
  });
});

describe("session store bounds", () => {
  it("never evicts a logged-in session when the login page is requested in a loop", () => {
    const store = createSessionStore(30);
    const admin = store.create("kanri");
    const first = store.create();
    for (let i = 0; i < 5000; i++) store.create();
    expect(store.get(admin.id)?.user).toBe("kanri");
    expect(store.get(first.id)).toBeUndefined();
    expect(store.size()).toBeLessThanOrEqual(1001);
  });
});

describe("password verification gate", () => {
  it("runs at most N at once, queues M more, and refuses the rest at once", async () => {
    const { createGate } = await import("../../src/admin/rate-limit.ts");
    const gate = createGate(2, 1);
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const job = () =>
      gate.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => releases.push(r));
        running--;
        return "done";
      });
    const jobs = [job(), job(), job()];
    expect(await job()).toBeUndefined(); // fourth: 2 running + 1 waiting already
    const tick = () => new Promise((r) => setTimeout(r, 5));
    await tick();
    expect(releases.length).toBe(2); // two running, the third waits
    releases.shift()!();
    await tick();
    expect(releases.length).toBe(2); // the third took the freed slot
    releases.splice(0).forEach((r) => r());
    expect(await Promise.all(jobs)).toEqual(["done", "done", "done"]);
    expect(peak).toBe(2);
  });
});

describe("try a message (rules page)", () => {
  it("stops a pasted message at the configured time budget, as the gateway would, and says so", async () => {
    const sanitize = sanitizeSchema.parse({ limits: { maxTimeMs: 1 } });
    const trial = createRuleTrial({ rules: { current: () => noRules }, sanitize, hostname: "mumuka.test" });
    const html = `<div>${"<p>段落 <b>太字</b> <a href='https://example.jp/'>リンク</a></p>".repeat(20_000)}</div>`;
    const raw = Buffer.from(`From: a@example.jp\r\nTo: b@city.example.lg.jp\r\nSubject: big\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n`);
    const result = await trial(raw, { mailFrom: "", rcptTo: [], clientAddress: "127.0.0.1", clientHelo: "admin-console" });
    expect(result.text).toContain("処理時間");
  });

  it("shows the notice with the configured template, as staff would receive it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "mumuka-trial-"));
    try {
      const file = path.join(dir, "notice.txt");
      writeFileSync(file, "【○○市 情報政策課】このメールは無害化されました。管理番号 {{auditId}}\n");
      const trial = createRuleTrial({ rules: { current: () => noRules }, sanitize: sanitizeSchema.parse({ noticeTemplate: file }), hostname: "mumuka.test" });
      const raw = Buffer.from("From: a@example.jp\r\nTo: b@city.example.lg.jp\r\nSubject: hello\r\n\r\n本文です\r\n");
      const result = await trial(raw, { mailFrom: "", rcptTo: [], clientAddress: "127.0.0.1", clientHelo: "admin-console" });
      expect(result.text).toContain("【○○市 情報政策課】このメールは無害化されました。管理番号 rules-test");
      expect(result.text).toContain("本文です");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
