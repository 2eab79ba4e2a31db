/**
 * Delivery to the LGWAN-side server(s) over SMTP (a small pool of nodemailer
 * SMTPConnections per host, see smtp-pool.ts): the sanitized bytes as they are
 * in the spool, with the original envelope, and a verdict per recipient.
 *
 * Failover: recipients that are still deferred after a host (unreachable,
 * 4xx) are tried on the next configured host in the same attempt.
 *
 * SECURITY: the downstream server's replies are data (recorded, shown to
 * administrators, echoed in DSNs after cleaning); nothing here interprets them.
 * Envelope addresses come from the sending client: they are normalised the way
 * nodemailer's sendMail did (which also refuses CR, LF and angle brackets).
 * Crash state: none of its own; a message cut mid-transaction is still in the
 * spool and will be sent again (at-least-once).
 */
import { createReadStream } from "node:fs";
import type { NodemailerError } from "nodemailer/lib/errors.js";
import MimeNode from "nodemailer/lib/mime-node/index.js";
import type { SMTPConnectionSendInfo } from "nodemailer/lib/smtp-connection/index.js";
import type { Config } from "../config/schema.ts";
import type { Deliverer, DeliveryJob, DeliveryResult, HostAttempt, RecipientResult } from "./delivery-types.ts";
import { createSmtpPool, type MessageSource, type SmtpPool } from "./smtp-pool.ts";

/** read size when the message comes from its spool file: a few large writes to the socket, bounded memory */
const FILE_CHUNK_BYTES = 256 * 1024;

export function createSmtpDeliverer(delivery: Config["delivery"], hostname: string): Deliverer {
  const hosts = [{ host: delivery.host, port: delivery.port }, ...delivery.failover];
  const pools = hosts.map((h) =>
    createSmtpPool({
      maxConnections: delivery.concurrency,
      connection: {
        host: h.host,
        port: h.port,
        secure: false,
        name: hostname,
        requireTLS: delivery.requireTls,
        // opportunistic STARTTLS inside the LGWAN zone: a private CA is the norm; requireTls verifies
        tls: { rejectUnauthorized: delivery.requireTls },
        connectionTimeout: delivery.connectTimeoutMs,
        greetingTimeout: delivery.connectTimeoutMs,
        socketTimeout: delivery.connectTimeoutMs * 4,
      },
    }),
  );

  async function deliver(job: DeliveryJob): Promise<DeliveryResult> {
    const final = new Map<string, RecipientResult>();
    const attempts: HostAttempt[] = [];
    // in memory on a first attempt: no file stream to open, read and close on this event loop
    const message: MessageSource = job.message ?? (() => createReadStream(job.file, { highWaterMark: FILE_CHUNK_BYTES }));
    let todo = [...job.rcptTo];
    for (let i = 0; i < hosts.length && todo.length > 0; i++) {
      const label = `${hosts[i]!.host}:${hosts[i]!.port}`;
      const results = await sendOnce(pools[i]!, job.mailFrom, todo, message, label, attempts);
      todo = [];
      for (const r of results) {
        final.set(r.rcpt, r);
        if (r.status === "deferred") todo.push(r.rcpt);
      }
    }
    return { recipients: job.rcptTo.map((r) => final.get(r)!), attempts };
  }

  async function sendOnce(
    pool: SmtpPool,
    mailFrom: string,
    rcpts: string[],
    message: MessageSource,
    host: string,
    attempts: HostAttempt[],
  ): Promise<RecipientResult[]> {
    // the address each recipient goes out as (duplicates collapse into one RCPT TO, as with sendMail)
    const wire = rcpts.map(envelopeAddress);
    try {
      const info: SMTPConnectionSendInfo = await pool.send({ from: envelopeAddress(mailFrom), to: [...new Set(wire.filter(Boolean))] }, message);
      const errors = info.rejectedErrors ?? [];
      const accepted = new Set(info.accepted);
      attempts.push({ host, reply: String(info.response ?? ""), ok: true });
      return rcpts.map((rcpt, i) => {
        if (accepted.has(wire[i]!)) return { rcpt, status: "accepted", reply: String(info.response ?? ""), host };
        const err = errors.find((e) => e.recipient === wire[i]);
        return perRecipientError(rcpt, err, host);
      });
    } catch (error) {
      const err = error as NodemailerError;
      attempts.push({ host, reply: err.response ?? `${err.code ?? "ERROR"}: ${err.message}`, ok: false });
      if (err.code === "EENVELOPE" && err.rejectedErrors?.length) {
        return rcpts.map((rcpt, i) => perRecipientError(rcpt, err.rejectedErrors!.find((e) => e.recipient === wire[i]) ?? err, host));
      }
      // the whole transaction failed: a 5xx reply fails every recipient, anything else defers them
      return rcpts.map((rcpt) => perRecipientError(rcpt, err, host));
    }
  }

  return {
    deliver,
    async close() {
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

function perRecipientError(rcpt: string, err: NodemailerError | undefined, host: string): RecipientResult {
  const code = err?.responseCode;
  const reply = err?.response ?? (err ? `${err.code ?? "ERROR"}: ${err.message}` : "no reply for this recipient");
  const status = code !== undefined && code >= 500 && code < 600 ? "rejected" : "deferred";
  return { rcpt, status, reply, ...(code !== undefined ? { code } : {}), host };
}

/**
 * A dot-atom local part at a lower-case ASCII domain whose last label starts
 * with a letter (a numeric one is read as an IPv4 address) and no label is an
 * A-label ("xn--", checked by the slow path): nodemailer's normalisation
 * leaves it as it is. Every label ends at a dot, so matching is linear.
 */
const PLAIN_ADDRESS = /^[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:(?!xn--)[a-z0-9-]+\.)*(?!xn--)[a-z][a-z0-9-]*$/;

/**
 * The address as nodemailer's sendMail put it on the wire: domain lower-cased,
 * an IDN domain punycoded (unless the local part needs SMTPUTF8 anyway), an
 * unusual local part quoted. "" (the null sender, or nothing usable) stays "".
 */
export function envelopeAddress(address: string): string {
  if (PLAIN_ADDRESS.test(address)) return address;
  if (!address) return "";
  return new MimeNode().setEnvelope({ from: address }).getEnvelope().from || "";
}
