/**
 * Relay throughput with the audit trail on versus off, measured in one run.
 *
 *   node bench/audit-throughput.ts [--messages 400] [--rounds 2] [--connections 4]
 *
 * Each round starts a real gateway (SMTP listener on loopback, spool, the
 * sanitizer worker pool, directory delivery) twice: once with the real audit
 * log (SQLite store under the data directory, batched writer, every event
 * also to a pino stream at info level) and once with a sink that only counts.
 * Both runs log at info level to /dev/null, so only the audit trail differs.
 * A nodemailer pool sends the same messages (HTML body, one attachment) over
 * several connections; the time runs from the first send to the last
 * "delivered" event. Modes alternate (off, on, on, off …) so that load from
 * elsewhere on the machine falls on both. Results go to stderr (the relay's
 * receiver thread logs to stdout): run it with `> /dev/null`.
 */
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import nodemailer from "nodemailer";
import { pino } from "pino";
import type { AuditEventInput, AuditSink } from "../src/audit/audit-types.ts";
import { openAuditLog } from "../src/audit/index.ts";
import { parseConfig } from "../src/config/load.ts";
import { startGateway } from "../src/serve.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): number => {
  const i = args.indexOf(`--${name}`);
  return Number(i >= 0 && args[i + 1] ? args[i + 1] : fallback);
};
const MESSAGES = opt("messages", "400");
const ROUNDS = opt("rounds", "2");
const CONNECTIONS = opt("connections", "4");

async function runOnce(mode: "on" | "off"): Promise<number> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `mumuka-tp-${mode}-`));
  const config = parseConfig({
    dataDir,
    smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.bench", clients: ["127.0.0.1/32"], recipientDomains: ["city.example.lg.jp"] },
    delivery: { mode: "directory" },
    admin: { enabled: false },
  });
  const logger = pino({ level: "info" }, createWriteStream("/dev/null"));
  let delivered = 0;
  let done: () => void = () => {};
  const allDelivered = new Promise<void>((resolve) => (done = resolve));
  const count = (e: AuditEventInput): void => {
    if (e.type === "delivered" && ++delivered === MESSAGES) done();
  };
  let audit: AuditSink & { close?(): Promise<void> };
  if (mode === "on") {
    const real = await openAuditLog({ config: config.audit, dataDir, gateway: "bench", logger });
    audit = { record: (e) => (real.record(e), count(e)), flush: () => real.flush(), close: () => real.close() };
  } else {
    audit = { record: count, flush: async () => {} };
  }
  const gateway = await startGateway(config, { logger, audit });
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: gateway.address.port, secure: false, ignoreTLS: true, pool: true, maxConnections: CONNECTIONS, maxMessages: Infinity });
  const t0 = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < MESSAGES; i += 1) {
    sends.push(
      transport.sendMail({
        from: `"送信者" <sender${i % 50}@example.co.jp>`,
        to: `staff${i % 20}@city.example.lg.jp`,
        subject: `ベンチマーク ${i} 会議資料の送付`,
        text: "お世話になっております。\n資料を送付します。\n".repeat(20),
        html: `<p>お世話になっております。<a href="https://example.com/${i}">資料</a></p>`.repeat(20),
        attachments: [{ filename: "資料.xlsx", content: Buffer.alloc(20_000, i % 256) }],
      }),
    );
  }
  await Promise.all(sends);
  await allDelivered;
  const seconds = (performance.now() - t0) / 1000;
  transport.close();
  await gateway.close();
  rmSync(dataDir, { recursive: true, force: true });
  return MESSAGES / seconds;
}

const results: Record<"on" | "off", number[]> = { on: [], off: [] };
await runOnce("off"); // warm-up: JIT, worker start, file system caches
for (let r = 0; r < ROUNDS; r += 1) {
  // ABBA order: a load trend from elsewhere on the machine falls on both modes alike
  for (const mode of r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
    const rate = await runOnce(mode);
    results[mode].push(rate);
    console.error(`round ${r + 1} audit ${mode.padEnd(3)}: ${rate.toFixed(1)} messages/s`);
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.error(
  `\n${MESSAGES} messages × ${ROUNDS} rounds, ${CONNECTIONS} SMTP connections: audit off ${mean(results.off).toFixed(1)} msg/s, on ${mean(results.on).toFixed(1)} msg/s (${((mean(results.on) / mean(results.off) - 1) * 100).toFixed(1)} %)`,
);
