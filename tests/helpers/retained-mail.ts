/**
 * A gateway's data directory as it is after a week of mail: an audit store
 * holding each message's story (received, sanitized, delivered) and the
 * retained originals (spool records moved into originals/<day>/<id>.rec, as
 * OriginalStore.retire does), written directly — without running SMTP — so
 * `mumuka rules replay` can be tested and benchmarked on tens of thousands
 * of messages. Some originals can be left out, as retention would have
 * purged them.
 *
 * Messages are generated deterministically from their index: senders over a
 * dozen domains, plain text, HTML with links, and attachments (.xlsx, .pdf,
 * .csv) in a fixed rotation, so a test can compute which ones a rule hits.
 *
 * SECURITY: tests and benchmarks only; writes under the directory it is given.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { PendingEvent } from "../../src/audit/audit-fns.ts";
import { openSqliteStore } from "../../src/audit/sqlite-store.ts";
import { newAuditId } from "../../src/lib/ids.ts";
import { encodeRecordHead, encodeRecordTrailer, type SpoolEnvelope } from "../../src/spool/record.ts";

export const DOMAINS = [
  "partner.example.co.jp",
  "vendor.example.com",
  "pref.example.lg.jp",
  "news.example.org",
  "shop.example.net",
  "univ.example.ac.jp",
  "bank.example.jp",
  "travel.example.com",
  "npo.example.or.jp",
  "media.example.jp",
  "mail.example.biz",
  "consult.example.co.jp",
];

export type AttachmentKind = "none" | "xlsx" | "pdf" | "csv";

export interface GeneratedMessage {
  auditId: string;
  receivedAt: string;
  mailFrom: string;
  domain: string;
  attachment: AttachmentKind;
  html: boolean;
  /** false: its original is not kept (as if purged by retention) */
  retained: boolean;
}

/** what message `i` is: its sender domain and attachment cycle through fixed rotations */
export function shapeOf(i: number): { domain: string; attachment: AttachmentKind; html: boolean } {
  const kinds: AttachmentKind[] = ["none", "xlsx", "none", "pdf", "csv", "none", "xlsx"];
  return { domain: DOMAINS[i % DOMAINS.length]!, attachment: kinds[i % kinds.length]!, html: i % 3 === 0 };
}

const SUBJECTS = ["会議のご案内", "請求書の送付", "見積書", "議事録", "お知らせ", "申請について", "invoice", "meeting"];

function attachmentPart(kind: AttachmentKind, i: number): string[] {
  if (kind === "none") return [];
  const names = { xlsx: `請求書_${i}.xlsx`, pdf: `資料_${i}.pdf`, csv: `data_${i}.csv` } as const;
  const types = {
    xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    pdf: "application/pdf",
    csv: "text/csv",
  } as const;
  const body = kind === "csv" ? Buffer.from(`date,count\n2026-11-0${i % 9},${i}\n`) : Buffer.concat([Buffer.from(kind === "pdf" ? "%PDF-1.4\n" : "PK\u0003\u0004"), Buffer.alloc(1500, i % 251)]);
  const name = names[kind];
  return [
    "--b1",
    `Content-Type: ${types[kind]}; name="=?UTF-8?B?${Buffer.from(name).toString("base64")}?="`,
    `Content-Disposition: attachment; filename="=?UTF-8?B?${Buffer.from(name).toString("base64")}?="`,
    "Content-Transfer-Encoding: base64",
    "",
    ...(body.toString("base64").match(/.{1,76}/g) ?? []),
  ];
}

/** The raw message `i` (CRLF), about 3–5 KB. */
export function rawMessage(i: number, auditId: string, mailFrom: string, at: Date): Buffer {
  const { attachment, html } = shapeOf(i);
  const subject = `${SUBJECTS[i % SUBJECTS.length]} No.${i}`;
  const text = `いつもお世話になっております。\n第${i}号の件、ご確認ください。\nhttps://www.${shapeOf(i).domain}/info/${i}\n`.repeat(8);
  const lines = [
    `From: =?UTF-8?B?${Buffer.from(`送信者${i % 500}`).toString("base64")}?= <${mailFrom}>`,
    `To: staff${i % 300}@city.example.lg.jp`,
    `Subject: =?UTF-8?B?${Buffer.from(subject).toString("base64")}?=`,
    `Date: ${at.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${auditId}@${shapeOf(i).domain}>`,
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    html ? "Content-Type: text/html; charset=UTF-8" : "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    html ? `<html><body><p>${text.replace(/\n/g, "<br>")}</p><a href="https://login.${shapeOf(i).domain}/x">ログイン</a></body></html>` : text,
    ...attachmentPart(attachment, i),
    "--b1--",
    "",
  ];
  return Buffer.from(lines.join("\r\n"), "utf8");
}

export interface GenerateOptions {
  dataDir: string;
  count: number;
  /** the first message's arrival; messages are spread evenly over `days` */
  start: Date;
  days: number;
  /** message indexes whose original is not kept */
  purged?: (i: number) => boolean;
  onProgress?: (done: number) => void;
}

/** Writes the audit store and the retained originals; returns what it wrote, in arrival order. */
export async function generateRetainedMail(options: GenerateOptions): Promise<GeneratedMessage[]> {
  const { dataDir, count, start, days } = options;
  mkdirSync(dataDir, { recursive: true });
  const store = openSqliteStore({ file: path.join(dataDir, "audit.sqlite"), tablePrefix: "audit" });
  await store.init();
  const spacing = (days * 86_400_000) / count;
  const made = new Set<string>();
  const out: GeneratedMessage[] = [];
  let batch: PendingEvent[] = [];
  for (let i = 0; i < count; i++) {
    const at = new Date(start.getTime() + Math.floor(i * spacing));
    const auditId = newAuditId(at);
    const { domain, attachment, html } = shapeOf(i);
    const mailFrom = `user${i % 500}@${domain}`;
    const rcpt = `staff${i % 300}@city.example.lg.jp`;
    const raw = rawMessage(i, auditId, mailFrom, at);
    const sha256 = createHash("sha256").update(raw).digest("hex");
    const retained = !(options.purged?.(i) ?? false);
    if (retained) {
      const envelope: SpoolEnvelope = { v: 1, id: auditId, receivedAt: at.toISOString(), mailFrom, rcptTo: [rcpt], clientAddress: "192.0.2.10", clientHelo: "mx.internet.example", protocol: "ESMTP", smtputf8: false };
      const dir = path.join(dataDir, "originals", at.toISOString().slice(0, 10));
      if (!made.has(dir)) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        made.add(dir);
      }
      writeFileSync(path.join(dir, `${auditId}.rec`), Buffer.concat([encodeRecordHead(envelope), raw, encodeRecordTrailer(raw.length, sha256)]), { mode: 0o600 });
    }
    const ts = (ms: number) => new Date(at.getTime() + ms).toISOString();
    batch.push(
      {
        ts: ts(0),
        gateway: "gw1",
        type: "received",
        auditId,
        actor: "gateway",
        data: { clientAddress: "192.0.2.10", clientHelo: "mx.internet.example", protocol: "ESMTP", mailFrom, rcptTo: [rcpt], headerFrom: `<${mailFrom}>`, subject: `${SUBJECTS[i % SUBJECTS.length]} No.${i}`, size: raw.length, sha256 },
      },
      { ts: ts(40), gateway: "gw1", type: "sanitized", auditId, actor: "gateway", data: { rulesApplied: [] } },
      { ts: ts(90), gateway: "gw1", type: "delivered", auditId, actor: "gateway", data: { rcptTo: [rcpt] } },
    );
    if (batch.length >= 3000) {
      await store.append(batch);
      batch = [];
      options.onProgress?.(i + 1);
    }
    out.push({ auditId, receivedAt: at.toISOString(), mailFrom, domain, attachment, html, retained });
  }
  if (batch.length) await store.append(batch);
  await store.close();
  return out;
}
