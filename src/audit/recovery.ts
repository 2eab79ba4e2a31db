/**
 * Start-up recovery of `received` events from the spool: every message whose
 * record is in the spool got its 250 after the record was fsynced, so the
 * record proves its arrival even when the process died before its `received`
 * event reached the audit store (or the journal: a message acknowledged by the
 * receiver thread that the main thread never heard of).
 *
 * For each record found (any queue state), a `received` event is rebuilt from
 * it — arrival time, envelope, size and SHA-256 of the original, and the
 * From/Subject/Message-ID read from its header block — flagged
 * `recovered: true`, and recorded before the queue manager starts, so it
 * precedes every later event of that message. The store drops it when the
 * message already has its `received` (dropKnownReceived), so nothing needs
 * asking first and a store that is down at start does not stop the gateway.
 *
 * SECURITY: record files hold sender bytes; only the spool's framing (by
 * lengths) and at most HEADER_BYTES of the header block are read, through the
 * receiver's bounded header peek. Ids come from the spool's own listing
 * (isAuditId-checked).
 * Crash state: reads only; a crash here leaves nothing to undo.
 */
import { open } from "node:fs/promises";
import type { Logger } from "../lib/logger.ts";
import { CorruptRecordError, readRecordInfo, type RecordInfo } from "../spool/record.ts";
import type { SpoolState } from "../spool/spool.ts";
import type { AuditSink } from "./audit-types.ts";

/** the header block is looked for in this many bytes at most (the receiver's peek keeps 64 KiB) */
const HEADER_BYTES = 64 * 1024;

export interface HeaderPeekLike {
  push(chunk: Buffer): void;
  result(): { from: string; subject: string; messageId: string };
}

export interface ReceivedRecoveryDeps {
  spool: { list(state: SpoolState): Promise<string[]>; recordPath(state: SpoolState, id: string): string };
  audit: Pick<AuditSink, "record">;
  /** which of these messages the store already has a story for; when it cannot say (down), all are recorded */
  known?: (auditIds: string[]) => Promise<Set<string>>;
  logger: Logger;
  /** the receiver's header peek (receive/header-peek.ts), given by the composition root */
  headerPeek?: () => HeaderPeekLike;
}

/**
 * every state a record can be found in at start (active/: the process died while working on it;
 * done/: finished, its final events maybe not stored, which deliver/final-recovery.ts rebuilds after this)
 */
const STATES: readonly SpoolState[] = ["incoming", "active", "deferred", "held", "done"];

/** The `received` event data a spool record proves. */
export function receivedFromRecord(info: RecordInfo, headers?: { from: string; subject: string; messageId: string }): Record<string, unknown> {
  const env = info.envelope;
  return {
    clientAddress: env.clientAddress,
    clientHelo: env.clientHelo,
    protocol: env.protocol,
    mailFrom: env.mailFrom,
    rcptTo: env.rcptTo,
    ...(headers ? { headerFrom: headers.from, subject: headers.subject, messageId: headers.messageId } : {}),
    size: info.messageLength,
    sha256: info.sha256,
    receivedAt: env.receivedAt,
    recovered: true,
  };
}

async function peekHeaders(file: string, info: RecordInfo, make: () => HeaderPeekLike): Promise<{ from: string; subject: string; messageId: string }> {
  const handle = await open(file, "r");
  try {
    const buf = Buffer.alloc(Math.min(HEADER_BYTES, info.messageLength));
    const { bytesRead } = await handle.read(buf, 0, buf.length, info.messageOffset);
    const peek = make();
    peek.push(buf.subarray(0, bytesRead));
    return peek.result();
  } finally {
    await handle.close();
  }
}

/** Records a rebuilt `received` for every spooled message the store lacks; resolves to how many. */
export async function recoverReceived(deps: ReceivedRecoveryDeps): Promise<number> {
  let found = 0;
  for (const state of STATES) {
    let ids: string[];
    try {
      ids = await deps.spool.list(state);
    } catch (error) {
      deps.logger.error({ err: error, state }, "audit recovery: cannot list the spool");
      continue;
    }
    let known = new Set<string>();
    try {
      if (deps.known && ids.length) known = await deps.known(ids);
    } catch {
      // the store is down: record them all, it drops the ones it has once it is back
    }
    for (const id of ids) {
      if (known.has(id)) continue;
      const file = deps.spool.recordPath(state, id);
      try {
        const info = await readRecordInfo(file);
        if (info.envelope.id !== id) continue; // not the record it claims to be: the queue manager moves it to corrupt/
        const headers = deps.headerPeek ? await peekHeaders(file, info, deps.headerPeek).catch(() => undefined) : undefined;
        deps.audit.record({ type: "received", auditId: id, actor: "gateway", data: receivedFromRecord(info, headers) });
        found += 1;
      } catch (error) {
        // gone meanwhile, or corrupt: the queue manager deals with it (and records it)
        if (!(error instanceof CorruptRecordError) && (error as NodeJS.ErrnoException).code !== "ENOENT") {
          deps.logger.error({ err: error, queueId: id }, "audit recovery: cannot read a spool record");
        }
      }
    }
  }
  if (found) deps.logger.warn({ messages: found }, "audit recovery: received events rebuilt from spool records (lost in an unclean stop)");
  return found;
}
