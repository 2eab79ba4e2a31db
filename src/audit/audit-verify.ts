/**
 * `verify`: walks an audit store and names the first thing that does not add up.
 *
 * Pass 1, the chain, in seq order: numbers are contiguous, each event's
 * prevHash is the previous event's hash, and each stored hash is the hash of
 * the stored content. The first event is either the genesis (seq 1, prevHash
 * 0…0) or follows a retention purge, and then a checkpoint event later in the
 * chain must name exactly that anchor (the hash of the last purged event).
 *
 * Pass 2, the message summaries (the table search reads, and the one an
 * administrator would edit by hand): every summary must equal the fold of its
 * message's events; a summary without events, or a received message without a
 * summary, is reported too.
 *
 * The same pass checks completeness: every message that reached a final state
 * (delivered, bounced, held, deleted, expired) must have its `received` event —
 * else it was acknowledged but cannot be found by a search. Gaps are reported
 * by id. Messages whose beginning a retention purge removed are excused (their
 * id is older than the purge's cutoff).
 *
 * Pass 3, anchors (anchor.ts): the chain must reach each anchor given with
 * `--anchors` (and the gateway's own last anchor), carrying the anchored hash.
 * That is what notices a cut-off end, a chain whose hashes were all
 * recomputed, and an older copy of the database put back.
 *
 * Purges (purge-policy.ts): every checkpoint met in pass 1 is reported (through
 * which seq, before which time, by whom, when) and judged against the
 * configured retention, verify's clock and the anchors: a checkpoint anyone
 * with the database could have appended must not make removed history look
 * like retention. Only purges that pass excuse a message's missing beginning.
 *
 * The result also says what it proves: unchanged and uncut up to the highest
 * anchor reached; the events after it are covered by the chain alone.
 *
 * All passes page through the store (bounded memory on millions of events)
 * and tolerate a gateway appending meanwhile.
 */
import { checkAnchors } from "./anchor.ts";
import { DEFAULT_RETENTION_DAYS, indexAnchors, judgePurge, purgeRecordOf } from "./purge-policy.ts";
import { applyEvent, eventHash, GENESIS_HASH, summaryDifference, type StoredSummary } from "./audit-fns.ts";
import { PAGE_SIZE, type AuditStore } from "./audit-store.ts";
import type { Anchor, AuditEvent, AuditEventType, PurgeRecord, VerifyResult } from "./audit-types.ts";

/** Summaries compared a round trip: bounded memory, few queries. */
const SUMMARY_BATCH = 500;
/** ids of messages without `received` listed in a result (the count is exact) */
export const MAX_GAP_IDS = 100;
/** states a message reaches only after it was acknowledged and spooled */
const FINAL_TYPES: ReadonlySet<AuditEventType> = new Set(["delivered", "bounced", "held", "deleted", "expired"]);
/** purges listed in a result (a daily retention keeps about one a day on record; the count is exact) */
export const MAX_PURGES_LISTED = 1000;
/** warnings listed in a result */
const MAX_WARNINGS = 100;

export interface VerifyOptions {
  anchors?: readonly Anchor[];
  lastAnchor?: Anchor;
  /** audit.retentionDays (default: the schema's): a purge with a later cutoff than its time minus this fails, unless it records an override */
  retentionDays?: number;
  /** verify's clock: a checkpoint dated after it is forged */
  now?: Date;
}

export async function verifyStore(store: AuditStore, options: VerifyOptions = {}): Promise<VerifyResult> {
  const external = indexAnchors([...(options.anchors ?? []), ...(options.lastAnchor ? [options.lastAnchor] : [])]);
  const purges = purgeJudge({ anchors: external, now: options.now ?? new Date(), retentionDays: options.retentionDays ?? DEFAULT_RETENTION_DAYS });
  const chain = await verifyChain(store, purges.onCheckpoint);
  if (!chain.ok) return chain;
  const { firstSeq, ...result } = chain;
  if (purges.count > 0) result.purges = { count: purges.count, listed: purges.listed };
  if (purges.warnings.length) result.warnings = purges.warnings;
  const span = { ...(firstSeq !== undefined ? { firstSeq } : {}), ...(chain.headSeq !== undefined ? { headSeq: chain.headSeq } : {}) };
  let firstBad: VerifyResult["firstBad"];
  if (options.anchors) {
    const check = await checkAnchors(store, options.anchors, span);
    result.anchors = { checked: check.checked, purged: check.purged, ...(check.latest ? { latest: check.latest } : {}) };
    if (check.failure) firstBad = { seq: check.failure.anchor.seq, reason: check.failure.reason, kind: check.failure.kind };
  }
  if (options.lastAnchor) {
    const check = await checkAnchors(store, [options.lastAnchor], span);
    result.lastAnchor = { ...options.lastAnchor, reached: !check.failure };
    if (check.failure) firstBad ??= { seq: check.failure.anchor.seq, reason: `the gateway's last anchor: ${check.failure.reason}`, kind: check.failure.kind };
  }
  firstBad ??= purges.problem;
  const reached = [result.anchors?.latest, result.lastAnchor?.reached ? result.lastAnchor : undefined].filter((a) => a !== undefined);
  const anchoredThrough = reached.reduce<Anchor | undefined>((best, a) => (!best || a.seq > best.seq ? a : best), undefined);
  const unanchored = anchoredThrough ? Math.max(0, (chain.headSeq ?? 0) - anchoredThrough.seq) : chain.checked;
  result.coverage = { ...(anchoredThrough ? { anchoredThrough: { seq: anchoredThrough.seq, hash: anchoredThrough.hash, ...(anchoredThrough.ts ? { ts: anchoredThrough.ts } : {}) } } : {}), unanchored };
  const summaries = await verifySummaries(store, purges.cutoff());
  if (summaries.gaps.count > 0) result.missingReceived = summaries.gaps;
  firstBad ??= summaries.bad;
  if (!firstBad && summaries.gaps.count > 0) {
    const ids = summaries.gaps.auditIds;
    firstBad = {
      seq: 0,
      auditId: ids[0]!,
      reason:
        `${summaries.gaps.count} message(s) reached a final state without a received event (acknowledged but not searchable): ${ids.slice(0, 10).join(", ")}${summaries.gaps.count > 10 ? ", …" : ""}` +
        (purges.count > 0 ? ` — not explained by a retention purge: they arrived after the latest valid cutoff${purges.cutoff() !== undefined ? ` (${new Date(purges.cutoff()!).toISOString()})` : ""}` : ""),
    };
  }
  return firstBad ? { ...result, ok: false, firstBad } : result;
}

/**
 * Collects and judges the checkpoints the chain walk meets (bounded memory whatever their number).
 * cutoff(): the latest cutoff of a purge that passed — messages whose id is older may have lost
 * their `received` to retention; a purge that failed excuses nothing.
 */
function purgeJudge(policy: Parameters<typeof judgePurge>[2]) {
  const out = {
    count: 0,
    listed: [] as PurgeRecord[],
    warnings: [] as string[],
    problem: undefined as VerifyResult["firstBad"],
    latestCutoff: undefined as number | undefined,
    onCheckpoint(c: AuditEvent): void {
      const p = purgeRecordOf(c);
      const { problem, warning } = judgePurge(p, c, policy);
      out.count += 1;
      if (out.listed.length >= MAX_PURGES_LISTED) out.listed.shift();
      out.listed.push({ ...p, ...(problem ? { problem } : {}), ...(warning ? { warning } : {}) });
      if (problem) out.problem ??= { seq: c.seq, reason: problem };
      if (warning && out.warnings.length < MAX_WARNINGS) out.warnings.push(warning);
      const before = Date.parse(p.before ?? "");
      if (!problem && Number.isFinite(before) && (out.latestCutoff === undefined || before > out.latestCutoff)) out.latestCutoff = before;
    },
    cutoff: (): number | undefined => out.latestCutoff,
  };
  return out;
}

/** The time an audit id was made (20261126T095312Z-…), ms, or NaN. */
function idTime(auditId: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(auditId);
  if (!m) return Number.NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

async function verifyChain(store: AuditStore, onCheckpoint: (c: AuditEvent) => void): Promise<VerifyResult & { firstSeq?: number }> {
  const checkpoints = await store.checkpoints();
  let prev: AuditEvent | undefined;
  let firstSeq: number | undefined;
  let checked = 0;
  let after = 0;
  for (;;) {
    const page = await store.eventsAfter(after, PAGE_SIZE);
    if (page.length === 0) break;
    for (const e of page) {
      const bad = (reason: string): VerifyResult => ({ ok: false, checked, firstBad: { seq: e.seq, reason } });
      if (!prev) {
        if (e.seq === 1) {
          if (e.prevHash !== GENESIS_HASH) return bad("the first event does not start the chain (its previous hash is not the genesis value)");
        } else {
          const anchor = checkpoints.find((c) => c.data.purgedThroughSeq === e.seq - 1);
          if (!anchor) return bad(`events before seq ${e.seq} are missing and no checkpoint accounts for their removal`);
          if (anchor.data.anchorHash !== e.prevHash) {
            return bad(`the first event does not follow the purged events named by checkpoint seq ${anchor.seq} (an event was removed or replaced)`);
          }
        }
      } else {
        if (e.seq !== prev.seq + 1) {
          return { ok: false, checked, firstBad: { seq: prev.seq + 1, reason: `event missing: the chain jumps from seq ${prev.seq} to ${e.seq}` } };
        }
        if (e.prevHash !== prev.hash) {
          return bad(`does not follow seq ${prev.seq}: the previous event was changed, replaced, inserted or reordered`);
        }
      }
      const { hash, ...content } = e;
      if (eventHash(content) !== hash) return bad(`its content does not match its hash: the event was edited (type ${e.type}${e.auditId ? `, message ${e.auditId}` : ""})`);
      if (e.type === "checkpoint") onCheckpoint(e);
      firstSeq ??= e.seq;
      prev = e;
      checked += 1;
    }
    after = page[page.length - 1]!.seq;
  }
  return { ok: true, checked, ...(firstSeq !== undefined ? { firstSeq } : {}), ...(prev ? { headSeq: prev.seq, headHash: prev.hash } : {}) };
}

async function verifySummaries(
  store: AuditStore,
  purgedBefore: number | undefined,
): Promise<{ bad?: VerifyResult["firstBad"]; gaps: { count: number; auditIds: string[] } }> {
  const gaps = { count: 0, auditIds: [] as string[] };
  const found = await walkSummaries(store, (auditId) => {
    // its received may be in the purged part of the chain
    if (purgedBefore !== undefined && !(idTime(auditId) >= purgedBefore)) return;
    gaps.count += 1;
    if (gaps.auditIds.length < MAX_GAP_IDS) gaps.auditIds.push(auditId);
  });
  return { ...(found ? { bad: found } : {}), gaps };
}

async function walkSummaries(store: AuditStore, onGap: (auditId: string) => void): Promise<VerifyResult["firstBad"] | undefined> {
  let after = { auditId: "", seq: -1 };
  let currentId: string | undefined;
  let current: StoredSummary | undefined;
  let currentLastSeq = 0;
  let hasReceived = false;
  let isFinal = false;
  let pendingGroups: { auditId: string; expected: StoredSummary | undefined; lastSeq: number }[] = [];
  let matched = 0;

  const check = async (): Promise<VerifyResult["firstBad"] | undefined> => {
    const groups = pendingGroups;
    pendingGroups = [];
    const stored = new Map((await store.summaries(groups.map((g) => g.auditId))).map((s) => [s.auditId, s]));
    for (const g of groups) {
      const s = stored.get(g.auditId);
      if (s) matched += 1;
      // a gateway appended to this message after we read its events: judged next time
      if (s && s.lastSeq > g.lastSeq) continue;
      if (!g.expected && s) return { seq: s.lastSeq, auditId: g.auditId, reason: `message ${g.auditId}: a summary exists but its events never created one` };
      if (g.expected && !s) {
        if (g.expected.status === "rejected" && g.expected.firstSeq === g.expected.lastSeq) continue;
        return { seq: g.expected.firstSeq, auditId: g.auditId, reason: `message ${g.auditId}: its summary is missing (search would not find it)` };
      }
      if (g.expected && s) {
        const diff = summaryDifference(s, g.expected);
        if (diff) return { seq: s.lastSeq, auditId: g.auditId, reason: `message ${g.auditId}: the stored summary was edited: ${diff}` };
      }
    }
    return undefined;
  };

  const closeGroup = async (): Promise<VerifyResult["firstBad"] | undefined> => {
    if (currentId === undefined) return undefined;
    if (isFinal && !hasReceived) onGap(currentId);
    pendingGroups.push({ auditId: currentId, expected: current, lastSeq: currentLastSeq });
    currentId = undefined;
    current = undefined;
    hasReceived = false;
    isFinal = false;
    return pendingGroups.length >= SUMMARY_BATCH ? check() : undefined;
  };

  for (;;) {
    const page = await store.messageEventsAfter(after, PAGE_SIZE);
    if (page.length === 0) break;
    for (const e of page) {
      if (e.auditId !== currentId) {
        const bad = await closeGroup();
        if (bad) return bad;
        currentId = e.auditId;
      }
      current = applyEvent(current, e);
      currentLastSeq = e.seq;
      if (e.type === "received") hasReceived = true;
      else if (FINAL_TYPES.has(e.type)) isFinal = true;
    }
    const last = page[page.length - 1]!;
    after = { auditId: last.auditId!, seq: last.seq };
  }
  const bad = (await closeGroup()) ?? (await check());
  if (bad) return bad;
  const total = await store.countSummaries();
  if (total > matched) {
    const orphan = await store.orphanSummary();
    if (orphan) return { seq: 0, auditId: orphan, reason: `message ${orphan}: a summary exists without any event (inserted by hand)` };
  }
  return undefined;
}
