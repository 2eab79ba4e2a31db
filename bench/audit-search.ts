/**
 * Search speed of the audit store at a million events.
 *
 *   node bench/audit-search.ts [--events 1000000] [--dir /tmp/mumuka-bench-audit] [--pg URL] [--prefix bench]
 *
 * Builds (once; reused when the store already holds enough events) a store of
 * realistic stories — received, sanitized, delivery-attempt, delivered — for
 * 250,000 messages over 90 days from 20,000 senders, written through the real
 * store code in batches, then times the searches an administrator runs:
 * one day's messages, one sender (substring of the address), a subject word,
 * and `mumuka audit search` spawned for real. Prints the median of 5 runs.
 * Not part of the test suite: it takes minutes and a few hundred MB of disk.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { PendingEvent } from "../src/audit/audit-fns.ts";
import type { AuditStore } from "../src/audit/audit-store.ts";
import { openPgStore } from "../src/audit/pg-store.ts";
import { openSqliteStore } from "../src/audit/sqlite-store.ts";
import { verifyStore } from "../src/audit/audit-verify.ts";
import { newAuditId } from "../src/lib/ids.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const EVENTS = Number(opt("events", "1000000"));
const DIR = path.resolve(opt("dir", "/tmp/mumuka-bench-audit"));
const PG = args.includes("--pg") ? opt("pg", "") : "";
const PREFIX = opt("prefix", "bench");
const EVENTS_PER_MESSAGE = 4;
const DAYS = 90;
const SENDERS = 20_000;
const START = Date.parse("2026-08-28T00:00:00Z");
/** events per transaction while building: large, as the writer's batches are at peak */
const BUILD_BATCH = 4000;

const words = ["会議", "請求書", "ご案内", "見積", "議事録", "予算", "申請", "報告", "newsletter", "invoice", "meeting", "採用", "工事", "入札", "お知らせ"];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(label: string, fn: () => Promise<unknown>): Promise<string> {
  const runs: number[] = [];
  let result: unknown;
  for (let i = 0; i < 5; i += 1) {
    const t = performance.now();
    result = await fn();
    runs.push(performance.now() - t);
  }
  const line = `${label.padEnd(58)} ${median(runs).toFixed(1).padStart(8)} ms  (${JSON.stringify(result)})`;
  console.log(line);
  return line;
}

async function build(store: AuditStore): Promise<void> {
  const messages = Math.ceil(EVENTS / EVENTS_PER_MESSAGE);
  const spacing = (DAYS * 86_400_000) / messages;
  let batch: PendingEvent[] = [];
  const t0 = performance.now();
  for (let m = 0; m < messages; m += 1) {
    const at = START + m * spacing;
    const id = newAuditId(new Date(at));
    const sender = `user${m % SENDERS}@sender${m % 997}.example.co.jp`;
    const subject = `${words[m % words.length]}の件 ${words[(m * 7) % words.length]} No.${m}`;
    const ts = (offset: number) => new Date(at + offset).toISOString();
    const attachments = m % 5 === 0 ? [{ path: "2", filename: "資料.xlsm", contentType: "application/vnd.ms-excel.sheet.macroenabled.12", typeMismatch: false, size: 48213, sha256: "e".repeat(64), encrypted: false }] : [];
    batch.push(
      { ts: ts(0), gateway: "gw1", type: "received", auditId: id, actor: "gateway", data: { clientAddress: "192.0.2.10", clientHelo: "mx.internet.example", mailFrom: sender, rcptTo: [`staff${m % 300}@city.example.lg.jp`], headerFrom: `"送信者${m % SENDERS}" <${sender}>`, subject, messageId: `<${id}@sender.example>`, size: 5000 + (m % 40_000), sha256: "a".repeat(64) } },
      { ts: ts(40), gateway: "gw1", type: "sanitized", auditId: id, actor: "gateway", data: { report: { headers: { subject, from: [{ name: `送信者${m % SENDERS}`, address: sender }] }, attachments, html: { present: true, converted: true }, links: { found: 3, disarmed: 3, mode: "defang" } }, rulesApplied: [] } },
      { ts: ts(80), gateway: "gw1", type: "delivery-attempt", auditId: id, actor: "gateway", data: { host: "10.0.0.25:25", reply: "250 2.0.0 Ok: queued", ok: true } },
      { ts: ts(90), gateway: "gw1", type: m % 50 === 0 ? "held" : "delivered", auditId: id, actor: "gateway", data: { rcptTo: [`staff${m % 300}@city.example.lg.jp`], host: "10.0.0.25:25" } },
    );
    if (batch.length >= BUILD_BATCH) {
      await store.append(batch);
      batch = [];
      if (m % 25_000 < BUILD_BATCH / EVENTS_PER_MESSAGE) process.stderr.write(`  ${m * EVENTS_PER_MESSAGE} events, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    }
  }
  if (batch.length) await store.append(batch);
  console.log(`built ${messages * EVENTS_PER_MESSAGE} events (${messages} messages) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const store = PG ? openPgStore({ url: PG, tablePrefix: PREFIX }) : openSqliteStore({ file: path.join(DIR, "audit.sqlite"), tablePrefix: PREFIX });
  await store.init();
  const existing = (await store.eventsAfter(EVENTS - 1, 1)).length;
  if (!existing) await build(store);
  else console.log(`store already holds ≥ ${EVENTS} events; reusing it`);

  console.log(`\n${PG ? "PostgreSQL" : "SQLite"} store, ${EVENTS} events; median of 5 runs`);
  const day = new Date("2026-10-14T15:00:00Z"); // 2026-10-15 in Japan time
  await time("search: one day (JST), first page of 50 + total", async () => {
    const r = await store.search({ since: day, until: new Date(day.getTime() + 86_400_000), limit: 50 });
    return { total: r.total, rows: r.rows.length };
  });
  await time("search: one day + status held", async () => {
    const r = await store.search({ since: day, until: new Date(day.getTime() + 86_400_000), status: "held" });
    return { total: r.total };
  });
  await time("search: one sender (--from user123@), all time", async () => {
    const r = await store.search({ from: "user123@", limit: 50 });
    return { total: r.total, rows: r.rows.length };
  });
  await time("search: one sender within one week", async () => {
    const r = await store.search({ from: "user123@", since: new Date("2026-10-10T15:00:00Z"), until: new Date("2026-10-17T15:00:00Z") });
    return { total: r.total };
  });
  await time("search: subject word (--subject 入札), first page", async () => {
    const r = await store.search({ subject: "入札", limit: 50 });
    return { total: r.total };
  });
  const someone = (await store.search({ from: "user4242@", limit: 1 })).rows[0]!.auditId;
  await time("story of one message (audit show)", async () => (await store.story(someone)).length);

  if (!PG) {
    const config = path.join(DIR, "bench.yaml");
    writeFileSync(config, `dataDir: ${DIR}\naudit:\n  tablePrefix: ${PREFIX}\n`);
    const cli = (extra: string[]) => async () => {
      const r = spawnSync(process.execPath, ["src/cli.ts", "audit", "search", "--json", ...extra, "--config", config], { cwd: path.resolve(import.meta.dirname, ".."), encoding: "utf8" });
      if (r.status !== 0) throw new Error(r.stderr);
      return { total: (JSON.parse(r.stdout) as { total: number }).total };
    };
    await time("CLI (spawned, incl. node start): --since/--until one day", cli(["--since", "2026-10-15", "--until", "2026-10-15"]));
    await time("CLI (spawned, incl. node start): --from user123@", cli(["--from", "user123@"]));
    await time("CLI (spawned): node start + config only (audit search --id x)", cli(["--id", "x"]));
  }

  const t = performance.now();
  const v = await verifyStore(store);
  console.log(`verify: ${JSON.stringify({ ok: v.ok, checked: v.checked })} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await store.close();
}

await main();
