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
 * Both passes page through the store (bounded memory on millions of events)
 * and tolerate a gateway appending meanwhile.
 */
import { applyEvent, eventHash, GENESIS_HASH, summaryDifference, type StoredSummary } from "./audit-fns.ts";
import { PAGE_SIZE, type AuditStore } from "./audit-store.ts";
import type { AuditEvent, VerifyResult } from "./audit-types.ts";

/** Summaries compared a round trip: bounded memory, few queries. */
const SUMMARY_BATCH = 500;

export async function verifyStore(store: AuditStore): Promise<VerifyResult> {
  const chain = await verifyChain(store);
  if (!chain.ok) return chain;
  const summaries = await verifySummaries(store);
  if (summaries) return { ...chain, ok: false, firstBad: summaries };
  return chain;
}

async function verifyChain(store: AuditStore): Promise<VerifyResult & { headSeq?: number; headHash?: string }> {
  const checkpoints = await store.checkpoints();
  let prev: AuditEvent | undefined;
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
      prev = e;
      checked += 1;
    }
    after = page[page.length - 1]!.seq;
  }
  return { ok: true, checked, ...(prev ? { headSeq: prev.seq, headHash: prev.hash } : {}) };
}

async function verifySummaries(store: AuditStore): Promise<VerifyResult["firstBad"] | undefined> {
  let after = { auditId: "", seq: -1 };
  let currentId: string | undefined;
  let current: StoredSummary | undefined;
  let currentLastSeq = 0;
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
    pendingGroups.push({ auditId: currentId, expected: current, lastSeq: currentLastSeq });
    currentId = undefined;
    current = undefined;
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
