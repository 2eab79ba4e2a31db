/**
 * The retention policy of the audit trail, as a purge must obey it and as verify judges a purge
 * after the fact. Pure: the clock, the policy and the evidence are given.
 *
 * A purge removes a prefix of the chain behind a `checkpoint` event (audit-log.ts). Whoever can
 * write to the database can also delete events and append a checkpoint of their own, with a
 * recomputed hash: the chain alone then looks whole. What such a checkpoint cannot hide:
 *   - its own claim: `before` (the cutoff) later than its time − audit.retentionDays means it
 *     removed history the policy keeps — unless it records an override (`mumuka audit purge
 *     --force --reason`), which is then reported loudly instead;
 *   - a cutoff in the future, or a checkpoint dated after verify's own clock;
 *   - an external anchor (anchor.ts) inside the purged range that was written after the cutoff:
 *     the event after it was stored after the cutoff, so the purge removed younger history;
 *     an external anchor AT the last purged seq must carry the checkpoint's anchorHash;
 *   - a message whose beginning is gone but whose audit id says it arrived after the cutoff
 *     (verify's completeness pass: such a gap is not excused by the purge).
 * Without an external anchor in or after the purged range, verify cannot prove that a purge
 * removed only what was older than its cutoff; it says so.
 *
 * SECURITY: a checkpoint's data is read from the store, i.e. possibly forged: every field is
 * checked for type before use, and an override it claims is reported, never trusted silently.
 */
import type { AuditEvent, Anchor, PurgeRecord } from "./audit-types.ts";

export const DAY_MS = 24 * 3600 * 1000;
/**
 * Clocks of several gateways sharing one chain (and an anchor taken while a batch was on its
 * way) disagree by seconds; ten minutes keeps honest skew from failing verify while any purge of
 * real history (hours or days) stays visible.
 */
export const CLOCK_SKEW_MS = 10 * 60_000;
/** audit.retentionDays when a writer is built without it (the schema's default, config/schema.ts): the policy is never off */
export const DEFAULT_RETENTION_DAYS = 365;
/** the reason of an override is recorded and shown: bounded */
export const MAX_REASON_CHARS = 500;

/** The latest cutoff a purge may use now without an override: now − retentionDays. */
export function purgeLimit(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

export type PurgeRefusal = "future" | "inside-retention" | "no-reason";

/** Thrown by a purge the policy does not allow; `code` says which rule. */
export class PurgeRefusedError extends Error {
  override name = "PurgeRefusedError";
  readonly code: PurgeRefusal;
  constructor(code: PurgeRefusal, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Whether a purge before `before` may run now. A cutoff after now is never allowed (it would
 * remove what is being written, the purge's own record included); one inside the retention
 * period only with an override that gives a reason.
 */
export function checkPurgeRequest(before: Date, now: Date, retentionDays: number, override?: { reason: string }): void {
  if (!Number.isFinite(before.getTime())) throw new PurgeRefusedError("future", "the purge cutoff is not a valid time");
  if (before.getTime() > now.getTime()) {
    throw new PurgeRefusedError("future", `the cutoff ${before.toISOString()} is in the future: a purge never removes what is being written now`);
  }
  const limit = purgeLimit(now, retentionDays);
  if (before.getTime() <= limit.getTime()) return;
  if (!override) {
    throw new PurgeRefusedError(
      "inside-retention",
      `the cutoff ${before.toISOString()} is later than now − audit.retentionDays (${retentionDays} days: ${limit.toISOString()}); events inside the retention period are kept`,
    );
  }
  if (override.reason.trim() === "") throw new PurgeRefusedError("no-reason", "an override of the retention period needs a reason (it is recorded)");
}

/** The reason of an override as recorded: one line, bounded. */
export function reasonOf(text: string): string {
  return text.replace(/[\r\n\t]+/g, " ").trim().slice(0, MAX_REASON_CHARS);
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) ? v : undefined);

/** A checkpoint event as verify reports it (fields of the wrong type are left out). */
export function purgeRecordOf(c: AuditEvent): PurgeRecord {
  const d = c.data;
  const override = d.override && typeof d.override === "object" ? str((d.override as Record<string, unknown>).reason) : undefined;
  const before = str(d.before);
  const removed = num(d.removed);
  const retentionDays = num(d.retentionDays);
  return {
    seq: c.seq,
    at: c.ts,
    ...(c.actor !== undefined ? { actor: c.actor } : {}),
    throughSeq: num(d.purgedThroughSeq) ?? 0,
    ...(before !== undefined ? { before } : {}),
    ...(removed !== undefined ? { removed } : {}),
    ...(retentionDays !== undefined ? { retentionDays } : {}),
    ...(override !== undefined ? { override: { reason: override } } : {}),
  };
}

/**
 * External anchors prepared for judging many checkpoints: sorted by seq, with the latest anchoring
 * time among each prefix, so each checkpoint is judged in O(log n) (a year of hourly anchors
 * against a year of daily purges would otherwise be millions of comparisons).
 */
export interface AnchorIndex {
  sorted: readonly Anchor[];
  /** prefixMax[i]: the latest anchoring time (ms) among sorted[0..i]; NaN times count as never */
  prefixMax: readonly number[];
}

export function indexAnchors(anchors: readonly Anchor[]): AnchorIndex {
  const sorted = [...anchors].sort((a, b) => a.seq - b.seq);
  const prefixMax: number[] = [];
  let max = -Infinity;
  for (const a of sorted) {
    const t = a.ts !== undefined ? Date.parse(a.ts) : Number.NaN;
    if (t > max) max = t;
    prefixMax.push(max);
  }
  return { sorted, prefixMax };
}

/** The first index in [0, end) whose value satisfies `ok`, for an `ok` that once true stays true; `end` if none. */
function firstIndex(end: number, ok: (i: number) => boolean): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ok(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * What is wrong with one checkpoint, judged by the configured policy, verify's clock and the
 * external anchors: `problem` fails verify; `warning` (an override it records) is reported loudly.
 */
export function judgePurge(
  p: PurgeRecord,
  c: AuditEvent,
  policy: { retentionDays: number; now: Date; anchors: AnchorIndex },
): { problem?: string; warning?: string } {
  const at = Date.parse(p.at);
  const before = p.before !== undefined ? Date.parse(p.before) : Number.NaN;
  const who = `checkpoint seq ${p.seq} (${p.at}, ${p.actor ?? "no actor"})`;
  if (!Number.isFinite(before)) return { problem: `${who} names no valid cutoff ("before"): what it removed cannot be judged` };
  if (!(p.throughSeq >= 1 && p.throughSeq < p.seq)) return { problem: `${who} names purged seq ${p.throughSeq}, which is not before the checkpoint itself` };
  if (!Number.isFinite(at) || at > policy.now.getTime() + CLOCK_SKEW_MS) {
    return { problem: `${who} is dated after this verification (${policy.now.toISOString()}): its time was forged to make a late cutoff look old` };
  }
  if (before > at) return { problem: `${who} purged up to ${p.before}, after its own time: it removed events written after the purge began` };
  const throughTs = Date.parse(String(c.data.purgedThroughTs ?? ""));
  if (Number.isFinite(throughTs) && throughTs >= before) {
    return { problem: `${who}: the last purged event (seq ${p.throughSeq}, ${String(c.data.purgedThroughTs)}) is not older than the cutoff ${p.before}` };
  }
  const { sorted, prefixMax } = policy.anchors;
  // anchors below the last purged seq: each was the head when written, so the event after it came later
  const inside = firstIndex(sorted.length, (i) => sorted[i]!.seq >= p.throughSeq);
  const late = firstIndex(inside, (i) => prefixMax[i]! > before + CLOCK_SKEW_MS);
  if (late < inside) {
    const a = sorted[late]!;
    return {
      problem: `${who} purged through seq ${p.throughSeq} before ${p.before}, but the external anchor at seq ${a.seq} was written at ${a.ts}, after that cutoff: events ${a.seq + 1}–${p.throughSeq} were younger than the cutoff and were removed`,
    };
  }
  for (let i = inside; i < sorted.length && sorted[i]!.seq === p.throughSeq; i++) {
    const a = sorted[i]!;
    if (typeof c.data.anchorHash === "string" && a.hash !== c.data.anchorHash) {
      return { problem: `${who} names a hash for seq ${a.seq} other than the external anchor${a.ts ? ` (${a.ts})` : ""}: the purged events were not the anchored ones` };
    }
  }
  if (before > at - policy.retentionDays * DAY_MS) {
    const days = ((at - before) / DAY_MS).toFixed(1);
    const what = `${who} purged up to ${p.before}, only ${days} day(s) before its own time, inside audit.retentionDays (${policy.retentionDays})${p.retentionDays !== undefined && p.retentionDays !== policy.retentionDays ? `; it claims a policy of ${p.retentionDays} days` : ""}`;
    if (p.override) return { warning: `${what}: by override, reason: ${p.override.reason}` };
    return { problem: `${what}, with no override recorded: history the policy keeps was removed` };
  }
  return {};
}
