/**
 * Incident response in a real browser (Debian's Chromium, playwright-core) over
 * the real gateway: a malicious PDF reaches five people in two messages by
 * SMTP; a viewer searches its SHA-256, opens a message, reads its story as
 * sentences (raw fields one click away), asks "who else received this?" and
 * sees the five recipients with counts per day; the monthly report page draws
 * its chart. Every lookup is in the audit trail.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { jstDay } from "../../src/lib/japan-time.ts";
import { requirement } from "../helpers/requirements.ts";
import { PASSWORD, pdfMessage, startLive, xssMessage, type Live } from "./live-console.ts";

const CHROMIUM = process.env.MUMUKA_CHROMIUM ?? "/usr/bin/chromium";
const missing = requirement("Chromium", existsSync(CHROMIUM) ? undefined : `not found at ${CHROMIUM} (apt-get install chromium, or set MUMUKA_CHROMIUM)`);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** the PDF every pdfMessage() carries (live-console.ts) */
const PDF_SHA256 = createHash("sha256").update(Buffer.from("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")).digest("hex");
const FIVE = ["ichi@city.example.lg.jp", "ni@city.example.lg.jp", "san@city.example.lg.jp", "shi@city.example.lg.jp", "go@city.example.lg.jp"];

let live: Live;
let browser: Browser;
const ids: string[] = [];

beforeAll(async () => {
  if (missing) return;
  live = await startLive();
  ids.push(await live.send(pdfMessage("【至急】請求書の送付", "billing@evil.example", "請求書.pdf"), "billing@evil.example", FIVE.slice(0, 3)));
  ids.push(await live.send(pdfMessage("再送：請求書", "billing@evil.example", "invoice.pdf"), "billing@evil.example", FIVE.slice(3)));
  await live.send(xssMessage(), "someone@other.example", ["roku@city.example.lg.jp"]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await live?.close();
});

async function loggedIn(): Promise<Page> {
  const context = await browser.newContext({ locale: "ja-JP", timezoneId: "Asia/Tokyo" });
  const page = await context.newPage();
  page.on("dialog", () => {
    throw new Error("no dialog may ever open");
  });
  await page.goto(`${live.baseUrl}/login`);
  await page.fill('input[name="username"]', "viewer");
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('form[action="/login"] button[type="submit"]');
  await page.waitForURL(`${live.baseUrl}/`);
  return page;
}

describe.skipIf(missing !== "")("incident response in Chromium", () => {
  it("searches the malicious PDF's hash, reads a message's story, and lists its five recipients", async () => {
    const page = await loggedIn();
    await page.goto(`${live.baseUrl}/messages`);
    await page.click("details.incident-fields > summary");
    await page.fill('input[name="sha256"]', PDF_SHA256);
    await page.click('form.search button[type="submit"]');
    await page.waitForURL(/sha256=/);
    const subjects = await page.locator("td.subject a").allTextContents();
    expect(subjects.sort()).toEqual(["【至急】請求書の送付", "再送：請求書"]);

    // the message's story: sentences, the raw fields folded away, the header naming mumuka once
    await page.click("text=【至急】請求書の送付");
    await page.waitForURL(/\/messages\/\d{8}T/);
    const sentences = await page.locator("ol.timeline p.sentence").allTextContents();
    expect(sentences[0]).toMatch(/^billing@evil\.example から ichi@city\.example\.lg\.jp, ni@city\.example\.lg\.jp, san@city\.example\.lg\.jp 宛てのメール（[\d.]+ KiB）を受信しました（接続元 .*127\.0\.0\.1）。$/);
    expect(sentences.join("\n")).toMatch(/無害化しました：添付ファイル 1 件（請求書\.pdf）を削除/);
    expect(sentences.join("\n")).not.toMatch(/clientAddress|rulesApplied|released: false/);
    const raw = page.locator("ol.timeline details.raw").first();
    expect(await raw.locator("ul.kv").isVisible()).toBe(false);
    await raw.locator("summary").click();
    expect(await raw.locator("ul.kv").textContent()).toContain("clientAddress: 127.0.0.1");
    expect((await page.textContent(".brand"))!.match(/mumuka/g)).toHaveLength(1);
    const text = page.locator("pre.mailtext");
    expect(await text.evaluate((el) => el.scrollHeight <= el.clientHeight + 1)).toBe(true); // nothing hidden below a scroll

    // who else received it
    await page.click("table.parts a.button");
    await page.waitForURL(/\/incident\?sha256=/);
    expect(await page.textContent("#spread-messages")).toBe("2");
    expect(await page.textContent("#spread-recipients")).toBe("5");
    const recipients = await page.locator("table.recipients td.addr").allTextContents();
    expect(recipients.sort()).toEqual([...FIVE].sort());
    const perDay = await page.locator("table.days tbody tr").allTextContents();
    expect(perDay).toHaveLength(1);
    expect(perDay[0]).toContain(jstDay(new Date()));

    await live.audit.flush();
    const lookups = (await live.audit.eventsBetween(new Date(0), new Date(Date.now() + 60_000), undefined, 10_000)).filter(
      (e) => e.type === "admin" && (e.data.action === "incident-lookup" || e.data.action === "incident-search"),
    );
    expect(lookups.map((e) => [e.actor, e.data.action, e.data.kind ?? "search"])).toEqual([
      ["admin:viewer", "incident-search", "search"],
      ["admin:viewer", "incident-lookup", "sha256"],
    ]);
    await page.context().close();
  });

  it("shows the month's report with its chart, and offers it as HTML, CSV and JSON", async () => {
    const page = await loggedIn();
    const month = jstDay(new Date()).slice(0, 7);
    await page.goto(`${live.baseUrl}/report?month=${month}`);
    expect(await page.textContent("h1")).toContain(month);
    expect(await page.locator(".report-doc figure svg rect").count()).toBeGreaterThan(0);
    expect(await page.locator("p.downloads a").allTextContents()).toEqual(["HTML", "CSV", "JSON"]);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("p.downloads a:has-text('CSV')")]);
    expect(download.suggestedFilename()).toBe(`mumuka-report-${month}.csv`);
    await page.context().close();
  });
});
