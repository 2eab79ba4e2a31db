/**
 * Start-up recovery of the events that end a message, for the records a
 * crash left where a message ends (done/, held/, corrupt/). Each of those
 * states is a durable spool change made before its audit event was stored
 * (the events are batched), so the record proves the outcome when the event
 * was lost:
 *
 * - done/: the message finished (delivered, bounced, rejected, or deleted by
 *   an administrator: from the command line or the console). Its final
 *   events are in the done journal (done-queue.ts). Those already stored are
 *   not recorded again; the missing ones are rebuilt from the journal, flagged
 *   `recovered: true`; then the record leaves the spool (into the originals
 *   store: its one retirement) once they are stored. It is never delivered
 *   again. Without its journal line (a power cut) it leaves if the trail shows
 *   it finished, and is otherwise put back in incoming/ to be delivered again
 *   (at-least-once).
 * - held/: a `held` event is rebuilt from the meta's hold reason when the
 *   trail does not show the message held.
 * - corrupt/: a `held` event with state "corrupt" is rebuilt when the trail
 *   has none.
 *
 * A done/ record named by the done journal of another process that still runs
 * (a `mumuka queue delete` in the middle of its delete) is left to it.
 *
 * It runs beside the queue manager, not before it: it waits for the audit
 * store to have what an earlier run left in its spill files and journals
 * (otherwise an event waiting there would be rebuilt twice), and a store that
 * is down at start must not stop mail. Only the records found at start are
 * looked at; the queue manager never touches done/, held/ or corrupt/.
 *
 * SECURITY: reads our own journal and meta files; a corrupt record's framing
 * is read only to name why it is corrupt (length-checked, record.ts).
 * Crash state: rebuilt events are recorded before any record leaves; a crash
 * in between finds them stored (compared without their `recovered` flag) and
 * does not rebuild them again.
 */
import { canonicalJson, plainData, STATUS_AFTER } from "../audit/audit-fns.ts";
import type { AuditEvent, AuditEventType, AuditSink } from "../audit/audit-types.ts";
import type { Logger } from "../lib/logger.ts";
import type { DoneJournal } from "../spool/done-journal.ts";
import { readRecordInfo } from "../spool/record.ts";
import type { Spool } from "../spool/spool.ts";
import { removalFor, type DoneQueue, type FinalEvent } from "./done-queue.ts";

/** the statuses that end a message's story */
const FINISHED = new Set(["delivered", "bounced", "rejected", "expired", "deleted"]);

export interface FinalRecoveryDeps {
  spool: Pick<Spool, "list" | "move" | "readMeta" | "recordPath">;
  journal: Pick<DoneJournal<FinalEvent[]>, "earlier" | "dropEarlier" | "inUse">;
  done: Pick<DoneQueue, "releaseWhenStored">;
  audit: Pick<AuditSink, "record" | "flush">;
  /** a message's stored events; absent (a sink that cannot be read): nothing counts as stored */
  story?: (auditId: string) => Promise<AuditEvent[]>;
  /** a done/ record without proof or final events, now in incoming/: the queue manager takes it */
  requeued(id: string): void;
  /** the gateway is stopping: what is left waits for the next start */
  closing?: () => boolean;
  logger: Logger;
}

export interface FinalRecoveryResult {
  /** events rebuilt (done/, held/, corrupt/) */
  rebuilt: number;
  /** done/ records let go once stored (whether or not anything was rebuilt for them) */
  released: number;
  /** done/ records put back in incoming/ */
  requeued: number;
}

/** the data of an event as it compares: without the flag a rebuilt one carries */
function sameData(stored: Record<string, unknown>, proof: Record<string, unknown>): boolean {
  const { recovered: _r, ...rest } = stored;
  return canonicalJson(rest) === canonicalJson(plainData(proof));
}

/** the type of the last event that moved the message's status */
function lastStatusEvent(story: readonly AuditEvent[]): AuditEventType | undefined {
  let last: AuditEventType | undefined;
  for (const e of story) if (STATUS_AFTER[e.type]) last = e.type;
  return last;
}

export async function recoverFinalEvents(deps: FinalRecoveryDeps): Promise<FinalRecoveryResult> {
  const { spool, audit, logger } = deps;
  const result: FinalRecoveryResult = { rebuilt: 0, released: 0, requeued: 0 };
  // listed at once, before any pass of this run can end: what this run puts there is not looked at
  const [done, held, corrupt] = await Promise.all([spool.list("done"), spool.list("held"), spool.list("corrupt")]);
  const proofs = deps.journal.earlier(new Set(done));
  // a CLI deleting a message right now: its line is written before its record enters done/, so it is seen here
  const busy = deps.journal.inUse(new Set(done));
  if (done.length + held.length + corrupt.length === 0) {
    deps.journal.dropEarlier();
    return result;
  }
  // what an earlier run left in spill files and journals is stored first: its stories are then whole
  await audit.flush();
  if (deps.closing?.()) return result;
  const storyOf = async (id: string): Promise<AuditEvent[]> => (deps.story ? deps.story(id) : []);
  const rebuild = (id: string, event: FinalEvent): void => {
    audit.record({ type: event.type, auditId: id, actor: event.actor, data: { ...event.data, recovered: true } });
    result.rebuilt += 1;
  };

  let settling = done.length;
  const settled = (): void => {
    settling -= 1;
    if (settling === 0) deps.journal.dropEarlier();
  };
  if (settling === 0) deps.journal.dropEarlier();
  // shutdown stops it between messages: what is left (and the earlier journals) waits for the next start
  for (const id of done) {
    if (deps.closing?.()) return result;
    const log = logger.child({ queueId: id });
    if (busy.has(id)) {
      // that process records its event and lets the record go; if it dies first, the next start settles it
      log.info("finished message in done/ is another running process's (an administrator's delete); left to it");
      settled();
      continue;
    }
    const story = await storyOf(id);
    const proof = proofs.get(id);
    if (proof) {
      for (const event of proof) {
        if (!story.some((e) => e.type === event.type && sameData(e.data, event.data))) rebuild(id, event);
      }
    } else if (!FINISHED.has(STATUS_AFTER[lastStatusEvent(story) ?? "received"] ?? "")) {
      // no proof of how it ended (its journal line did not survive) and the trail does not say: deliver it again
      if (await spool.move(id, "done", "incoming", false)) {
        result.requeued += 1;
        log.warn("finished message without proof of its outcome; delivered again");
        deps.requeued(id);
      }
      settled();
      continue;
    }
    result.released += 1;
    // its meta and output, if any, go with it (remove() does not mind absent files)
    deps.done.releaseWhenStored(id, removalFor(proof ?? []), log, settled);
  }

  for (const id of held) {
    if (deps.closing?.()) return result;
    const meta = await spool.readMeta(id);
    // no reason in the meta: an administrator's claim on its way through held/, not a hold
    if (!meta?.holdReason) continue;
    if (lastStatusEvent(await storyOf(id)) === "held") continue;
    rebuild(id, { type: "held", actor: "gateway", data: { reason: meta.holdReason, rcptTo: meta.pending, failed: meta.failed } });
  }

  for (const id of corrupt) {
    if (deps.closing?.()) return result;
    const story = await storyOf(id);
    if (story.some((e) => e.type === "held" && e.data.state === "corrupt")) continue;
    const why = await readRecordInfo(spool.recordPath("corrupt", id)).then(
      () => "message bytes do not match the hash recorded at receipt",
      (error: unknown) => (error as Error).message,
    );
    rebuild(id, { type: "held", actor: "gateway", data: { reason: `corrupt spool file: ${why}`, state: "corrupt" } });
  }
  if (result.rebuilt || result.requeued) logger.warn({ ...result }, "audit recovery: final events rebuilt from the spool (lost in an unclean stop)");
  return result;
}
