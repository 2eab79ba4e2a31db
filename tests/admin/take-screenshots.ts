/**
 * Takes the README's console screenshots from the real console over the real
 * gateway: a sample of the Japanese corpus messages and a few demonstration
 * messages go through SMTP, then Chromium captures the dashboard and a message
 * detail, the incident page (who else received the PDF) and the monthly report
 * into docs/screenshots/.
 *
 *   node tests/admin/take-screenshots.ts
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { jstDay } from "../../src/lib/japan-time.ts";
import { chromium } from "playwright-core";
import { corpusEntries, readCorpusMessage, repoRoot, sampleEvery } from "../helpers/corpus.ts";
import { PASSWORD, pdfMessage, startLive, xssMessage } from "./live-console.ts";

const CHROMIUM = process.env.MUMUKA_CHROMIUM ?? "/usr/bin/chromium";
const out = path.join(repoRoot, "docs/screenshots");

const live = await startLive();
try {
  const sample = sampleEvery(
    corpusEntries().filter((e) => e.tags.includes("japanese") && e.bytes < 200_000),
    24,
  );
  for (const entry of sample) {
    try {
      await live.send(readCorpusMessage(entry), "sender@example.jp", ["soumu@city.example.lg.jp"]);
    } catch (error) {
      console.warn(`${entry.path}: ${(error as Error).message}`);
    }
  }
  const detailId = await live.send(pdfMessage("【ご案内】令和8年度 情報セキュリティ研修の資料"), "yamada@example.co.jp", ["soumu@city.example.lg.jp"]);
  await live.send(xssMessage(), "attacker@evil.example", ["soumu@city.example.lg.jp"]);
  live.downstream.rcptReplies.set("kikaku@city.example.lg.jp", { code: 451, message: "4.2.1 mailbox temporarily unavailable" });
  await live.send(pdfMessage("会議日程の再調整について"), "sato@example.jp", ["kikaku@city.example.lg.jp"], ["deferred"]);
  // the same PDF again, to more people: what the incident page answers
  await live.send(pdfMessage("【至急】請求書の送付", "billing@evil.example", "請求書.pdf"), "billing@evil.example", ["zaimu@city.example.lg.jp", "keiri@city.example.lg.jp", "kaikei@city.example.lg.jp"]);
  await live.audit.flush();

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=ja-JP"],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "ja-JP", timezoneId: "Asia/Tokyo", deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${live.baseUrl}/login`);
  await page.fill('input[name="username"]', "kanri");
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('form[action="/login"] button[type="submit"]');
  await page.waitForURL(`${live.baseUrl}/`);
  await page.screenshot({ path: path.join(out, "dashboard.png"), fullPage: true });
  await page.goto(`${live.baseUrl}/messages/${detailId}`);
  await page.screenshot({ path: path.join(out, "message-detail.png"), fullPage: true });
  await page.goto(`${live.baseUrl}/messages`);
  await page.screenshot({ path: path.join(out, "search.png"), fullPage: false });
  await page.goto(`${live.baseUrl}/queue`);
  await page.screenshot({ path: path.join(out, "queue.png"), fullPage: false });
  const pdfSha256 = createHash("sha256").update(Buffer.from("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")).digest("hex");
  await page.goto(`${live.baseUrl}/incident?sha256=${pdfSha256}`);
  await page.screenshot({ path: path.join(out, "incident.png"), fullPage: true });
  await page.goto(`${live.baseUrl}/report?month=${jstDay(new Date()).slice(0, 7)}`);
  await page.screenshot({ path: path.join(out, "report.png"), fullPage: false });
  await browser.close();
  console.log(`screenshots written to ${out}`);
} finally {
  await live.close();
}
