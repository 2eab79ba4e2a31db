/**
 * A live console for the browser tests and the README screenshots: the real
 * gateway (SMTP receiver, spool, sanitizer, rules, SMTP delivery) relaying to a
 * controllable downstream server, the real audit log (SQLite), the real queue
 * administration and originals store, and the console over all of them.
 * Messages reach it only through SMTP on loopback, like in production.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openAuditLog, type AuditLog } from "../../src/audit/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { createMetrics } from "../../src/lib/metrics.ts";
import { openOriginals } from "../../src/originals/index.ts";
import { createReleaseDesk } from "../../src/originals/release-desk.ts";
import { openReleaseStore } from "../../src/originals/release-store.ts";
import { startGateway, type Gateway } from "../../src/serve.ts";
import { openQueueAdmin } from "../../src/spool/queue-admin.ts";
import { createHealthCheck, createRuleTrial, startAdmin, type AdminServer } from "../../src/admin/index.ts";
import { openUserStore } from "../../src/admin/user-store.ts";
import { startDownstream, type Downstream } from "../helpers/relay-downstream.ts";
import { sendRaw, silentLogger, waitFor } from "../helpers/relay-helpers.ts";
import { repoRoot } from "../helpers/corpus.ts";
import { writeSpoolRecord } from "../helpers/spool-record.ts";

export const PASSWORD = "correct horse battery staple";
export const TEST_COST = { log2N: 10, r: 8, p: 1 };

export interface Live {
  baseUrl: string;
  config: Config;
  audit: AuditLog;
  gateway: Gateway;
  downstream: Downstream;
  admin: AdminServer;
  /** sends a raw message through the gateway's SMTP port and waits until the audit trail knows it; resolves to its audit id */
  send(raw: string | Buffer, from: string, to: string[], waitStatus?: string[]): Promise<string>;
  keepOriginal(id: string, raw: string | Buffer): Promise<void>;
  close(): Promise<void>;
}

export async function startLive(): Promise<Live> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mumuka-console-live-"));
  const downstream = await startDownstream();
  const logger = silentLogger();
  const metrics = createMetrics();
  const config = parseConfig({
    dataDir,
    smtp: { host: "127.0.0.1", port: 0, hostname: "mumuka.city.example.lg.jp" },
    delivery: { mode: "smtp", host: "127.0.0.1", port: downstream.port, retryFirstSeconds: 3600, retryMaxSeconds: 3600 },
    rules: { file: path.join(repoRoot, "config/rules.example.yaml"), watch: false },
    admin: { host: "127.0.0.1", port: 0 },
    audit: { flushMs: 20 },
    log: { level: "silent" },
  });
  const audit = await openAuditLog({ config: config.audit, dataDir, gateway: "mumuka-test", logger, metrics });
  const gateway = await startGateway(config, { logger, metrics, audit, workers: 1 });
  const queue = openQueueAdmin(dataDir, audit);
  const originals = openOriginals({ config: config.originals, dataDir, audit });
  const releaseStore = openReleaseStore(dataDir);
  const users = openUserStore(dataDir, { cost: TEST_COST });
  for (const role of ["viewer", "operator", "admin"] as const) await users.add(role === "admin" ? "kanri" : role, role, PASSWORD);
  await users.add("kanri2", "admin", PASSWORD); // a second administrator: approvals need a different person
  users.close();
  const admin = await startAdmin({
    config: config.admin,
    dataDir,
    logger,
    metrics,
    audit,
    queue,
    rules: gateway.rules,
    releases: createReleaseDesk({ store: releaseStore, originals, audit, config: config.originals.release }),
    sanitizeText: createRuleTrial({ rules: gateway.rules, sanitize: config.sanitize, hostname: "mumuka.city.example.lg.jp" }),
    health: createHealthCheck({ spoolDir: dataDir, audit, downstream: { host: "127.0.0.1", port: downstream.port } }),
    scryptCost: TEST_COST,
  });

  const send: Live["send"] = async (raw, from, to, waitStatus = ["delivered", "deferred", "held", "rejected", "bounced"]) => {
    const res = await sendRaw({ port: gateway.address.port, from, to, raw });
    const id = /\b(\d{8}T\d{6}Z-[0-9A-Z]{16})\b/.exec(res.response)?.[1];
    if (!id) throw new Error(`no audit id in the gateway's reply: ${res.response}`);
    await waitFor(
      async () => {
        await audit.flush();
        const found = await audit.search({ auditId: id });
        return found.rows[0] && waitStatus.includes(found.rows[0].status);
      },
      20_000,
      `message ${id} in status ${waitStatus.join("|")}`,
    );
    return id;
  };

  return {
    baseUrl: `http://127.0.0.1:${admin.address.port}`,
    config,
    audit,
    gateway,
    downstream,
    admin,
    send,
    async keepOriginal(id, raw) {
      const file = path.join(dataDir, `seed-${id}`);
      writeSpoolRecord(file, id, raw);
      await originals.retire(id, file);
    },
    async close() {
      await admin.close();
      releaseStore.close();
      await gateway.close();
      await downstream.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A Japanese business mail with a PDF attachment. */
export function pdfMessage(subject: string, from = "yamada@example.co.jp", fileName = "説明会資料.pdf"): string {
  const pdf = Buffer.from("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n").toString("base64");
  const encodedSubject = `=?UTF-8?B?${Buffer.from(subject).toString("base64")}?=`;
  return [
    `From: =?UTF-8?B?${Buffer.from("山田 太郎").toString("base64")}?= <${from}>`,
    "To: soumu@city.example.lg.jp",
    `Subject: ${encodedSubject}`,
    `Message-ID: <${Date.now()}.${Math.random().toString(36).slice(2)}@example.co.jp>`,
    "Date: Thu, 26 Nov 2026 09:30:00 +0900",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    "総務課 ご担当者様",
    "",
    "いつもお世話になっております。説明会の資料をお送りします。",
    "詳細は https://example.co.jp/seminar をご覧ください。",
    "",
    "--b1",
    `Content-Type: application/pdf; name*=UTF-8''${encodeURIComponent(fileName)}`,
    `Content-Disposition: attachment; filename*=UTF-8''${encodeURIComponent(fileName)}`,
    "Content-Transfer-Encoding: base64",
    "",
    pdf,
    "--b1--",
    "",
  ].join("\r\n");
}

export const XSS_SUBJECT = `<script>alert("subject")</script>"><img src=x onerror=alert(2)>`;
export const XSS_FILE = `"><img src=x onerror=alert(3)><script>alert(4)</script>.docx`;

/** A message whose subject, display name and attachment name are HTML/script payloads. */
export function xssMessage(): string {
  return [
    `From: "<img src=x onerror=alert(1)>" <attacker@evil.example>`,
    "To: soumu@city.example.lg.jp",
    `Subject: ${XSS_SUBJECT}`,
    "Message-ID: <xss.1@evil.example>",
    "Date: Thu, 26 Nov 2026 08:00:00 +0900",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="x1"',
    "",
    "--x1",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<p>Please open the attachment</p><script>alert(5)</script>",
    "--x1",
    `Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document`,
    `Content-Disposition: attachment; filename*=UTF-8''${encodeURIComponent(XSS_FILE)}`,
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from("PK\u0003\u0004 not really a docx").toString("base64"),
    "--x1--",
    "",
  ].join("\r\n");
}
