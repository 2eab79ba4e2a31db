/**
 * Takes the README's console screenshots from the real console over the real
 * gateway: a sample of the Japanese corpus messages and a few demonstration
 * messages go through SMTP, then Chromium captures the dashboard and a message
 * detail into docs/screenshots/.
 *
 *   node tests/admin/take-screenshots.ts
 */
import path from "node:path";
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
  await browser.close();
  console.log(`screenshots written to ${out}`);
} finally {
  await live.close();
}
