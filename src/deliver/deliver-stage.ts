/**
 * The delivery step of one message's pass (Postfix's smtp): one attempt to
 * the downstream server for the recipients still pending, the per-recipient
 * bookkeeping in the meta, expiry after maxQueueDays, the DSN for recipients
 * that failed for good, and the end of the pass: done (the record leaves the
 * spool) or deferred (meta first, then the rename into deferred/, then the
 * queue manager's timer).
 *
 * The first attempt sends the sanitized bytes straight from memory. A message
 * that outlives that pass (deferred, held, failed recipients) has them spooled
 * (out/ID.eml, fsynced) before its new state is, so every retry sends the same
 * bytes and the audited hash is the delivered hash.
 *
 * SECURITY: handles the envelope (sender-controlled addresses) and the
 * downstream server's replies as data only.
 * Crash state: before the output is spooled, a crash re-sanitizes from the
 * record; after a 250 and before the record is in done/, the message is
 * delivered again at the next start (at-least-once); once it is in done/, its
 * final events are rebuilt from the done journal if they were not stored
 * (done-queue.ts), and it is not delivered again.
 */
import type { AuditSink } from "../audit/audit-types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { SpoolEnvelope } from "../spool/record.ts";
import type { DeliveryMeta, Spool } from "../spool/spool.ts";
import type { Bounce } from "./bounce.ts";
import type { Deliverer, DeliveryResult } from "./delivery-types.ts";
import { isExpired, nextAttemptAt } from "./retry-schedule.ts";
import type { FinalEvent, Removal, Settled, Settler } from "./settle.ts";

export interface DeliverStageDeps {
  spool: Pick<Spool, "outPath" | "writeOut" | "writeMeta" | "move">;
  deliverer: Pick<Deliverer, "deliver">;
  delivery: Pick<Config["delivery"], "retryFirstSeconds" | "retryMaxSeconds" | "maxQueueDays">;
  settle: Pick<Settler, "finish">;
  bounce: Pick<Bounce, "notifyFailures">;
  /** the queue manager's timer: the message is in deferred/, try it again at `at` */
  retryAt(id: string, at: Date): void;
  audit: Pick<AuditSink, "record">;
  metrics?: Pick<Metrics, "messages" | "deliveryAttempts" | "deliveryLatency">;
  now: () => Date;
}

/** `message`: the sanitized bytes of a message sanitized in this pass (no out/ID.eml yet) */
export type DeliverStage = (id: string, env: SpoolEnvelope, meta: DeliveryMeta, log: Logger, removal: Removal, message?: Buffer) => Promise<Settled>;

export function createDeliverStage(deps: DeliverStageDeps): DeliverStage {
  const { spool, audit, delivery, now } = deps;
  return async function deliverStage(id, env, meta, log, removal, message) {
    /** the events that say how this pass ended the message: the proof kept until they are stored */
    const finals: FinalEvent[] = [];
    const final = (event: FinalEvent): void => {
      audit.record({ ...event, auditId: id });
      finals.push(event);
    };
    if (meta.pending.length > 0) {
      const startedAt = now();
      let result: DeliveryResult;
      try {
        result = await deps.deliverer.deliver({
          queueId: id,
          mailFrom: env.mailFrom,
          rcptTo: meta.pending,
          file: spool.outPath(id),
          ...(message ? { message } : {}),
        });
      } catch (error) {
        const reply = `delivery error: ${(error as Error).message}`;
        result = { recipients: meta.pending.map((rcpt) => ({ rcpt, status: "deferred", reply })), attempts: [{ host: "-", reply, ok: false }] };
      }
      meta.attempts++;
      for (const a of result.attempts) {
        audit.record({ type: "delivery-attempt", auditId: id, actor: "gateway", data: { host: a.host, reply: a.reply, ok: a.ok } });
      }
      const accepted = result.recipients.filter((r) => r.status === "accepted");
      const rejected = result.recipients.filter((r) => r.status === "rejected");
      const deferred = result.recipients.filter((r) => r.status === "deferred");
      deps.metrics?.deliveryAttempts.inc({ result: deferred.length ? "deferred" : rejected.length ? "rejected" : "ok" }, 1);
      if (accepted.length) {
        meta.delivered.push(...accepted.map((r) => r.rcpt));
        final({
          type: "delivered",
          actor: "gateway",
          data: { rcptTo: accepted.map((r) => r.rcpt), host: accepted[0]!.host, reply: accepted[0]!.reply },
        });
        deps.metrics?.deliveryLatency.observe((startedAt.getTime() - Date.parse(env.receivedAt)) / 1000);
      }
      const at = now().toISOString();
      for (const r of rejected) meta.failed.push({ rcpt: r.rcpt, reply: r.reply, ...(r.code !== undefined ? { code: r.code } : {}), at });
      if (rejected.length) {
        final({
          type: "bounced",
          actor: "gateway",
          data: { recipients: rejected.map((r) => ({ rcpt: r.rcpt, reply: r.reply, host: r.host })) },
        });
      }
      meta.pending = deferred.map((r) => r.rcpt);
      if (deferred.length) meta.lastError = deferred[0]!.reply;
      else if (rejected.length) meta.lastError = rejected[0]!.reply;
    }

    if (meta.pending.length > 0 && isExpired(meta.queuedAt, delivery, now())) {
      const reason = `expired: not delivered within ${delivery.maxQueueDays} days; last error: ${meta.lastError ?? "none"}`;
      const at = now().toISOString();
      for (const rcpt of meta.pending) meta.failed.push({ rcpt, reply: `4.4.7 ${reason}`, at });
      final({ type: "expired", actor: "gateway", data: { rcptTo: meta.pending, reason } });
      deps.metrics?.messages.inc({ outcome: "expired" });
      meta.pending = [];
    }

    // the message outlives this pass (a retry, a hold, a DSN quoting its headers): its bytes go to disk first
    if (message && (meta.pending.length > 0 || meta.failed.length > 0)) {
      await spool.writeOut(id, message);
      message = undefined;
    }

    // recipients that failed for good and have not been told about yet
    const untold = meta.failed.filter((f) => !(meta.dsnSentFor ?? []).includes(f.rcpt));
    if (untold.length) {
      const settled = await deps.bounce.notifyFailures(id, env, meta, untold, log, finals);
      if (settled) return settled;
    }

    if (meta.pending.length === 0) {
      await deps.settle.finish(id, message ? { ...removal, noOut: true } : removal, log, finals);
      deps.metrics?.messages.inc({ outcome: meta.failed.length ? "bounced" : "delivered" });
      log.info({ delivered: meta.delivered.length, failed: meta.failed.length }, "done");
      return "done";
    }
    // deferred: durable meta first, then the state change
    const next = nextAttemptAt(meta.attempts, delivery, now());
    meta.nextAttemptAt = next.toISOString();
    await spool.writeMeta(id, meta);
    await spool.move(id, "active", "deferred");
    deps.retryAt(id, next);
    audit.record({
      type: "deferred",
      auditId: id,
      actor: "gateway",
      data: { rcptTo: meta.pending, attempts: meta.attempts, nextAttemptAt: meta.nextAttemptAt, reason: meta.lastError },
    });
    log.info({ attempts: meta.attempts, next: meta.nextAttemptAt }, "deferred");
    return "deferred";
  };
}
