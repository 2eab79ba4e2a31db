/**
 * Waiting for the audit trail to have what was just recorded, bounded: the
 * step that follows (a spool record leaving the queue, an original leaving
 * the console) should not happen before its event is stored, but an audit
 * store that is down must delay mail or a download, never stop it (the event
 * then waits in memory or in the spill, as every event does).
 */
import type { AuditSink } from "./audit-types.ts";

/** the longest a step waits for its events (about 25 batch intervals at the default flushMs) */
export const STORED_WAIT_MS = 5_000;

export async function storedWithin(audit: Partial<Pick<AuditSink, "flush">>, ms = STORED_WAIT_MS): Promise<void> {
  if (!audit.flush) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([audit.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
