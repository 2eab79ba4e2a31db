/**
 * Delivery to the LGWAN-side server(s) over SMTP (nodemailer, pooled
 * connections): the sanitized bytes as they are in the spool, with the
 * original envelope, and a verdict per recipient.
 *
 * Failover: recipients that are still deferred after a host (unreachable,
 * 4xx) are tried on the next configured host in the same attempt.
 *
 * SECURITY: the downstream server's replies are data (recorded, shown to
 * administrators, echoed in DSNs after cleaning); nothing here interprets them.
 * Crash state: none of its own; a message cut mid-transaction is still in the
 * spool and will be sent again (at-least-once).
 */
import nodemailer, { type Transporter } from "nodemailer";
import type SMTPPool from "nodemailer/lib/smtp-pool/index.js";
import type { Config } from "../config/schema.ts";
import type { Deliverer, DeliveryJob, DeliveryResult, HostAttempt, RecipientResult } from "./delivery-types.ts";

/** a pooled connection is recycled after this many messages, to spread memory and state */
const MESSAGES_PER_CONNECTION = 1000;

interface SmtpErrorLike extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  recipient?: string;
  rejectedErrors?: SmtpErrorLike[];
}

export function createSmtpDeliverer(delivery: Config["delivery"], hostname: string): Deliverer {
  const hosts = [{ host: delivery.host, port: delivery.port }, ...delivery.failover];
  const transports = hosts.map((h) =>
    nodemailer.createTransport({
      pool: true,
      host: h.host,
      port: h.port,
      secure: false,
      name: hostname,
      maxConnections: delivery.concurrency,
      maxMessages: MESSAGES_PER_CONNECTION,
      requireTLS: delivery.requireTls,
      // opportunistic STARTTLS inside the LGWAN zone: a private CA is the norm; requireTls verifies
      tls: { rejectUnauthorized: delivery.requireTls },
      connectionTimeout: delivery.connectTimeoutMs,
      greetingTimeout: delivery.connectTimeoutMs,
      socketTimeout: delivery.connectTimeoutMs * 4,
      disableFileAccess: false,
      disableUrlAccess: true,
    } as SMTPPool.Options),
  );

  async function deliver(job: DeliveryJob): Promise<DeliveryResult> {
    const final = new Map<string, RecipientResult>();
    const attempts: HostAttempt[] = [];
    let todo = [...job.rcptTo];
    for (let i = 0; i < hosts.length && todo.length > 0; i++) {
      const label = `${hosts[i]!.host}:${hosts[i]!.port}`;
      const results = await sendOnce(transports[i]!, job, todo, label, attempts);
      todo = [];
      for (const r of results) {
        final.set(r.rcpt, r);
        if (r.status === "deferred") todo.push(r.rcpt);
      }
    }
    return { recipients: job.rcptTo.map((r) => final.get(r)!), attempts };
  }

  async function sendOnce(
    transport: Transporter,
    job: DeliveryJob,
    rcpts: string[],
    host: string,
    attempts: HostAttempt[],
  ): Promise<RecipientResult[]> {
    try {
      const info = await transport.sendMail({
        envelope: { from: job.mailFrom, to: rcpts },
        // in memory on a first attempt: no file stream to open, read and close on this event loop
        raw: job.message ?? { path: job.file },
      });
      const errors = ((info as { rejectedErrors?: SmtpErrorLike[] }).rejectedErrors ?? []) as SmtpErrorLike[];
      const accepted = new Set((info.accepted as string[]).map(String));
      attempts.push({ host, reply: String(info.response ?? ""), ok: true });
      return rcpts.map((rcpt) => {
        if (accepted.has(rcpt)) return { rcpt, status: "accepted", reply: String(info.response ?? ""), host };
        const err = errors.find((e) => e.recipient === rcpt);
        return perRecipientError(rcpt, err, host);
      });
    } catch (error) {
      const err = error as SmtpErrorLike;
      attempts.push({ host, reply: err.response ?? `${err.code ?? "ERROR"}: ${err.message}`, ok: false });
      if (err.code === "EENVELOPE" && err.rejectedErrors?.length) {
        return rcpts.map((rcpt) => perRecipientError(rcpt, err.rejectedErrors!.find((e) => e.recipient === rcpt) ?? err, host));
      }
      // the whole transaction failed: a 5xx reply fails every recipient, anything else defers them
      return rcpts.map((rcpt) => perRecipientError(rcpt, err, host));
    }
  }

  return {
    deliver,
    async close() {
      for (const t of transports) t.close();
    },
  };
}

function perRecipientError(rcpt: string, err: SmtpErrorLike | undefined, host: string): RecipientResult {
  const code = err?.responseCode;
  const reply = err?.response ?? (err ? `${err.code ?? "ERROR"}: ${err.message}` : "no reply for this recipient");
  const status = code !== undefined && code >= 500 && code < 600 ? "rejected" : "deferred";
  return { rcpt, status, reply, ...(code !== undefined ? { code } : {}), host };
}
