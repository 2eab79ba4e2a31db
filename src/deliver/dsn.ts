/**
 * Delivery status notifications (RFC 3464): the message telling a sender that
 * some recipients could not be reached. Built here (pure), sent by the queue
 * manager through delivery.dsnRelay with the null sender, so a DSN can never
 * cause another DSN.
 *
 * SECURITY: the recipients and the downstream server's replies are echoed in
 * the report; they are reduced to printable ASCII (control characters and
 * CR/LF removed) so they cannot inject header fields or MIME boundaries; the
 * top-level header block is written by the sanitizer's header encoder, whose
 * headerBlock() asserts every line (printable ASCII, ≤ 998 octets). The
 * returned headers (text/rfc822-headers) are those of mumuka's own sanitized
 * message, never the original's.
 */
import { randomBytes } from "node:crypto";
import { addressHeader, foldedTokens, headerBlock, tokenHeader, unstructuredHeader } from "../sanitize/header-encode.ts";

export interface DsnRecipient {
  rcpt: string;
  /** "failed" (5xx or expired) or "delayed" */
  action: "failed" | "delayed";
  /** the downstream server's reply, or our reason */
  reply: string;
  /** the remote MTA that gave the reply, when there was one */
  remoteMta?: string;
}

export interface DsnInput {
  queueId: string;
  /** the original envelope sender (the DSN's recipient) */
  to: string;
  from: string;
  reportingMta: string;
  arrivalDate: Date;
  now: Date;
  recipients: DsnRecipient[];
  /** header block of the message concerned (mumuka's sanitized one), or empty */
  headers: string;
}

const printable = (s: string, max = 500) => s.replace(/[^\x20-\x7e]/g, " ").trim().slice(0, max);
/** RFC 5321 4.5.3.1.3: a path is at most 256 octets; with a 500-character reply a line stays far below 998 */
const MAX_RCPT = 256;
/** RFC 3464 status from a reply: its enhanced code when present, else from the basic code */
export function statusOf(reply: string, action: "failed" | "delayed"): string {
  const enhanced = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply);
  if (enhanced) return enhanced[1]!;
  const basic = /^([245])\d\d/.exec(reply.trim());
  if (basic) return `${basic[1]}.0.0`;
  return action === "failed" ? "5.0.0" : "4.0.0";
}

export function buildDsn(input: DsnInput): Buffer {
  const boundary = `mumuka-dsn-${randomBytes(8).toString("hex")}`;
  const failed = input.recipients.filter((r) => r.action === "failed");
  const subject = failed.length ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)";
  const human = [
    "This is the mail system at host " + printable(input.reportingMta) + " (mumuka).",
    "",
    failed.length
      ? "Your message could not be delivered to one or more recipients."
      : "Your message has not yet been delivered to one or more recipients.",
    "送信されたメールを一部または全部の宛先に配送できませんでした。",
    "",
    ...input.recipients.map((r) => `<${printable(r.rcpt, MAX_RCPT)}>: ${printable(r.reply)}`),
    "",
    `Queue ID / 受付番号: ${input.queueId}`,
  ];
  const perMessage = [
    `Reporting-MTA: dns; ${printable(input.reportingMta)}`,
    `X-Postfix-Queue-ID: ${input.queueId}`,
    `Arrival-Date: ${input.arrivalDate.toUTCString().replace("GMT", "+0000")}`,
  ];
  const perRecipient = input.recipients.map((r) =>
    [
      `Final-Recipient: rfc822; ${printable(r.rcpt, MAX_RCPT)}`,
      `Original-Recipient: rfc822; ${printable(r.rcpt, MAX_RCPT)}`,
      `Action: ${r.action}`,
      `Status: ${statusOf(r.reply, r.action)}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${printable(r.remoteMta)}`] : []),
      `Diagnostic-Code: smtp; ${printable(r.reply)}`,
    ].join("\r\n"),
  );
  const quotedHeaders = input.headers
    .split(/\r?\n/)
    .map((l) => l.replace(/[^\x20-\x7e\t]/g, "?"))
    .join("\r\n");
  // the top-level header block through the one header encoder: an address it cannot write
  // (a non-ASCII envelope sender) becomes a placeholder, and every line is asserted
  const header = headerBlock([
    addressHeader("From", [{ name: "Mail Delivery System", address: input.from }], "utf-8"),
    addressHeader("To", [{ name: "", address: input.to }], "utf-8"),
    unstructuredHeader("Subject", subject, "utf-8"),
    tokenHeader("Date", input.now.toUTCString().replace("GMT", "+0000")),
    tokenHeader("Message-ID", `<${input.queueId}.dsn@${printable(input.reportingMta, 255).replace(/[^A-Za-z0-9.-]/g, "")}>`),
    tokenHeader("Auto-Submitted", "auto-replied"),
    tokenHeader("MIME-Version", "1.0"),
    foldedTokens("Content-Type", [`multipart/report; report-type=delivery-status; boundary="${boundary}"`]),
  ]);
  const lines = [
    "",
    "This is a MIME-encapsulated message.",
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    ...human,
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "",
    perMessage.join("\r\n"),
    "",
    perRecipient.join("\r\n\r\n"),
    "",
    `--${boundary}`,
    "Content-Type: text/rfc822-headers",
    "",
    quotedHeaders,
    "",
    `--${boundary}--`,
    "",
  ];
  return Buffer.concat([header, Buffer.from(lines.join("\r\n"), "utf8")]);
}
