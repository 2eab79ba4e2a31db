/**
 * The pure core of the audit trail: canonical serialisation, the hash chain,
 * and how each event moves a message's summary (status, sender, subject …).
 *
 * Both stores (SQLite, PostgreSQL), the writer and `verify` use these same
 * functions, so what is written and what is checked can never drift apart.
 *
 * SECURITY: event data carries sender-controlled strings (subject, names,
 * addresses). They are only ever serialised as JSON values here, never
 * interpreted; no I/O, no clock.
 */
import { createHash } from "node:crypto";
import { jstDay } from "../lib/japan-time.ts";
import type { AuditEvent, AuditEventInput, AuditEventType, MessageStatus, MessageSummary } from "./audit-types.ts";

/** prevHash of the very first event of a chain that was never purged */
export const GENESIS_HASH = "0".repeat(64);

/** An event recorded but not yet stored: it has its time, not yet its place in the chain. */
export interface PendingEvent extends AuditEventInput {
  ts: string;
  gateway: string;
  /**
   * the text staff received (a `sanitized` event): stored beside the chain, in its own table with a
   * retention of its own; the hashed data carries only its SHA-256 (data.textSha256)
   */
  text?: string;
}

/**
 * One `received` event per message: a `received` for a message the store already knows (it has a
 * summary, or an earlier `received` in the same batch) is dropped at append. That is what lets
 * recovery re-record `received` events after a crash (from the journal or the spool record)
 * without asking first which ones were lost.
 */
export function dropKnownReceived<T extends PendingEvent>(pending: readonly T[], known: (auditId: string) => boolean): T[] {
  const seen = new Set<string>();
  let out: T[] | undefined;
  for (let i = 0; i < pending.length; i++) {
    const p = pending[i]!;
    const drop = p.type === "received" && p.auditId !== undefined && (seen.has(p.auditId) || known(p.auditId));
    if (p.type === "received" && p.auditId !== undefined) seen.add(p.auditId);
    if (drop && !out) out = pending.slice(0, i);
    else if (!drop && out) out.push(p);
  }
  return out ?? [...pending];
}

/**
 * JSON with object keys sorted at every level and no whitespace: the same
 * content always gives the same bytes, whatever order a writer built it in
 * and whatever a database (jsonb, …) did to key order.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return "null";
    if (value === undefined) return "null";
    return JSON.stringify(value);
  }
  // written as loops into one string: this runs over every event the gateway records
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const v = object[key];
    if (v === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

/** The hash of an event: SHA-256 over the canonical JSON of its content and the previous hash. */
export function eventHash(event: Omit<AuditEvent, "hash">): string {
  const content = {
    seq: event.seq,
    ts: event.ts,
    gateway: event.gateway,
    type: event.type,
    auditId: event.auditId ?? null,
    actor: event.actor ?? null,
    data: event.data,
    prevHash: event.prevHash,
  };
  return createHash("sha256").update(canonicalJson(content), "utf8").digest("hex");
}

/** Places pending events after `head` in the chain: assigns seq, prevHash and hash. */
export function chainEvents(head: { seq: number; hash: string }, pending: readonly PendingEvent[]): AuditEvent[] {
  let { seq, hash } = head;
  const out: AuditEvent[] = [];
  for (const p of pending) {
    seq += 1;
    const unhashed: Omit<AuditEvent, "hash"> = {
      seq,
      ts: p.ts,
      gateway: p.gateway,
      type: p.type,
      ...(p.auditId !== undefined ? { auditId: p.auditId } : {}),
      ...(p.actor !== undefined ? { actor: p.actor } : {}),
      data: p.data,
      prevHash: hash,
    };
    hash = eventHash(unhashed);
    out.push({ ...unhashed, hash });
  }
  return out;
}

/**
 * Makes event data plain JSON (drops undefined, turns Dates into strings) so
 * that the stored form and the hashed form are the same. Never throws: data
 * that cannot be serialised (cycles, BigInt) is replaced by a note saying so,
 * because record() must not fail the relay.
 */
export function plainData(data: unknown): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(JSON.stringify(data ?? {}));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    return { value: parsed };
  } catch (error) {
    return { unserialisable: String((error as Error).message ?? error) };
  }
}

/** A message summary as stored: the public fields plus where in the chain it began and last changed. */
export interface StoredSummary extends MessageSummary {
  /** seq of the event that created it (its `received` event) */
  firstSeq: number;
  /** seq of the last event that changed it */
  lastSeq: number;
  /** receivedAt as a Japan-time day, YYYY-MM-DD, for daily counts */
  dayJst: string;
}

/**
 * How each event type moves a message's status. Types absent here
 * (delivery-attempt, dsn-sent, admin, original-retrieved, …) leave it as is.
 * The latest event wins: the summary is the state of the end of the story.
 */
export const STATUS_AFTER: Partial<Record<AuditEventType, MessageStatus>> = {
  received: "received",
  sanitized: "queued",
  released: "queued",
  delivered: "delivered",
  deferred: "deferred",
  bounced: "bounced",
  held: "held",
  rejected: "rejected",
  expired: "expired",
  deleted: "deleted",
};

export const MESSAGE_STATUSES: readonly MessageStatus[] = [
  "received",
  "queued",
  "delivered",
  "deferred",
  "bounced",
  "held",
  "rejected",
  "expired",
  "deleted",
];

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const strList = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : [];

/** headerFrom may be given as a string or as the sanitizer's Address[]. */
function fromText(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    return v
      .map((a) => {
        if (typeof a === "string") return a;
        const o = a as { name?: unknown; address?: unknown };
        const name = str(o?.name);
        const address = str(o?.address);
        return name && address ? `${name} <${address}>` : name || address;
      })
      .filter(Boolean)
      .join(", ");
  }
  return "";
}

/** A Japan-time calendar day (YYYY-MM-DD) of an ISO instant. */
export function dayInJapan(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "";
  return jstDay(new Date(t));
}

/**
 * The summary after one more event. Only a `received` event (or a `rejected`
 * one carrying a sender, for messages refused before they had a story) creates
 * a summary; other events of an unknown message leave none, which is what
 * keeps summaries consistent after a retention purge removed the beginning of
 * a story.
 */
export function applyEvent(current: StoredSummary | undefined, event: AuditEvent): StoredSummary | undefined {
  if (!event.auditId) return current;
  const d = event.data;
  let next = current;
  if (!next) {
    const creates = event.type === "received" || (event.type === "rejected" && typeof d.mailFrom === "string");
    if (!creates) return undefined;
    // a `received` rebuilt after a crash is recorded later than the message arrived: it names the arrival
    const arrived = event.type === "received" && typeof d.receivedAt === "string" && Number.isFinite(Date.parse(d.receivedAt)) ? d.receivedAt : event.ts;
    next = {
      auditId: event.auditId,
      receivedAt: arrived,
      dayJst: dayInJapan(arrived),
      mailFrom: str(d.mailFrom),
      // the *Decoded fields are added by the writer when the relay gave raw RFC 2047 text
      headerFrom: fromText(d.headerFromDecoded ?? d.headerFrom),
      rcptTo: strList(d.rcptTo),
      subject: str(d.subjectDecoded ?? d.subject),
      status: "received",
      size: num(d.size),
      attachmentsRemoved: 0,
      firstSeq: event.seq,
      lastSeq: event.seq,
    };
  } else {
    next = { ...next, rcptTo: [...next.rcptTo] };
  }
  if (event.type === "sanitized") {
    // the relay records the whole SanitizeReport (data.report) or, for a message a rule stopped,
    // its MessageFacts (data.facts); both list the removed parts as `attachments`
    const nested = (key: string): unknown => {
      const o = d[key];
      return o && typeof o === "object" ? (o as Record<string, unknown>).attachments : undefined;
    };
    const attachments = d.attachments ?? nested("report") ?? nested("facts");
    if (Array.isArray(attachments)) next.attachmentsRemoved = attachments.length;
    else if (typeof d.attachmentsRemoved === "number") next.attachmentsRemoved = num(d.attachmentsRemoved);
    // the sanitizer's decoded headers are the authoritative subject and From of the message
    const report = d.report && typeof d.report === "object" ? (d.report as Record<string, unknown>) : undefined;
    const headers = (report?.headers ?? d.facts) as { subject?: unknown; from?: unknown } | undefined;
    if (headers && typeof headers === "object") {
      if (typeof headers.subject === "string") next.subject = headers.subject;
      const from = fromText(headers.from);
      if (from) next.headerFrom = from;
    }
  }
  const status = STATUS_AFTER[event.type];
  if (status) next.status = status;
  next.lastSeq = event.seq;
  return next;
}

/** Names the first field in which two summaries differ, or undefined when they agree. */
export function summaryDifference(stored: StoredSummary, expected: StoredSummary): string | undefined {
  const fields: (keyof StoredSummary)[] = [
    "receivedAt",
    "mailFrom",
    "headerFrom",
    "rcptTo",
    "subject",
    "status",
    "size",
    "attachmentsRemoved",
    "firstSeq",
    "lastSeq",
  ];
  for (const f of fields) {
    const a = canonicalJson(stored[f]);
    const b = canonicalJson(expected[f]);
    if (a !== b) return `${f} is ${a} but its events say ${b}`;
  }
  return undefined;
}

export function toPublicSummary(s: StoredSummary): MessageSummary {
  return {
    auditId: s.auditId,
    receivedAt: s.receivedAt,
    mailFrom: s.mailFrom,
    headerFrom: s.headerFrom,
    rcptTo: s.rcptTo,
    subject: s.subject,
    status: s.status,
    size: s.size,
    attachmentsRemoved: s.attachmentsRemoved,
  };
}

/** LIKE pattern for a substring, with %, _ and \ escaped (used with ESCAPE '\'). */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
