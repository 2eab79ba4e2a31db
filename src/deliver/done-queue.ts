/**
 * The end of a finished message (delivered, bounced, rejected, and deleted by
 * an administrator: end(), used by spool/queue-admin.ts): its record
 * leaves the spool only once the audit store has the events that say how it
 * ended. Until then it waits in done/, and one line of the done journal
 * (spool/done-journal.ts) holds those events, so that a crash in between (the
 * events are batched: up to audit.flushMs in memory) leaves a record from
 * which they are rebuilt (final-recovery.ts) instead of a message that was
 * received and then vanished from the trail.
 *
 * The pass does not wait: park() renames the record into done/ and asks the
 * audit log to call back once the batch holding its events is stored (its
 * afterStored hook, which does not cut the batch window short); the queue
 * manager's slot is free at once. The record then goes into the originals
 * store (a rename: once, as before) or is removed, with its meta and output.
 *
 * Bounded: at most MAX_WAITING records wait in memory for their callback (a
 * store that is down for long); beyond that they wait in done/ on disk alone
 * and are settled at the next start, like those a crash leaves.
 *
 * SECURITY: moves and removes our own files by audit id; no message bytes.
 * Crash state: records in done/ and their journal lines; the next start
 * retires each whose final events are stored and rebuilds the missing ones
 * (final-recovery.ts).
 */
import type { AuditEventInput, AuditSink } from "../audit/audit-types.ts";
import { storedWithin } from "../audit/stored-within.ts";
import type { Logger } from "../lib/logger.ts";
import type { OriginalStore } from "../originals/index.ts";
import type { DoneJournal } from "../spool/done-journal.ts";
import type { RemoveOptions, Spool, SpoolState } from "../spool/spool.ts";

/** ~200 bytes each: 100,000 records waiting on a store that is down hold about 20 MB */
const MAX_WAITING = 100_000;

/** one event a finished message ended with, as recorded (and as rebuilt after a crash) */
export type FinalEvent = Required<Pick<AuditEventInput, "type" | "actor" | "data">>;
export type Removal = Omit<RemoveOptions, "noRecord"> & {
  /**
   * what becomes of the record when originals are kept: "keep" (default) retires it, and a failure
   * is logged and the record removed all the same (retention must not stop mail); "must-keep" (an
   * administrator's delete) leaves it in done/ when it cannot be retired, for the next start to
   * try again; "none" (a deleted corrupt record: its framing is not trusted) removes it.
   */
  original?: "keep" | "must-keep" | "none";
};

/** how a record whose final events are these leaves done/ (also for one an earlier run left) */
export function removalFor(finals: readonly FinalEvent[]): Removal {
  const deleted = finals.find((e) => e.type === "deleted");
  if (!deleted) return {};
  return { original: deleted.data.from === "corrupt" ? "none" : "must-keep" };
}

export interface DoneQueueDeps {
  spool: Pick<Spool, "move" | "remove" | "recordPath">;
  journal: DoneJournal<FinalEvent[]>;
  audit: Pick<AuditSink, "flush" | "afterStored">;
  /** keeps each raw original once the spool is done with it (absent: records are just removed) */
  originals?: Pick<OriginalStore, "retire">;
  logger: Logger;
}

export interface DoneQueue {
  /** active/ → done/ with its final events journaled; leaves the spool once they are stored */
  park(id: string, removal: Removal, finals: FinalEvent[], log: Logger): Promise<void>;
  /**
   * an administrator's end of a message: `from` (held/, corrupt/) → done/, its final events journaled
   * (fsynced) FIRST. Throws when the line cannot be written or the record cannot be moved: nothing
   * changed then. False: the record was not in `from`. The caller records the events, then calls
   * releaseWhenStored().
   */
  end(id: string, from: SpoolState, finals: FinalEvent[]): Promise<boolean>;
  /** a record already in done/ (an earlier run's, or one end() put there) leaves once what is recorded now is stored */
  releaseWhenStored(id: string, removal: Removal, log: Logger, then?: () => void): void;
  /** records parked and not yet gone */
  waiting(): number;
  /** waits (bounded) for the store, lets what it has go, and stops; the rest waits for the next start */
  close(): Promise<void>;
}

export function createDoneQueue(deps: DoneQueueDeps): DoneQueue {
  const { spool, journal, audit } = deps;
  const waiting = new Set<string>();
  const leaving = new Set<Promise<void>>();
  let closed = false;
  let overflowWarned = false;

  /** into the originals store when originals are kept (a rename), then its meta and output go */
  async function leave(id: string, removal: Removal, log: Logger): Promise<void> {
    const { original = "keep", ...files } = removal;
    let retired = false;
    if (deps.originals && original !== "none") {
      try {
        retired = await deps.originals.retire(id, spool.recordPath("done", id));
      } catch (error) {
        // a deleted message's record is the original an administrator was promised: it waits in done/
        if (original === "must-keep") throw error;
        // retention must not stop mail: the message is done all the same, the failure is loud in the log
        log.error({ err: error }, "the raw original could not be kept");
      }
    }
    await spool.remove(id, "done", { ...files, noRecord: retired });
    journal.release(id);
  }

  function releaseWhenStored(id: string, removal: Removal, log: Logger, then?: () => void): void {
    if (waiting.size >= MAX_WAITING) {
      if (!overflowWarned) log.warn({ waiting: waiting.size }, "audit store far behind: finished messages wait in done/ until the next start");
      overflowWarned = true;
      return;
    }
    waiting.add(id);
    const go = (): void => {
      if (closed) return; // left in done/: the next start settles it
      const p = leave(id, removal, log)
        .then(then)
        .catch((error: unknown) => log.error({ err: error }, "a finished message could not leave done/; the next start retries"))
        .finally(() => {
          waiting.delete(id);
          leaving.delete(p);
        });
      leaving.add(p);
    };
    if (audit.afterStored) audit.afterStored(go);
    else void audit.flush().then(go); // a sink without batches (tests): stored when flush says so
  }

  return {
    async park(id, removal, finals, log) {
      if (!journal.append(id, finals)) {
        // no proof on disk: a crash before the store has the events delivers the message again
        log.error("the done journal cannot be written; a crash in the next moments would deliver this message again");
      }
      // not durable: a power cut may bring the record back in active/, and it is delivered again (at-least-once)
      if (!(await spool.move(id, "active", "done", false))) {
        journal.release(id); // not ours to settle (it was not in active/)
        return;
      }
      releaseWhenStored(id, removal, log);
    },
    async end(id, from, finals) {
      if (!journal.append(id, finals, { durable: true })) throw new Error("the done journal cannot be written");
      try {
        if (await spool.move(id, from, "done")) return true;
      } catch (error) {
        journal.release(id);
        throw error;
      }
      journal.release(id);
      return false;
    },
    releaseWhenStored,
    waiting: () => waiting.size,
    async close() {
      // the batch window is cut short once, here: what the store takes now need not wait for the next start
      await storedWithin(audit);
      closed = true;
      while (leaving.size) await Promise.allSettled([...leaving]);
      journal.close();
    },
  };
}
