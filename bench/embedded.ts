/**
 * The cost of looking for files spelled in text (src/sanitize/embedded.ts and
 * byte-spellings.ts), per 5 KB text (`npm run bench -- --embedded`). Every text
 * part of every message goes through extractEmbedded, so its cost on ordinary
 * prose is paid on every message (issue 13); the adversarial texts show that
 * what prose skips stays bounded when a sender makes every scanner work.
 *
 *   node bench/run.ts --embedded [--base CHECKOUT] [--ms 300]
 *
 * Prints CPU microseconds per call (user + system, process.cpuUsage; the
 * median of three rounds of about --ms milliseconds each, after a warm-up),
 * and the work steps per character. --base also runs another checkout's
 * extractEmbedded (e.g. a `git archive` of main) on the same texts, round by
 * round alternately, and prints the ratio: on a shared machine the load falls
 * on both alike, so the ratio is the figure to read.
 *
 * The texts are generated here (no corpus content). Pure CPU: no I/O but the
 * import, no network; bounded by the round time.
 */
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { arg } from "./proc.ts";

type Extract = (text: string, options?: { maxHtmlBytes: number; work?: { steps: number } }) => { text: string; files: unknown[] };

const SIZE = 5000;
/** repeat a unit up to SIZE characters, as a flat string (as extractEmbedded's callers pass it) */
const fill = (unit: string): string => Buffer.from(unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE)).toString();

/** a deterministic byte source (no Math.random: the same texts every run) */
function bytes(count: number, seed: number): Buffer {
  const out = Buffer.alloc(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    out[i] = s >>> 16;
  }
  return out;
}

const EN =
  "Dear Ms. Tanaka,\n\nThank you for your e-mail of 3 December. Please find attached the revised invoice for November, 2026 " +
  "(No. 2026-1187); the amount is unchanged at 1,250,000 yen. If you have any questions, feel free to contact me at the number below.\n\n" +
  "Best regards,\nJohn Smith | Sales Department | Tel. 03-1234-5678\n\n";
const JA =
  "お世話になっております。来週の会議の資料を送付いたします。ご確認のほどよろしくお願いいたします。\n" +
  "なお、12月10日(水)14時からの打合せは第3会議室に変更となりました。ご不明な点がございましたらご連絡ください。\n\n";
const MIXED =
  "各位\n\n令和8年度の予算要求(案)について、Excel ファイル(budget_2026_v3.xlsx)を共有フォルダに置きました。\n" +
  "Please review section 4.2 by Friday, 12 December. 締切: 2026/12/12 17:00 — thank you.\n\n";
const QUOTED =
  "ご連絡ありがとうございます。承知しました。\n\n" +
  "> 2026年12月5日(金) 10:15 Suzuki Taro <suzuki@example.lg.jp>:\n> 先日の件、来週火曜日でいかがでしょうか。\n" +
  ">> On Thu, Dec 4, 2026 at 9:02 AM John Smith wrote:\n>> Could we meet next week to go over the draft?\n>> Thanks, John\n";
const LINKS =
  "■ 今週のお知らせ\n新しい補助金の募集が始まりました。詳細はこちら: " +
  "https://www.example.go.jp/news/2026/12/06/subsidy-announcement.html?utm_source=newsletter&utm_medium=email&utm_campaign=dec2026\n" +
  "[1] https://mail.example.com/track/click?u=aHR0cHM6Ly93d3cuZXhhbXBsZS5jb20v&id=Zk9xR2tLdTJ3&e=c3V6dWtpQGV4YW1wbGU\n" +
  "配信停止: https://mail.example.com/unsubscribe?token=8f3c2a1b9e7d4c6a5b0f1e2d3c4b5a69\n\n";

/** texts a sender can write to make every scanner work without cutting anything */
const NUMBERS = fill("2026 12 06 150 3 44 17 250 8 96 12 1 33 7 100 64 5 18 240 11\n"); // a table of small numbers
const BASE64_WORDS = fill(`${bytes(3000, 7).toString("base64").replace(/(.{5,9})/g, "$1 ")}`); // pieces, each too short, many
const DENSE = fill(`${bytes(90, 3).toString("base64")}.\n`); // runs just under the minimum
const BASE85_LIKE = fill("o<iRU0@@r3Ab~9j3V;Q^x>Yz+12=K% ");
/** a file in the text: the scanners find and cut it */
const FILE = fill(`Here is the file:\n${bytes(3600, 11).toString("base64").replace(/(.{76})/g, "$1\n")}\nThanks\n`);

const TEXTS: [string, string][] = [
  ["prose EN", fill(EN)],
  ["prose JA", fill(JA)],
  ["mixed EN/JA", fill(MIXED)],
  ["quoted reply", fill(QUOTED)],
  ["links (HTML converted)", fill(LINKS)],
  ["adversarial: numbers table", NUMBERS],
  ["adversarial: base64 in short pieces", BASE64_WORDS],
  ["adversarial: runs under the minimum", DENSE],
  ["adversarial: base85-like", BASE85_LIKE],
  ["a 2.7 KB file in base64", FILE],
];

async function load(root: string): Promise<Extract> {
  const mod = (await import(pathToFileURL(path.join(root, "src/sanitize/embedded.ts")).href)) as { extractEmbedded: Extract };
  return mod.extractEmbedded;
}

/** CPU µs per call over about `ms` milliseconds */
function round(extract: Extract, text: string, ms: number): number {
  let calls = 0;
  const start = process.cpuUsage();
  let used = 0;
  while (used < ms * 1000) {
    for (let k = 0; k < 20; k++) extract(text);
    calls += 20;
    const u = process.cpuUsage(start);
    used = u.user + u.system;
  }
  return used / calls;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function embeddedBench(): Promise<void> {
  const ms = Number(arg("ms", "300"));
  const baseRoot = arg("base", "");
  const here = await load(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."));
  const base = baseRoot ? await load(path.resolve(baseRoot)) : undefined;
  console.log(`extractEmbedded, CPU µs per ${SIZE}-character text (median of 3 rounds of ${ms} ms)`);
  console.log(`${"text".padEnd(38)}${"µs".padStart(8)}${"steps/char".padStart(12)}${base ? `${"base µs".padStart(10)}${"ratio".padStart(8)}` : ""}`);
  for (const [name, text] of TEXTS) {
    const work = { steps: 0 };
    here(text, { maxHtmlBytes: 10 * 1024 * 1024, work });
    for (let k = 0; k < 100; k++) {
      here(text);
      base?.(text);
    }
    const mine: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < 3; r++) {
      mine.push(round(here, text, ms));
      if (base) theirs.push(round(base, text, ms));
    }
    const a = median(mine);
    const row = `${name.padEnd(38)}${a.toFixed(1).padStart(8)}${(work.steps / text.length).toFixed(2).padStart(12)}`;
    console.log(base ? `${row}${median(theirs).toFixed(1).padStart(10)}${(a / median(theirs)).toFixed(2).padStart(8)}` : row);
  }
}
