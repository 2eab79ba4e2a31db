/**
 * The notices about a message (Postfix's bounce): delivery status
 * notifications to the sender for recipients that failed for good (RFC 3464,
 * through delivery.dsnRelay), and the hold notice to the recipients of a
 * message a rule holds (one text/plain notice that carries none of its text).
 *
 * SECURITY: the DSN is built by dsn.ts from cleaned values and quotes only the
 * headers of the sanitized output (our own bytes), never the original's. The
 * hold notice was rendered by the sanitizer like any delivered message.
 * Crash state: a hold notice's temp file (`.tmp-notice-*` in out/) is removed
 * by the recovery scan; a DSN sent just before a crash may be sent again
 * (dsnSentFor is written after it), never lost.
 */
import { readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import { tempName } from "../spool/durable.ts";
import type { SpoolEnvelope } from "../spool/record.ts";
import type { DeliveryMeta, FailedRecipient, Spool } from "../spool/spool.ts";
import type { Deliverer } from "./delivery-types.ts";
import { buildDsn, type DsnRecipient } from "./dsn.ts";
import type { FinalEvent, Settled, Settler } from "./settle.ts";

export interface DsnSender {
  send(to: string, message: Buffer): Promise<void>;
}

export interface BounceDeps {
  spool: Pick<Spool, "outPath" | "writeMeta">;
  delivery: Pick<Config["delivery"], "dsnFrom">;
  hostname: string;
  /** absent: failed messages are held instead of bounced */
  dsn?: DsnSender;
  /** sends the hold notice */
  deliverer: Pick<Deliverer, "deliver">;
  settle: Pick<Settler, "hold">;
  audit: Pick<AuditSink, "record">;
  now: () => Date;
}

export interface Bounce {
  /**
   * DSN for recipients that failed for good; without a DSN relay (or for the null sender) the
   * message is held. undefined: the sender was told, the pass goes on.
   */
  notifyFailures(id: string, env: SpoolEnvelope, meta: DeliveryMeta, failed: FailedRecipient[], log: Logger, finals?: FinalEvent[]): Promise<Settled | undefined>;
  /** `finals`: the pass's final events, which the `dsn-sent` event joins (the proof kept until they are stored) */
  sendDsn(id: string, env: SpoolEnvelope, recipients: DsnRecipient[], headers: string, log: Logger, finals?: FinalEvent[]): Promise<{ ok: true } | { ok: false; error: string }>;
  /**
   * Best effort, one attempt: the held message itself is safe in held/ whatever happens here.
   * Recorded as delivery attempts marked `notice`, never as "delivered" (the message is not).
   */
  sendHoldNotice(id: string, env: SpoolEnvelope, message: Buffer, log: Logger): Promise<void>;
}

export function createBounce(deps: BounceDeps): Bounce {
  const { spool, audit } = deps;

  async function sendDsn(
    id: string,
    env: SpoolEnvelope,
    recipients: DsnRecipient[],
    headers: string,
    log: Logger,
    finals?: FinalEvent[],
  ): Promise<{ ok: true } | { ok: false; error: string }> {
    const dsnFrom = deps.delivery.dsnFrom;
    const message = buildDsn({
      queueId: id,
      to: env.mailFrom,
      from: dsnFrom.includes("@") ? dsnFrom : `${dsnFrom}@${deps.hostname}`,
      reportingMta: deps.hostname,
      arrivalDate: new Date(env.receivedAt),
      now: deps.now(),
      recipients,
      headers,
    });
    try {
      await deps.dsn!.send(env.mailFrom, message);
      const sent: FinalEvent = { type: "dsn-sent", actor: "gateway", data: { to: env.mailFrom, rcptTo: recipients.map((r) => r.rcpt) } };
      audit.record({ ...sent, auditId: id });
      finals?.push(sent);
      log.info({ rcpts: recipients.length }, "DSN sent");
      return { ok: true };
    } catch (error) {
      const e = error as Error & { response?: string };
      log.warn({ err: e }, "DSN could not be sent");
      return { ok: false, error: e.response ?? e.message };
    }
  }

  return {
    sendDsn,

    async notifyFailures(id, env, meta, failed, log, finals) {
      const list = failed.map((f) => f.rcpt).join(", ");
      if (!deps.dsn) return deps.settle.hold(id, meta, `delivery failed for ${list}; no DSN relay configured`, log);
      if (env.mailFrom === "") return deps.settle.hold(id, meta, `delivery failed for ${list}; the sender is the null sender (no DSN for a bounce)`, log);
      let headers = "";
      try {
        const out = await readFile(spool.outPath(id));
        const end = out.indexOf("\r\n\r\n");
        headers = out.subarray(0, end >= 0 ? end : Math.min(out.length, 8192)).toString("utf8");
      } catch {
        // no sanitized output (e.g. rejected before rendering): the DSN goes without headers
      }
      const recipients: DsnRecipient[] = failed.map((f) => ({ rcpt: f.rcpt, action: "failed", reply: f.reply }));
      const sent = await sendDsn(id, env, recipients, headers, log, finals);
      if (!sent.ok) return deps.settle.hold(id, meta, `delivery failed for ${list}; the DSN could not be sent: ${sent.error}`, log);
      meta.dsnSentFor = [...(meta.dsnSentFor ?? []), ...failed.map((f) => f.rcpt)];
      if (meta.pending.length > 0) await spool.writeMeta(id, meta);
      return undefined;
    },

    async sendHoldNotice(id, env, message, log) {
      const file = tempName(path.dirname(spool.outPath(id)), `notice-${id}`);
      try {
        await writeFile(file, message, { flag: "wx", mode: 0o640 });
        const result = await deps.deliverer.deliver({ queueId: id, mailFrom: env.mailFrom, rcptTo: env.rcptTo, file });
        for (const a of result.attempts) {
          audit.record({ type: "delivery-attempt", auditId: id, actor: "gateway", data: { host: a.host, reply: a.reply, ok: a.ok, notice: true } });
        }
        const accepted = result.recipients.filter((r) => r.status === "accepted").length;
        log.info({ accepted, rcpts: env.rcptTo.length }, "hold notice sent to the recipients");
      } catch (error) {
        log.warn({ err: error }, "hold notice could not be sent");
      } finally {
        await unlink(file).catch(() => {});
      }
    },
  };
}
