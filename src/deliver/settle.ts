/**
 * How one pass of one message ends, when it ends in place: held (an
 * administrator decides), corrupt (kept for inspection) or finished (the
 * record leaves the spool). Each is a durable spool change first, then its
 * audit event, so the trail never claims a state the disk does not have.
 *
 * SECURITY: the reason strings are ours (rule names and reasons, server
 * replies as data); nothing here reads message bytes.
 * Crash state: a crash between the meta write and the rename leaves the
 * message in active/ with its new meta, which recovery puts back in incoming/.
 */
import type { AuditSink } from "../audit/audit-types.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { OriginalStore } from "../originals/index.ts";
import type { DeliveryMeta, RemoveOptions, Spool } from "../spool/spool.ts";

/** where one pass left its message */
export type Settled = "done" | "deferred" | "held" | "corrupt" | "gone";
/** what spool.remove() may skip: files this pass knows were never written */
export type Removal = Omit<RemoveOptions, "noRecord">;

export interface SettleDeps {
  spool: Pick<Spool, "writeMeta" | "move" | "remove" | "recordPath">;
  audit: Pick<AuditSink, "record">;
  metrics?: Pick<Metrics, "messages">;
  /** keeps each raw original once the spool is done with it (absent: records are just removed) */
  originals?: Pick<OriginalStore, "retire">;
}

export interface Settler {
  /** active/ → held/ with the reason in the meta */
  hold(id: string, meta: DeliveryMeta, reason: string, log: Logger): Promise<Settled>;
  /** active/ → corrupt/: the record cannot be trusted */
  toCorrupt(id: string, reason: string, log: Logger): Promise<Settled>;
  /** the message is done (delivered, bounced, rejected): its record leaves the spool */
  finish(id: string, removal: Removal, log: Logger): Promise<void>;
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

    /** into the originals store when originals are kept (a rename), then its meta and output go */
    async finish(id, removal, log) {
      let retired = false;
      if (deps.originals) {
        try {
          retired = await deps.originals.retire(id, spool.recordPath("active", id));
        } catch (error) {
          // retention must not stop mail: the message is done all the same, the failure is loud in the log
          log.error({ err: error }, "the raw original could not be kept");
        }
      }
      await spool.remove(id, "active", { ...removal, noRecord: retired });
    },
  };
}
