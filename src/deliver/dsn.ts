/**
 * Delivery status notifications (RFC 3464): the message telling a sender that
 * some recipients could not be reached. Built here (pure), sent by the queue
 * manager through delivery.dsnRelay with the null sender, so a DSN can never
 * cause another DSN.
 *
 * SECURITY: the recipients and the downstream server's replies are echoed in
 * the report; they are reduced to printable ASCII (control characters and
 * CR/LF removed) so they cannot inject header fields or MIME boundaries. The
 * returned headers (text/rfc822-headers) are those of mumuka's own sanitized
 * message, never the original's.
 */
import { randomBytes } from "node:crypto";

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

const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, " ").trim().slice(0, 500);
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
    ...input.recipients.map((r) => `<${printable(r.rcpt)}>: ${printable(r.reply)}`),
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
      `Final-Recipient: rfc822; ${printable(r.rcpt)}`,
      `Original-Recipient: rfc822; ${printable(r.rcpt)}`,
      `Action: ${r.action}`,
      `Status: ${statusOf(r.reply, r.action)}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${printable(r.remoteMta)}`] : []),
      `Diagnostic-Code: smtp; ${printable(r.reply)}`,
    ].join("\r\n"),
  );
  const headerBlock = input.headers
    .split(/\r?\n/)
    .map((l) => l.replace(/[^\x20-\x7e\t]/g, "?"))
    .join("\r\n");
  const lines = [
    `From: Mail Delivery System <${printable(input.from)}>`,
    `To: <${printable(input.to)}>`,
    `Subject: ${subject}`,
    `Date: ${input.now.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${input.queueId}.dsn@${printable(input.reportingMta)}>`,
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
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
    headerBlock,
    "",
    `--${boundary}--`,
    "",
  ];
  return Buffer.from(lines.join("\r\n"), "utf8");
}
