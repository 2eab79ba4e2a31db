/**
 * How one pass of one message ends, when it ends in place: held (an
 * administrator decides), corrupt (kept for inspection) or finished (the
 * record leaves the spool). Each is a durable spool change first, then its
 * audit event, so the trail never claims a state the disk does not have. A
 * finished record leaves only once the store has its final events
 * (done-queue.ts); a held or corrupt one stays, and the next start rebuilds
 * its event if a crash lost it (final-recovery.ts).
 *
 * SECURITY: the reason strings are ours (rule names and reasons, server
 * replies as data); nothing here reads message bytes.
 * Crash state: a crash between the meta write and the rename leaves the
 * message in active/ with its new meta, which recovery puts back in incoming/;
 * after the rename, the record is where it belongs and its event is rebuilt
 * at the next start if it was not stored.
 */
import type { AuditSink } from "../audit/audit-types.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { DeliveryMeta, Spool } from "../spool/spool.ts";
import type { DoneQueue, FinalEvent, Removal } from "./done-queue.ts";

export type { FinalEvent, Removal } from "./done-queue.ts";

/** where one pass left its message */
export type Settled = "done" | "deferred" | "held" | "corrupt" | "gone";

export interface SettleDeps {
  spool: Pick<Spool, "writeMeta" | "move">;
  audit: Pick<AuditSink, "record">;
  metrics?: Pick<Metrics, "messages">;
  /** where finished records wait for their final events to be stored */
  done: Pick<DoneQueue, "park">;
}

export interface Settler {
  /** active/ → held/ with the reason in the meta */
  hold(id: string, meta: DeliveryMeta, reason: string, log: Logger): Promise<Settled>;
  /** active/ → corrupt/: the record cannot be trusted */
  toCorrupt(id: string, reason: string, log: Logger): Promise<Settled>;
  /**
   * the message is done (delivered, bounced, rejected), its final events (`finals`) recorded: its
   * record leaves the spool once they are stored; `removal`: files this pass knows were never written
   */
  finish(id: string, removal: Removal, log: Logger, finals: FinalEvent[]): Promise<void>;
}

export function createSettler(deps: SettleDeps): Settler {
  const { spool, audit } = deps;
  return {
    async hold(id, meta, reason, log) {
      meta.holdReason = reason;
      delete meta.nextAttemptAt;
      await spool.writeMeta(id, meta);
      await spool.move(id, "active", "held");
      audit.record({ type: "held", auditId: id, actor: "gateway", data: { reason, rcptTo: meta.pending, failed: meta.failed } });
      deps.metrics?.messages.inc({ outcome: "held" });
      log.warn({ reason }, "held");
      return "held";
    },

    async toCorrupt(id, reason, log) {
      await spool.move(id, "active", "corrupt");
      audit.record({ type: "held", auditId: id, actor: "gateway", data: { reason: `corrupt spool file: ${reason}`, state: "corrupt" } });
      log.error({ reason }, "spool file is corrupt; moved to corrupt/");
      return "corrupt";
    },

    finish(id, removal, log, finals) {
      return deps.done.park(id, removal, finals, log);
    },
  };
}
