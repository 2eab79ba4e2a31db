/**
 * The release of an original with two people, walked in a real browser
 * (Debian's Chromium driven by playwright-core) over the real gateway, audit
 * log (SQLite), originals store and release requests: an operator asks with a
 * reason, a second administrator approves, the requester downloads once (under
 * the audit id, never the hostile subject), a second download is refused, and
 * every step is in the message's audit trail, on its detail page too.
 */
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { requirement } from "../helpers/requirements.ts";
import { PASSWORD, startLive, xssMessage, type Live } from "./live-console.ts";

const CHROMIUM = process.env.MUMUKA_CHROMIUM ?? "/usr/bin/chromium";
const missing = requirement("Chromium", existsSync(CHROMIUM) ? undefined : `not found at ${CHROMIUM} (apt-get install chromium, or set MUMUKA_CHROMIUM)`);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let live: Live;
let browser: Browser;
let id = "";

beforeAll(async () => {
  if (missing) return;
  live = await startLive();
  id = await live.send(xssMessage(), "attacker@evil.example", ["soumu@city.example.lg.jp"]);
  await live.keepOriginal(id, xssMessage());
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await live?.close();
});

async function loggedIn(user: string): Promise<Page> {
  const context = await browser.newContext({ locale: "ja-JP", timezoneId: "Asia/Tokyo", acceptDownloads: true });
  const page = await context.newPage();
  page.on("dialog", (dialog) => void dialog.dismiss());
  await page.goto(`${live.baseUrl}/login`);
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('form[action="/login"] button[type="submit"]');
  await page.waitForURL(`${live.baseUrl}/`);
  return page;
}

describe.skipIf(missing !== "")("the release of an original in Chromium", () => {
  it("an operator asks, a second administrator approves, the requester downloads once, a second download is refused, all on record", async () => {
    // 1. the operator asks, from the message's detail page, with a reason
    const operator = await loggedIn("operator");
    await operator.goto(`${live.baseUrl}/messages/${id}`);
    await operator.click(`a[href="/messages/${id}/release"]`);
    expect(await operator.textContent("h1")).toBe("原本の取り出し申請");
    await operator.click('form.stack button[type="submit"]'); // no reason: the browser's required field stops it
    expect(new URL(operator.url()).pathname).toBe(`/messages/${id}/release`);
    await operator.fill('input[name="reason"]', "職員依頼 2026-0042(総務課 山田)");
    await operator.click('form.stack button[type="submit"]');
    await operator.waitForURL(/\/releases\?done=requested/);
    const request = /req=(R-\d{8}-[0-9A-Z]{8})/.exec(operator.url())![1]!;
    const row = (page: Page) => page.locator(`tr[id="${request}"]`);
    expect(await row(operator).textContent()).toContain("承認待ち");
    // nothing to approve or download yet: the requester's only button withdraws the request
    expect(await row(operator).locator("button").allTextContents()).toEqual(["申請を取り消す"]);

    // the operator cannot approve (not an administrator), even by posting directly
    const csrf = await operator.inputValue('form[action="/logout"] input[name="_csrf"]');
    expect((await operator.request.post(`${live.baseUrl}/releases/${request}/approve`, { form: { _csrf: csrf }, maxRedirects: 0 })).status()).toBe(403);

    // 2. a second administrator sees the open request and approves it
    const admin = await loggedIn("kanri2");
    await admin.click('nav a[href="/releases"]');
    expect(await row(admin).textContent()).toContain("職員依頼 2026-0042");
    await row(admin).locator("button", { hasText: "承認" }).click();
    await admin.waitForURL(/\/releases\?done=approved/);
    expect(await row(admin).textContent()).toContain("承認済み");
    expect(await row(admin).textContent()).toContain("admin:kanri2");
    expect(await row(admin).locator("button", { hasText: "原本をダウンロード" }).count()).toBe(0); // only the requester downloads

    // 3. the requester downloads once, under the audit id
    await operator.goto(`${live.baseUrl}/releases`);
    const [download] = await Promise.all([operator.waitForEvent("download"), row(operator).locator("button", { hasText: "原本をダウンロード" }).click()]);
    expect(download.suggestedFilename()).toBe(`${id}.eml`);
    expect(readFileSync((await download.path())!, "utf8")).toBe(xssMessage());

    // 4. a second download is refused: no button any more, and a direct POST is refused
    await operator.goto(`${live.baseUrl}/releases`);
    expect(await row(operator).textContent()).toContain("取り出し済み");
    expect(await row(operator).locator("button").count()).toBe(0);
    const again = await operator.request.post(`${live.baseUrl}/releases/${request}/download`, { form: { _csrf: csrf }, maxRedirects: 0 });
    expect(again.status()).toBe(403);
    expect(await again.text()).toContain("取り出し回数を使い切りました");

    // 5. every step in the audit trail, and on the message's detail page
    await live.audit.flush();
    const steps = (await live.audit.story(id))
      .filter((e) => e.type === "admin" || e.type === "original-retrieved")
      .map((e) => `${e.actor} ${e.type === "admin" ? String(e.data.action) : e.type}`);
    expect(steps).toEqual([
      "admin:operator original-release-requested",
      "admin:kanri2 original-release-approved",
      "admin:operator original-retrieved",
      "admin:operator original-release-download-refused",
    ]);
    await operator.goto(`${live.baseUrl}/messages/${id}`);
    const timeline = (await operator.textContent("ol.timeline"))!;
    expect(timeline).toContain("原本の取り出し");
    expect(timeline).toContain(`request: ${request}`);
    expect(timeline).toContain("action: original-release-approved");
    expect(timeline).toContain("admin:kanri2");
    await operator.context().close();
    await admin.context().close();
  });

  it("does not let an administrator approve their own request", async () => {
    const admin = await loggedIn("kanri");
    await admin.goto(`${live.baseUrl}/messages/${id}/release`);
    await admin.fill('input[name="reason"]', "自分で申請");
    await admin.click('form.stack button[type="submit"]');
    await admin.waitForURL(/\/releases\?done=requested/);
    const request = /req=(R-\d{8}-[0-9A-Z]{8})/.exec(admin.url())![1]!;
    expect(await admin.locator(`tr[id="${request}"] button`).allTextContents()).toEqual(["申請を取り消す"]); // no approve of one's own
    expect(await admin.textContent(`tr[id="${request}"]`)).toContain("自分の申請");
    const csrf = await admin.inputValue('form[action="/logout"] input[name="_csrf"]');
    const self = await admin.request.post(`${live.baseUrl}/releases/${request}/approve`, { form: { _csrf: csrf }, maxRedirects: 0 });
    expect(self.status()).toBe(409);
    expect(await self.text()).toContain("自分の申請は承認・却下できません");
    await admin.context().close();
  });
});
