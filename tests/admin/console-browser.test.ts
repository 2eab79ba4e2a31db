/**
 * The console in a real browser (Debian's Chromium driven by playwright-core),
 * over the real gateway: messages arrive by SMTP, are sanitized and delivered
 * (or deferred) by the relay, recorded by the real audit log, and acted on
 * through the real queue administration.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { waitFor } from "../helpers/relay-helpers.ts";
import { requirement } from "../helpers/requirements.ts";
import { PASSWORD, pdfMessage, startLive, XSS_FILE, XSS_SUBJECT, xssMessage, type Live } from "./live-console.ts";

const CHROMIUM = process.env.MUMUKA_CHROMIUM ?? "/usr/bin/chromium";
const missing = requirement("Chromium", existsSync(CHROMIUM) ? undefined : `not found at ${CHROMIUM} (apt-get install chromium, or set MUMUKA_CHROMIUM)`);

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let live: Live;
let browser: Browser;
const ids = { pdf: "", xss: "", retry: "", other: "" };
const PDF_BYTES = Buffer.from("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n");

beforeAll(async () => {
  if (missing) return;
  live = await startLive();
  ids.pdf = await live.send(pdfMessage("【ご案内】説明会の資料"), "yamada@example.co.jp", ["soumu@city.example.lg.jp"]);
  ids.xss = await live.send(xssMessage(), "attacker@evil.example", ["soumu@city.example.lg.jp"]);
  await live.keepOriginal(ids.xss, xssMessage());
  live.downstream.rcptReplies.set("later@city.example.lg.jp", { code: 451, message: "4.3.0 mailbox busy, try later" });
  ids.retry = await live.send(pdfMessage("再送テスト"), "sato@example.jp", ["later@city.example.lg.jp"], ["deferred"]);
  ids.other = await live.send(pdfMessage("保留テスト"), "suzuki@example.jp", ["later@city.example.lg.jp"], ["deferred"]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await live?.close();
});

/** A fresh browser profile that fails the test if any dialog (alert/confirm/prompt) ever opens. */
async function session(dialogs: string[] = []): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale: "ja-JP", timezoneId: "Asia/Tokyo" });
  const page = await context.newPage();
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { context, page };
}

async function login(page: Page, user: string): Promise<void> {
  await page.goto(`${live.baseUrl}/login`);
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('form[action="/login"] button[type="submit"]');
  await page.waitForURL(`${live.baseUrl}/`);
}

describe.skipIf(missing !== "")("the console in Chromium", () => {
  it("logs in from the login page it redirects to, and logs out", async () => {
    const { context, page } = await session();
    await page.goto(`${live.baseUrl}/messages`);
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.fill('input[name="username"]', "viewer");
    await page.fill('input[name="password"]', "wrong password 123");
    await page.click('form[action="/login"] button[type="submit"]');
    await expect.poll(() => page.textContent(".notice.error")).toContain("ユーザー名またはパスワードが違います");
    await page.fill('input[name="password"]', PASSWORD);
    await page.click('form[action="/login"] button[type="submit"]');
    await page.waitForURL(`${live.baseUrl}/messages`);
    expect(await page.textContent("h1")).toBe("メール検索");
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === "mumuka_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    await page.click('form[action="/logout"] button');
    await page.waitForURL(`${live.baseUrl}/login?bye=1`);
    expect(await page.textContent(".notice.ok")).toContain("ログアウトしました");
    await page.goto(`${live.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe("/login");
    await context.close();
  });

  it("finds a message by sender and shows what was removed from it, with its SHA-256, and the delivery reply", async () => {
    const { context, page } = await session();
    await login(page, "viewer");
    await page.click('nav a[href="/messages"]');
    await page.fill('input[name="from"]', "yamada@example.co.jp");
    await page.click('form.search button[type="submit"]');
    const row = page.locator("table.list tbody tr", { hasText: "【ご案内】説明会の資料" });
    await expect.poll(() => row.count()).toBe(1);
    await row.locator("td.subject a").click();
    await page.waitForURL(`${live.baseUrl}/messages/${ids.pdf}`);
    const parts = await page.textContent("table.parts");
    expect(parts).toContain("説明会資料.pdf");
    expect(parts).toContain("application/pdf");
    expect(parts).toContain(createHash("sha256").update(PDF_BYTES).digest("hex"));
    expect(await page.textContent("body")).toContain("250 2.0.0 Ok: queued downstream");
    expect(await page.textContent("ol.timeline")).toContain("配送完了");
    await context.close();
  });

  it("shows a subject, sender and attachment name made of HTML/script as harmless text: visible, and no dialog fires", async () => {
    const dialogs: string[] = [];
    const { context, page } = await session(dialogs);
    await login(page, "kanri");
    await page.goto(`${live.baseUrl}/messages?from=${encodeURIComponent("attacker@evil.example")}`);
    const cell = page.locator("td.subject a");
    expect(await cell.textContent()).toBe(XSS_SUBJECT);
    expect(await page.textContent("td.addr")).toContain("<img src=x onerror=alert(1)>");
    await cell.click();
    await page.waitForURL(`${live.baseUrl}/messages/${ids.xss}`);
    expect(await page.textContent(".subject-line")).toBe(XSS_SUBJECT);
    expect(await page.textContent("td.filename")).toContain(XSS_FILE);
    await page.goto(`${live.baseUrl}/messages?subject=${encodeURIComponent(XSS_SUBJECT)}`);
    expect(await page.inputValue('input[name="subject"]')).toBe(XSS_SUBJECT);
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("main script").count()).toBe(0);
    await page.waitForTimeout(300); // an onerror handler would have fired by now
    expect(dialogs).toEqual([]);
    // the original is asked for, not downloaded from here (the release is walked in console-releases-browser.test.ts)
    await page.goto(`${live.baseUrl}/messages/${ids.xss}`);
    expect(await page.locator(`a[href="/messages/${ids.xss}/release"]`).count()).toBe(1);
    expect(await page.locator(`a[href="/messages/${ids.xss}/original"]`).count()).toBe(0);
    await context.close();
  });

  it("refuses a POST without the CSRF token, and a cross-site form post, doing nothing", async () => {
    const { context, page } = await session();
    await login(page, "operator");
    const direct = await page.request.post(`${live.baseUrl}/queue/${ids.other}/delete`, { form: { reason: "x" }, maxRedirects: 0 });
    expect(direct.status()).toBe(403);
    expect(await direct.text()).toContain("不正な送信です");
    // an attacker's page on another origin with a form aimed at the console
    const evil: Server = createServer((_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end(`<form method="post" action="${live.baseUrl}/queue/${ids.other}/delete"><input name="_csrf" value="guess"><button id="go">win a prize</button></form>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    try {
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      await Promise.all([page.waitForURL(`${live.baseUrl}/**`), page.click("#go")]);
      // 127.0.0.1 on another port is the same site, so the browser sends the SameSite=Strict cookie: the token and Origin checks are what refuse it
      expect(await page.textContent("main")).toContain("不正な送信です");
    } finally {
      evil.close();
    }
    expect((await live.audit.search({ auditId: ids.other })).rows[0]!.status).toBe("deferred");
    await context.close();
  });

  it("denies a viewer the account page and the queue actions", async () => {
    const { context, page } = await session();
    await login(page, "viewer");
    expect(await page.locator('nav a[href="/users"]').count()).toBe(0);
    const res = await page.goto(`${live.baseUrl}/users`);
    expect(res!.status()).toBe(403);
    expect(await page.textContent("main")).toContain("この操作を行う権限がありません");
    await page.goto(`${live.baseUrl}/queue`);
    expect(await page.locator("a.button", { hasText: "再送" }).count()).toBe(0);
    expect((await page.goto(`${live.baseUrl}/queue/${ids.retry}/retry`))!.status()).toBe(403);
    await context.close();
  });

  it("lets an operator try a message against the rules in force and see the decision and the sanitized text", async () => {
    const dialogs: string[] = [];
    const { context, page } = await session(dialogs);
    await login(page, "operator");
    await page.goto(`${live.baseUrl}/rules`);
    expect(await page.textContent("main")).toContain("config/rules.example.yaml");
    await page.fill('textarea[name="source"]', "From: a@evil.example\nTo: soumu@city.example.lg.jp\nSubject: <img src=x onerror=alert(1)>\n\nbody http://evil.example/x\n");
    await page.click('form[action="/rules/try"] button');
    await page.waitForURL(`${live.baseUrl}/rules/try`);
    const text = await page.textContent("pre.mailtext");
    expect(text).toContain("Subject: [外部] <img src=x onerror=alert(1)>");
    expect(text).toContain("hxxp[://]evil[.]example/x");
    expect(await page.locator("img").count()).toBe(0);
    expect(dialogs).toEqual([]);
    await context.close();
  });

  it("lets an operator retry a deferred message, which is then delivered, and hold, release and delete another, each confirmed", async () => {
    const { context, page } = await session();
    await login(page, "operator");
    await page.click('nav a[href="/queue"]');
    const row = page.locator("tr", { hasText: ids.retry });
    expect(await row.textContent()).toContain("451 4.3.0 mailbox busy, try later");
    live.downstream.rcptReplies.delete("later@city.example.lg.jp"); // the downstream server is fine again
    await row.locator("a.button", { hasText: "再送" }).click();
    expect(await page.textContent("h1")).toBe("確認: 再送");
    await page.click('form.stack button[type="submit"]');
    await page.waitForURL(/\/queue\?done=retry/);
    expect(await page.textContent(".notice.ok")).toContain("完了しました");
    await waitFor(async () => {
      await live.audit.flush();
      return (await live.audit.search({ auditId: ids.retry })).rows[0]?.status === "delivered";
    }, 20_000, "the retried message to be delivered");
    expect(live.downstream.received.some((m) => m.rcptTo.includes("later@city.example.lg.jp"))).toBe(true);

    // hold → held, with the reason shown
    live.downstream.rcptReplies.set("later@city.example.lg.jp", { code: 451, message: "4.3.0 mailbox busy, try later" });
    await page.goto(`${live.baseUrl}/queue/${ids.other}/hold`);
    await page.fill('input[name="reason"]', "送信者に確認中");
    await page.click('form.stack button[type="submit"]');
    await page.waitForURL(/\/queue\?done=hold/);
    expect(await page.locator("tr", { hasText: ids.other }).textContent()).toContain("送信者に確認中");
    // release
    await page.locator("tr", { hasText: ids.other }).locator("a.button", { hasText: "保留解除" }).click();
    await page.click('form.stack button[type="submit"]');
    await page.waitForURL(/\/queue\?done=release/);
    await waitFor(async () => {
      await live.audit.flush();
      return (await live.audit.search({ auditId: ids.other })).rows[0]?.status === "deferred";
    }, 20_000, "the released message to be tried again and deferred");
    // delete
    await page.goto(`${live.baseUrl}/queue`);
    await page.locator("tr", { hasText: ids.other }).locator("a.button", { hasText: "削除" }).click();
    expect(await page.textContent("h1")).toBe("確認: 削除");
    await page.click('form.stack button[type="submit"]');
    await page.waitForURL(/\/queue\?done=delete/);
    expect(await page.locator("tr", { hasText: ids.other }).count()).toBe(0);
    await live.audit.flush();
    const story = await live.audit.story(ids.other);
    const consoleActions = story.filter((e) => e.type === "admin").map((e) => `${e.actor} ${String(e.data.action)}`);
    expect(consoleActions).toEqual(["admin:operator queue-hold", "admin:operator queue-release", "admin:operator queue-delete"]);
    await context.close();
  });
});
