/**
 * The administrator's view of and hand on the queue (`QueueAdmin`), used by
 * the `mumuka queue` CLI and the console, in the gateway's process or in
 * another one while the gateway runs.
 *
 * Concurrency with a running gateway, without locks: every change is a
 * rename(), which is atomic, and ownership follows the directory:
 * - the gateway moves messages out of incoming/, active/ and deferred/;
 * - an administrator first CLAIMS a message by renaming it into held/ (which
 *   the gateway never touches), then edits its meta, then (retry/release)
 *   renames it into incoming/, where the gateway's rescan (every 2 s) finds it.
 * A message in active/ is being sanitized or delivered right now when a gateway
 * runs (in-flight.ts): actions on it are refused with "busy, try again" instead
 * of racing the gateway; without a running gateway it is claimed like any
 * other (a crash or a stop left it there). If the
 * gateway wins a race (moved the message first), the claim's rename fails with
 * ENOENT and we look again once.
 *
 * SECURITY: ids come from an administrator (CLI argument, console URL): they
 * are checked with isAuditId() before they become paths. Actors are recorded
 * in the audit trail with every action.
 * A delete ends the message the way the gateway ends a delivered one
 * (deliver/done-queue.ts): its `deleted` event is written to the done journal
 * (fsynced) and the record renamed into done/ — that rename is the delete —
 * and the record leaves the spool (into the originals store, once) only when
 * the audit store has the event. The CLI waits for that (bounded); a record
 * still in done/ when it stops (killed, or the store did not answer) is
 * settled by the gateway's next start, which records the event from the
 * journal (`recovered: true`) if the store lacks it. So a delete is never
 * lost from the trail, never undone by a crash, and never delivered again.
 *
 * Crash state: between claim and final rename a message may stay in held/
 * (visible, with its reason); never lost. A deleted message may wait in done/
 * with its journal line (see above).
 * Failure state: an action that fails after its claim (a write refused, the
 * done journal unwritable) puts the message back where it was, with nothing
 * recorded; if even that fails it stays in held/ and a "held" audit event says
 * why. A deleted message whose original cannot be kept when its event is
 * stored stays in done/ (the next start tries again; the original is never
 * given up for it): the delete itself stands.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { pino } from "pino";
import type { AuditSink } from "../audit/audit-types.ts";
import { createDoneQueue, removalFor, type DoneQueue, type FinalEvent } from "../deliver/done-queue.ts";
import type { Logger } from "../lib/logger.ts";
import { openDoneJournal } from "./done-journal.ts";
import { isAuditId } from "../lib/ids.ts";
import type { QueueAdmin, QueueEntry, QueueState } from "./queue-types.ts";
import { gatewayHoldsSpool } from "./in-flight.ts";
import { readRecordInfo } from "./record.ts";
import { freshMeta, openSpool, STATES, type DeliveryMeta, type Spool } from "./spool.ts";

export class QueueAdminError extends Error {
  override name = "QueueAdminError";
  /**
   * EIO: the action failed part-way and was undone (the message says where the message is);
   * EPENDING: a delete was made, but its event is not confirmed stored (the record waits in done/)
   */
  readonly code: "ENOTFOUND" | "EBUSY" | "ESTATE" | "EBADID" | "EIO" | "EPENDING";
  constructor(message: string, code: QueueAdminError["code"]) {
    super(message);
    this.code = code;
  }
}

/** what an administrator sees of a message, plus what the console's detail page shows */
export interface QueueEntryDetail extends QueueEntry {
  clientAddress?: string;
  delivered?: string[];
  failed?: { rcpt: string; reply: string; at: string }[];
  sanitized: boolean;
}

/**
 * `originals`: where a deleted message's record goes (the originals store keeps it for its
 * retention; see originals/index.ts); absent, a deleted message's record is removed.
 * `options.done`: the running gateway's done queue (the console inside it); absent (the CLI,
 * tests), each delete uses one of its own and waits for its event to be stored.
 */
export function openQueueAdmin(
  dataDir: string,
  audit: AuditSink,
  originals?: { retire(id: string, recordFile: string): Promise<boolean> },
  /** `logger`: where the gateway's done queue logs what goes wrong after a delete (with `done` only) */
  options: { done?: Pick<DoneQueue, "end" | "releaseWhenStored">; logger?: Logger } = {},
): QueueAdmin & { getDetail(id: string): Promise<QueueEntryDetail | undefined> } {
  let spoolPromise: Promise<Spool> | undefined;
  const spool = () => (spoolPromise ??= openSpool(dataDir));

  async function entryFor(s: Spool, id: string, state: QueueState): Promise<QueueEntryDetail | undefined> {
    const file = s.recordPath(state, id);
    const meta = await s.readMeta(id);
    try {
      const info = await readRecordInfo(file);
      const m: DeliveryMeta = meta ?? freshMeta(info.envelope);
      return {
        id,
        state,
        receivedAt: info.envelope.receivedAt,
        mailFrom: info.envelope.mailFrom,
        rcptTo: m.pending,
        size: info.messageLength,
        attempts: m.attempts,
        ...(m.nextAttemptAt ? { nextAttemptAt: m.nextAttemptAt } : {}),
        ...(m.lastError ? { lastError: m.lastError } : {}),
        ...(m.holdReason && state === "held" ? { holdReason: m.holdReason } : {}),
        clientAddress: info.envelope.clientAddress,
        delivered: m.delivered,
        failed: m.failed,
        sanitized: await s.hasOut(id),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      // unreadable framing: shown as it is, with why (typically in corrupt/)
      const size = await stat(file).then((st) => st.size, () => 0);
      return {
        id,
        state,
        receivedAt: idTime(id),
        mailFrom: "",
        rcptTo: [],
        size,
        attempts: meta?.attempts ?? 0,
        lastError: `unreadable spool file: ${(error as Error).message}`,
        ...(meta?.holdReason ? { holdReason: meta.holdReason } : {}),
        sanitized: false,
      };
    }
  }

  /** every action checks the id before it becomes a path: "../x" must not name a file outside the spool */
  function checkId(id: string): void {
    if (!isAuditId(id)) throw new QueueAdminError(`not a queue id: ${JSON.stringify(id.slice(0, 80))}`, "EBADID");
  }

  async function find(id: string): Promise<QueueEntryDetail | undefined> {
    checkId(id);
    const s = await spool();
    // two passes: the gateway may move the message between locate() and reading it
    for (let pass = 0; pass < 2; pass++) {
      const state = await s.locate(id);
      if (!state) return undefined;
      const entry = await entryFor(s, id, state);
      if (entry) return entry;
    }
    return undefined;
  }

  async function mustFind(id: string): Promise<QueueEntryDetail> {
    const entry = await find(id);
    if (!entry) throw new QueueAdminError(`no message ${id} in the queue`, "ENOTFOUND");
    return entry;
  }

  /** renames the message into held/ so that the gateway leaves it alone; returns the state it came from */
  async function claim(s: Spool, id: string): Promise<QueueState> {
    for (let pass = 0; pass < 3; pass++) {
      const state = await s.locate(id);
      if (!state) throw new QueueAdminError(`no message ${id} in the queue`, "ENOTFOUND");
      if (state === "held") return "held";
      if (state === "active" && (await gatewayHoldsSpool(s.root))) {
        throw new QueueAdminError(`message ${id} is being processed right now; try again in a moment`, "EBUSY");
      }
      // (active/ without a running gateway: left by a crash or a stop, nobody holds it; claimed like any other)
      if (state === "corrupt") throw new QueueAdminError(`message ${id} is in corrupt/: it can only be deleted`, "ESTATE");
      if (await s.move(id, state, "held")) return state;
    }
    throw new QueueAdminError(`message ${id} keeps moving; try again in a moment`, "EBUSY");
  }

  /**
   * An action failed after its claim: the message goes back to the state it was claimed from,
   * so a failure leaves the queue as it was. If even that fails it stays in held/ (where the
   * gateway leaves it alone), and that change is recorded.
   */
  async function undoClaim(s: Spool, id: string, from: QueueState, actor: string, what: string, cause: unknown): Promise<never> {
    const why = (cause as Error).message ?? String(cause);
    let where = from;
    if (from !== "held" && from !== "corrupt") {
      const back = await s.move(id, "held", from).catch(() => false);
      if (!back) {
        where = "held";
        audit.record({ type: "held", auditId: id, actor, data: { reason: `${what} failed part-way: ${why}`, from } });
      }
    }
    throw new QueueAdminError(`message ${id} was not ${what}: ${why}; it is ${where === "held" ? "held" : `back in ${where}`}`, "EIO");
  }

  async function metaOf(s: Spool, id: string, state: QueueState): Promise<DeliveryMeta> {
    const meta = await s.readMeta(id);
    if (meta) return meta;
    const info = await readRecordInfo(s.recordPath(state, id));
    return freshMeta(info.envelope);
  }

  /** held → incoming with every recipient not yet delivered pending again */
  async function requeue(s: Spool, id: string, actor: string, kind: "released" | "admin"): Promise<void> {
    const meta = await metaOf(s, id, "held");
    const retryRcpts = meta.failed.map((f) => f.rcpt).filter((r) => !meta.delivered.includes(r) && !meta.pending.includes(r));
    const next: DeliveryMeta = {
      ...meta,
      pending: [...meta.pending, ...retryRcpts],
      failed: [],
      dsnSentFor: [],
      released: true,
      queuedAt: new Date().toISOString(),
    };
    delete next.holdReason;
    delete next.nextAttemptAt;
    await s.writeMeta(id, next).catch((error: unknown) => {
      throw new QueueAdminError(`message ${id} was not released: ${(error as Error).message}; it is still held`, "EIO");
    });
    let moved: boolean;
    try {
      moved = await s.move(id, "held", "incoming");
    } catch (error) {
      // still held: its meta goes back to what it was (reason and all)
      await s.writeMeta(id, meta).catch(() => {});
      throw new QueueAdminError(`message ${id} was not released: ${(error as Error).message}; it is still held`, "EIO");
    }
    if (!moved) throw new QueueAdminError(`message ${id} moved while being released`, "EBUSY");
    audit.record({
      type: kind,
      auditId: id,
      actor,
      data: kind === "admin" ? { action: "retry", rcptTo: next.pending } : { rcptTo: next.pending, previousReason: meta.holdReason ?? "" },
    });
  }

  return {
    async list(filter) {
      const s = await spool();
      const states = filter?.state ? [filter.state] : STATES;
      const out: QueueEntry[] = [];
      for (const state of states) {
        for (const id of await s.list(state)) {
          const entry = await entryFor(s, id, state);
          if (entry) out.push(entry);
        }
      }
      return out;
    },
    get: find,
    getDetail: find,
    async retry(id, actor) {
      checkId(id);
      const s = await spool();
      await mustFind(id);
      const from = await claim(s, id);
      if (from === "held") return requeue(s, id, actor, "released");
      let moved: boolean;
      try {
        const meta = await metaOf(s, id, "held");
        delete meta.nextAttemptAt;
        await s.writeMeta(id, meta);
        moved = await s.move(id, "held", "incoming");
      } catch (error) {
        return undoClaim(s, id, from, actor, "retried", error);
      }
      if (!moved) throw new QueueAdminError(`message ${id} moved during retry`, "EBUSY");
      audit.record({ type: "admin", auditId: id, actor, data: { action: "retry", from } });
    },
    async hold(id, actor, reason) {
      checkId(id);
      const s = await spool();
      const from = await claim(s, id);
      if (from === "held") throw new QueueAdminError(`message ${id} is already held`, "ESTATE");
      const meta = await metaOf(s, id, "held").catch((error: unknown) => undoClaim(s, id, from, actor, "held", error));
      meta.holdReason = reason ? `held by ${actor}: ${reason}` : `held by ${actor}`;
      delete meta.nextAttemptAt;
      await s.writeMeta(id, meta).catch((error: unknown) => undoClaim(s, id, from, actor, "held", error));
      audit.record({ type: "held", auditId: id, actor, data: { reason: meta.holdReason, from } });
    },
    async release(id, actor) {
      checkId(id);
      const s = await spool();
      const state = await s.locate(id);
      if (!state) throw new QueueAdminError(`no message ${id} in the queue`, "ENOTFOUND");
      if (state !== "held") throw new QueueAdminError(`message ${id} is not held (it is ${state})`, "ESTATE");
      await requeue(s, id, actor, "released");
    },
    async delete(id, actor) {
      checkId(id);
      const s = await spool();
      const state = await s.locate(id);
      if (!state) throw new QueueAdminError(`no message ${id} in the queue`, "ENOTFOUND");
      const from = state === "corrupt" ? "corrupt" : await claim(s, id);
      const at = from === "corrupt" ? "corrupt" : "held";
      const finals: FinalEvent[] = [{ type: "deleted", actor, data: { from } }];
      let ending: ReturnType<typeof endingFor> | undefined;
      let ended: boolean;
      try {
        ending = endingFor(s);
        // its journal line first (fsynced), then the record into done/: from then on the message is deleted
        ended = await ending.done.end(id, at, finals);
      } catch (error) {
        await ending?.close();
        return undoClaim(s, id, from, actor, "deleted", error);
      }
      if (!ended) {
        await ending.close();
        throw new QueueAdminError(`message ${id} moved while being deleted`, "EBUSY");
      }
      audit.record({ type: "deleted", auditId: id, actor, data: { from } });
      // the record (into the originals store, or removed), its meta and output go once the store has the event
      ending.done.releaseWhenStored(id, removalFor(finals), ending.log);
      await ending.close();
      if (ending.own && (await stat(s.recordPath("done", id)).then(() => true, () => false))) {
        // the only error its leaving logs is the original that could not be kept (after the event was stored)
        const why = ending.why();
        throw new QueueAdminError(
          why
            ? `message ${id} was deleted and its event recorded, but its original could not be kept (${why}); ` +
                "it waits in the spool's done/ and the gateway tries again at its next start"
            : `message ${id} was deleted, but the audit store has not confirmed its event; ` +
                "it waits in the spool's done/ and the gateway records the event and lets it go at its next start",
          "EPENDING",
        );
      }
    },
  };

  /**
   * The done queue a delete parks its record in: the gateway's (the console inside it: the record
   * goes once the gateway's audit log has stored the event, with the gateway's finished messages),
   * or, in another process (the CLI), one of its own for this delete alone, whose close() waits
   * (bounded: STORED_WAIT_MS) for the store to have the event and the record to leave; what went
   * wrong in between is kept for the caller's one line (why()).
   */
  function endingFor(s: Spool): { done: Pick<DoneQueue, "end" | "releaseWhenStored">; own: boolean; log: Logger; close(): Promise<void>; why(): string } {
    if (options.done) {
      const log = options.logger ?? quietLogger(() => {});
      return { done: options.done, own: false, log, close: async () => {}, why: () => "" };
    }
    let why = "";
    const log = quietLogger((message) => (why = message));
    const journal = openDoneJournal<FinalEvent[]>(path.join(s.root, "done-journal"));
    const done = createDoneQueue({ spool: s, journal, audit, logger: log, ...(originals ? { originals } : {}) });
    return { done, own: true, log, close: () => done.close(), why: () => why };
  }
}

/** a logger that says nothing and hands the last error's message to `onError` (the CLI reports it in its one line) */
function quietLogger(onError: (message: string) => void): Logger {
  return pino(
    { level: "error" },
    {
      write(line: string) {
        try {
          const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
          onError([entry.msg, entry.err?.message].filter(Boolean).join(": "));
        } catch {
          // not ours to fail on
        }
      },
    },
  );
}

function idTime(id: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z` : "";
}

