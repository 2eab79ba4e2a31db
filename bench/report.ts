/**
 * How long the monthly report takes for a busy month.
 *
 *   node bench/report.ts [--messages 50000] [--dir /tmp/mumuka-bench-report] [--out /tmp/report.html]
 *
 * Builds (once; reused when present) an SQLite store holding one Japan-time
 * month (2026-11) of realistic stories — received, sanitized (removed files of
 * six types, some PPAP, links), a delivery attempt, delivered (2 % held, some
 * of them released or deleted by an administrator) — written through the real
 * store code, then times: reading the month into the report, rendering it as
 * HTML, CSV and JSON, verifying the chain, and `mumuka report` spawned for
 * real (verification included). Median of 3 runs. Not part of the test suite.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { PendingEvent } from "../src/audit/audit-fns.ts";
import { openAuditLog } from "../src/audit/index.ts";
import { openSqliteStore } from "../src/audit/sqlite-store.ts";
import { auditSchema } from "../src/config/schema.ts";
import { newAuditId } from "../src/lib/ids.ts";
import { buildMonthReport } from "../src/report/report-fns.ts";
import { renderReport } from "../src/report/report-format.ts";
import { pino } from "pino";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const MESSAGES = Number(opt("messages", "50000"));
const DIR = path.resolve(opt("dir", "/tmp/mumuka-bench-report"));
const OUT = opt("out", "");
const MONTH = "2026-11";
const START = Date.parse("2026-10-31T15:00:00Z"); // 2026-11-01 00:00 JST
const TYPES = ["zip", "pdf", "xlsm", "docx", "exe", "unknown"];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time<T>(label: string, fn: () => Promise<T>, runs = 3): Promise<T> {
  const ms: number[] = [];
  let result!: T;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    result = await fn();
    ms.push(performance.now() - t);
  }
  console.log(`${label.padEnd(60)} ${median(ms).toFixed(0).padStart(7)} ms`);
  return result;
}

async function build(): Promise<void> {
  const store = openSqliteStore({ file: path.join(DIR, "audit.sqlite") });
  const spacing = (30 * 86_400_000 - 3_600_000) / MESSAGES;
  let batch: PendingEvent[] = [];
  const t0 = performance.now();
  for (let m = 0; m < MESSAGES; m++) {
    const at = START + m * spacing;
    const id = newAuditId(new Date(at));
    const ts = (offset: number) => new Date(at + offset).toISOString();
    const sender = `user${m % 5000}@sender${m % 300}.example.co.jp`;
    const rcpt = [`staff${m % 300}@city.example.lg.jp`, ...(m % 7 === 0 ? [`kikaku${m % 20}@city.example.lg.jp`] : [])];
    const attachments = m % 4 === 0 ? [{ path: "2", filename: `資料${m % 500}.${TYPES[m % 6]}`, contentType: "application/octet-stream", sniffedType: TYPES[m % 6], typeMismatch: m % 97 === 0, size: 40_000, sha256: (m % 9000).toString(16).padStart(64, "a"), encrypted: m % 24 === 0 }] : [];
    const urls = [`https://www.sender${m % 300}.example.co.jp/info/${m}`, ...(m % 3 === 0 ? [`https://cdn${m % 40}.example.net/x`] : [])];
    const held = m % 50 === 0;
    batch.push(
      { ts: ts(0), gateway: "gw1", type: "received", auditId: id, actor: "gateway", data: { clientAddress: "192.0.2.10", clientHelo: "mx.internet.example", mailFrom: sender, rcptTo: rcpt, headerFrom: sender, subject: `お知らせ No.${m}`, size: 8000 + (m % 30_000), sha256: "b".repeat(64), ...(m % 3 === 0 ? { authentication: { dmarc: m % 60 === 0 ? "fail" : "pass" } } : {}) } },
      { ts: ts(300 + (m % 900)), gateway: "gw1", type: "sanitized", auditId: id, actor: "gateway", data: { report: { headers: { subject: `お知らせ No.${m}` }, attachments, html: { present: true, converted: true }, links: { found: urls.length, disarmed: urls.length, mode: "defang", urls } }, rulesApplied: held ? ["hold-macro"] : [], ...(held ? { action: "hold", reason: "マクロ付き文書" } : {}) } },
    );
    if (held) {
      batch.push({ ts: ts(1500), gateway: "gw1", type: "held", auditId: id, actor: "gateway", data: { reason: "rule: マクロ付き文書" } });
      if (m % 150 === 0) batch.push({ ts: ts(3_600_000), gateway: "gw1", type: "released", auditId: id, actor: "admin:sato", data: { reason: "差出人に確認済み" } });
      else if (m % 100 === 0) batch.push({ ts: ts(7_200_000), gateway: "gw1", type: "deleted", auditId: id, actor: "admin:suzuki", data: { from: "held" } });
    } else {
      batch.push(
        { ts: ts(1200 + (m % 4000)), gateway: "gw1", type: "delivery-attempt", auditId: id, actor: "gateway", data: { host: "10.0.0.25:25", reply: "250 2.0.0 Ok", ok: true } },
        { ts: ts(1250 + (m % 4000)), gateway: "gw1", type: "delivered", auditId: id, actor: "gateway", data: { rcptTo: rcpt, host: "10.0.0.25:25" } },
      );
    }
    if (m % 2000 === 0) batch.push({ ts: ts(10), gateway: "gw1", type: "admin", actor: `admin:${["sato", "suzuki", "tanaka"][m % 3]}`, data: { action: "original-download" } });
    if (batch.length >= 4000) {
      await store.append(batch);
      batch = [];
    }
  }
  if (batch.length) await store.append(batch);
  await store.close();
  console.log(`built ${MESSAGES} messages of ${MONTH} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

mkdirSync(DIR, { recursive: true });
if (!existsSync(path.join(DIR, "audit.sqlite"))) await build();
else console.log(`reusing the store in ${DIR}`);

const log = await openAuditLog({ config: auditSchema.parse({}), dataDir: DIR, gateway: "bench", logger: pino({ level: "silent" }), spillDir: false });
console.log(`\n${MESSAGES} messages in ${MONTH}; median of 3 runs`);
const report = await time("read the month into the report (no verify)", () => buildMonthReport(log, MONTH));
await time("render HTML", async () => renderReport(report, "html").body.length);
await time("render CSV", async () => renderReport(report, "csv").body.length);
await time("render JSON", async () => renderReport(report, "json").body.length);
const v = await time("verify the chain", () => log.verify(), 1);
console.log(`  (${v.checked} events, ok: ${v.ok})`);
await log.close();

const config = path.join(DIR, "bench.yaml");
writeFileSync(config, `dataDir: ${DIR}\n`);
for (const extra of [["--no-verify"], []]) {
  await time(`mumuka report --format html ${extra.join(" ")} (spawned, incl. node start)`, async () => {
    const r = spawnSync(process.execPath, ["src/cli.ts", "report", "--month", MONTH, "--config", config, ...extra], { cwd: path.resolve(import.meta.dirname, ".."), maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(String(r.stderr));
    if (OUT && extra.length === 0) writeFileSync(OUT, r.stdout);
    return r.stdout.length;
  });
}
console.log(`messages ${report.messages}, removed files ${report.attachments.total}, held ${report.actions.held}, p50 ${report.latency.p50} ms`);
