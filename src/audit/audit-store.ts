/**
 * What a storage backend of the audit trail must do (SQLite: sqlite-store.ts,
 * PostgreSQL: pg-store.ts). The writer (audit-log.ts) and verify
 * (audit-verify.ts) are written once against this interface.
 *
 * Every append runs in one transaction that reads the chain's head, places the
 * events after it and updates the message summaries, so summaries and events
 * can never disagree except by tampering.
 */
import { applyEvent, likeContains, toPublicSummary, type PendingEvent, type StoredSummary } from "./audit-fns.ts";
import type { AuditEvent, AuditQuery, DailyCounts, MessageSummary, Spread, SpreadQuery } from "./audit-types.ts";
import { facetsOf, facetValue, normaliseFacetQuery, type FacetKind } from "./facets.ts";

export interface PurgeOutcome {
  removed: number;
  /** the checkpoint appended to anchor what remains, absent when nothing was old enough */
  checkpoint?: AuditEvent;
}

export interface AuditStore {
  readonly kind: "sqlite" | "postgres";
  /** creates tables and indexes if missing; safe to call again after a failure */
  init(): Promise<void>;
  /**
   * appends events in one transaction; returns them as stored. A `received` event of a message
   * the store already knows is dropped (see dropKnownReceived); a pending `text` goes to the texts table.
   */
  append(pending: readonly PendingEvent[]): Promise<AuditEvent[]>;
  search(query: AuditQuery): Promise<{ total: number; rows: MessageSummary[] }>;
  /** messages (and their recipients) with one facet value: see spreadOf() */
  spread(query: SpreadQuery): Promise<Spread>;
  /** the events of one message; a kept text is given back as data.text (it is not part of the hashed data) */
  story(auditId: string): Promise<AuditEvent[]>;
  /** the last event of the chain (seq, hash, ts), or undefined for an empty store */
  head(): Promise<{ seq: number; hash: string; ts: string } | undefined>;
  /** the stored texts of these events (seq → text) */
  texts(seqs: readonly number[]): Promise<Map<number, string>>;
  /** removes kept texts of events older than `before`; resolves to how many */
  purgeTexts(before: Date): Promise<number>;
  dailyCounts(since: Date, until: Date): Promise<DailyCounts[]>;
  /** events with seq > afterSeq, in seq order */
  eventsAfter(afterSeq: number, limit: number, range?: { since: Date; until: Date }): Promise<AuditEvent[]>;
  /** events with since ≤ ts < until ordered by (ts, seq), after the given key: a walk of a time range through the ts index */
  eventsByTime(since: Date, until: Date, after: { ts: string; seq: number } | undefined, limit: number): Promise<AuditEvent[]>;
  /** events of messages, ordered by (auditId, seq), after the given key */
  messageEventsAfter(after: { auditId: string; seq: number }, limit: number): Promise<AuditEvent[]>;
  summaries(auditIds: readonly string[]): Promise<StoredSummary[]>;
  countSummaries(): Promise<number>;
  /** one summary row without any event, if there is one */
  orphanSummary(): Promise<string | undefined>;
  /** the latest checkpoint events (newest first) */
  checkpoints(): Promise<AuditEvent[]>;
  /**
   * Removes events older than `before` (a prefix of the chain) and the
   * summaries of messages whose story began there, then appends a checkpoint
   * built by `makeCheckpoint` — all in one transaction.
   */
  purge(before: Date, makeCheckpoint: (purgedThrough: AuditEvent, removed: number) => PendingEvent): Promise<PurgeOutcome>;
  close(): Promise<void>;
}

/** Table names of one audit store; a prefix lets test runs (and deployments) share a database. */
export interface TableNames {
  events: string;
  messages: string;
  texts: string;
  /** the search side table: one row per (event, facet) — facets.ts */
  facets: string;
}

export function tableNames(prefix: string): TableNames {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`audit table prefix ${JSON.stringify(prefix)} is not a plain lower-case SQL name`);
  return { events: `${prefix}_events`, messages: `${prefix}_messages`, texts: `${prefix}_texts`, facets: `${prefix}_facets` };
}

/**
 * The tables and indexes of both backends, written once so they cannot drift
 * apart; `int64` is the dialect's 64-bit integer (SQLite INTEGER, which also
 * makes seq the rowid; PostgreSQL BIGINT). Idempotent (IF NOT EXISTS).
 */
export function tablesSql(t: TableNames, int64: "INTEGER" | "BIGINT"): string {
  return `
    CREATE TABLE IF NOT EXISTS ${t.events} (
      seq ${int64} PRIMARY KEY,
      ts TEXT NOT NULL,
      gateway TEXT NOT NULL,
      type TEXT NOT NULL,
      audit_id TEXT,
      actor TEXT,
      data TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ${t.events}_audit_id ON ${t.events} (audit_id, seq) WHERE audit_id IS NOT NULL;
    CREATE INDEX IF NOT EXISTS ${t.events}_ts ON ${t.events} (ts);
    CREATE INDEX IF NOT EXISTS ${t.events}_checkpoint ON ${t.events} (seq) WHERE type = 'checkpoint';
    CREATE TABLE IF NOT EXISTS ${t.messages} (
      audit_id TEXT PRIMARY KEY,
      received_at TEXT NOT NULL,
      day_jst TEXT NOT NULL,
      mail_from TEXT NOT NULL,
      header_from TEXT NOT NULL,
      rcpt_to TEXT NOT NULL,
      subject TEXT NOT NULL,
      status TEXT NOT NULL,
      size ${int64} NOT NULL,
      attachments_removed INTEGER NOT NULL,
      first_seq ${int64} NOT NULL,
      last_seq ${int64} NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ${t.messages}_received ON ${t.messages} (received_at);
    CREATE INDEX IF NOT EXISTS ${t.messages}_status ON ${t.messages} (status, received_at);
    CREATE INDEX IF NOT EXISTS ${t.messages}_first_seq ON ${t.messages} (first_seq);
    CREATE TABLE IF NOT EXISTS ${t.texts} (
      seq ${int64} PRIMARY KEY,
      audit_id TEXT,
      ts TEXT NOT NULL,
      text TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ${t.texts}_audit_id ON ${t.texts} (audit_id);
    CREATE INDEX IF NOT EXISTS ${t.texts}_ts ON ${t.texts} (ts);
  `;
}

/**
 * The facets side table (facets.ts): written with the events, in their transaction; removed with
 * them by a purge (seq). Looked up by (kind, value) → audit ids. Created apart from the other
 * tables because a store that predates it is filled from its events once (see FACET_BACKFILL_TYPES).
 */
export function facetsTableSql(t: TableNames, int64: "INTEGER" | "BIGINT"): string {
  return `
    CREATE TABLE IF NOT EXISTS ${t.facets} (
      kind TEXT NOT NULL,
      value TEXT NOT NULL,
      audit_id TEXT NOT NULL,
      seq ${int64} NOT NULL,
      ts TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ${t.facets}_kv ON ${t.facets} (kind, value, audit_id);
    CREATE INDEX IF NOT EXISTS ${t.facets}_seq ON ${t.facets} (seq);
  `;
}

/** The event types facets are read from: a store that predates the facets table is indexed from these once. */
export const FACET_BACKFILL_TYPES = ["received", "sanitized"] as const;

/** Rows (kind, value, audit_id, seq, ts) of the facets of stored events. */
export function facetRows(events: readonly AuditEvent[]): [FacetKind, string, string, number, string][] {
  const rows: [FacetKind, string, string, number, string][] = [];
  for (const e of events) {
    if (!e.auditId) continue;
    for (const f of facetsOf(e)) rows.push([f.kind, f.value, e.auditId, e.seq, e.ts]);
  }
  return rows;
}

/** The search fields that are facet lookups, and their facet kinds. */
const FACET_FIELDS: [keyof AuditQuery, FacetKind][] = [
  ["sha256", "sha256"],
  ["sniffedType", "type"],
  ["linkDomain", "domain"],
  ["url", "url"],
  ["senderDomain", "sender"],
  ["verdict", "verdict"],
];

/** Rows per page when a store is walked (verify, export): bounded memory on any size. */
export const PAGE_SIZE = 5000;

/** A WHERE clause over the messages table for a search, with placeholders made by `ph`. */
export function searchWhere(
  query: AuditQuery,
  ph: (value: unknown) => string,
  like: "LIKE" | "ILIKE",
  /** a store's faster way to find a substring in some columns (an index), or undefined to scan */
  substring: ((columns: string[], needle: string) => string | undefined) | undefined,
  /** the facets table (attachment, link, sender-domain and verdict searches) */
  facets: string,
): string {
  const clauses: string[] = [];
  const esc = " ESCAPE '\\'";
  const contains = (columns: string[], needle: string): string =>
    substring?.(columns, needle) ?? `(${columns.map((c) => `${c} ${like} ${ph(likeContains(needle))}${esc}`).join(" OR ")})`;
  if (query.since) clauses.push(`received_at >= ${ph(query.since.toISOString())}`);
  if (query.until) clauses.push(`received_at < ${ph(query.until.toISOString())}`);
  if (query.from) clauses.push(contains(["mail_from", "header_from"], query.from));
  if (query.to) clauses.push(contains(["rcpt_to"], query.to));
  if (query.subject) clauses.push(contains(["subject"], query.subject));
  if (query.status) clauses.push(`status = ${ph(query.status)}`);
  if (query.auditId) clauses.push(`audit_id = ${ph(query.auditId)}`);
  for (const [field, kind] of FACET_FIELDS) {
    const v = query[field];
    if (typeof v === "string" && v !== "") {
      clauses.push(`audit_id IN (SELECT audit_id FROM ${facets} WHERE kind = ${ph(kind)} AND value = ${ph(normaliseFacetQuery(kind, v))})`);
    }
  }
  if (query.attachmentName) {
    // names are stored lower case: a plain LIKE is case-insensitive on both stores
    clauses.push(`audit_id IN (SELECT audit_id FROM ${facets} WHERE kind = 'name' AND value LIKE ${ph(likeContains(facetValue(query.attachmentName)))}${esc})`);
  }
  return clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
}

/**
 * A search that asks one facet and nothing else (the usual incident question: "this hash", "this
 * domain"): its page is read in audit-id order straight from the facets index — an audit id begins
 * with the arrival time (YYYYMMDDTHHMMSSZ-…), so that is arrival order — instead of fetching and
 * sorting every matching summary (a type or verdict can match a few percent of a million messages).
 * Returns the page's SQL (rows ordered as every search is), or undefined for any other search.
 */
export function singleFacetPageSql(query: AuditQuery, ph: (value: unknown) => string, t: TableNames, page: { limit: number; offset: number }): string | undefined {
  const asked = FACET_FIELDS.filter(([field]) => typeof query[field] === "string" && query[field] !== "");
  const others = query.since || query.until || query.from || query.to || query.subject || query.status || query.auditId || query.attachmentName;
  if (asked.length !== 1 || others) return undefined;
  const [field, kind] = asked[0]!;
  const ids = `SELECT DISTINCT audit_id FROM ${t.facets} WHERE kind = ${ph(kind)} AND value = ${ph(normaliseFacetQuery(kind, query[field] as string))}
    ORDER BY audit_id DESC LIMIT ${ph(page.limit)} OFFSET ${ph(page.offset)}`;
  return `SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id IN (${ids}) ORDER BY received_at DESC, audit_id DESC`;
}

/** Searches return at most this many rows a page (a console page, a CLI screen). */
export const MAX_SEARCH_LIMIT = 1000;
export const DEFAULT_SEARCH_LIMIT = 50;

export function pageOf(query: AuditQuery): { limit: number; offset: number } {
  const limit = Math.min(Math.max(1, Math.trunc(query.limit ?? DEFAULT_SEARCH_LIMIT)), MAX_SEARCH_LIMIT);
  const offset = Math.max(0, Math.trunc(query.offset ?? 0));
  return { limit, offset };
}

export interface SummaryRow {
  audit_id: string;
  received_at: string;
  day_jst: string;
  mail_from: string;
  header_from: string;
  rcpt_to: string;
  subject: string;
  status: string;
  size: number | string;
  attachments_removed: number | string;
  first_seq: number | string;
  last_seq: number | string;
}

export function summaryFromRow(r: SummaryRow): StoredSummary {
  let rcpt: unknown;
  try {
    rcpt = JSON.parse(r.rcpt_to);
  } catch {
    rcpt = [r.rcpt_to];
  }
  return {
    auditId: r.audit_id,
    receivedAt: r.received_at,
    dayJst: r.day_jst,
    mailFrom: r.mail_from,
    headerFrom: r.header_from,
    rcptTo: Array.isArray(rcpt) ? rcpt.map(String) : [String(rcpt)],
    subject: r.subject,
    status: r.status as StoredSummary["status"],
    size: Number(r.size),
    attachmentsRemoved: Number(r.attachments_removed),
    firstSeq: Number(r.first_seq),
    lastSeq: Number(r.last_seq),
  };
}

export function summaryParams(s: StoredSummary): unknown[] {
  return [
    s.auditId,
    s.receivedAt,
    s.dayJst,
    s.mailFrom,
    s.headerFrom,
    JSON.stringify(s.rcptTo),
    s.subject,
    s.status,
    s.size,
    s.attachmentsRemoved,
    s.firstSeq,
    s.lastSeq,
  ];
}

export const SUMMARY_COLUMNS =
  "audit_id, received_at, day_jst, mail_from, header_from, rcpt_to, subject, status, size, attachments_removed, first_seq, last_seq";

export interface EventRow {
  seq: number | string;
  ts: string;
  gateway: string;
  type: string;
  audit_id: string | null;
  actor: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

export const EVENT_COLUMNS = "seq, ts, gateway, type, audit_id, actor, data, prev_hash, hash";

/** A stored row back to an event. Data that no longer parses is kept as text so verify reports it as a mismatch, not a crash. */
export function eventFromRow(r: EventRow): AuditEvent {
  let data: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(r.data);
    data = parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { unparseable: r.data };
  } catch {
    data = { unparseable: r.data };
  }
  return {
    seq: Number(r.seq),
    ts: r.ts,
    gateway: r.gateway,
    type: r.type as AuditEvent["type"],
    ...(r.audit_id !== null ? { auditId: r.audit_id } : {}),
    ...(r.actor !== null ? { actor: r.actor } : {}),
    data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export function eventParams(e: AuditEvent): unknown[] {
  return [e.seq, e.ts, e.gateway, e.type, e.auditId ?? null, e.actor ?? null, JSON.stringify(e.data), e.prevHash, e.hash];
}

/** Folds a batch of new events into the summaries it touches; returns the changed ones. */
export function foldBatch(existing: Map<string, StoredSummary>, events: readonly AuditEvent[]): StoredSummary[] {
  const changed = new Map<string, StoredSummary>();
  for (const e of events) {
    if (!e.auditId) continue;
    const before = changed.get(e.auditId) ?? existing.get(e.auditId);
    const after = applyEvent(before, e);
    if (after) changed.set(e.auditId, after);
  }
  return [...changed.values()];
}

/** Rows of daily counts as both stores return them. */
export interface DailyRow {
  day: string;
  received: number | string;
  delivered: number | string;
  attachments: number | string | null;
  held: number | string;
  deferred: number | string;
  bounced: number | string;
  rejected: number | string;
}

export const DAILY_SELECT = `day_jst AS day, COUNT(*) AS received,
  SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered,
  SUM(attachments_removed) AS attachments,
  SUM(CASE WHEN status = 'held' THEN 1 ELSE 0 END) AS held,
  SUM(CASE WHEN status = 'deferred' THEN 1 ELSE 0 END) AS deferred,
  SUM(CASE WHEN status = 'bounced' THEN 1 ELSE 0 END) AS bounced,
  SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) AS rejected`;

export function dailyFromRow(r: DailyRow): DailyCounts {
  return {
    day: r.day,
    received: Number(r.received),
    delivered: Number(r.delivered),
    attachmentsRemoved: Number(r.attachments ?? 0),
    held: Number(r.held),
    deferred: Number(r.deferred),
    bounced: Number(r.bounced),
    rejected: Number(r.rejected),
  };
}

/** Gives each event of a story its kept text back as data.text (a copy: the stored data is what is hashed). */
export function withTexts(events: AuditEvent[], texts: Map<number, string>): AuditEvent[] {
  if (texts.size === 0) return events;
  return events.map((e) => {
    const text = texts.get(e.seq);
    return text === undefined ? e : { ...e, data: { ...e.data, text } };
  });
}

/** At most this many messages are read for the lists of a spread (the count is always whole). */
export const SPREAD_MAX_MESSAGES = 10_000;

/** The SQL of a spread: its messages, newest first, one more than SPREAD_MAX_MESSAGES (to tell truncation). */
export function spreadSql(t: TableNames, ph: (v: unknown) => string, q: SpreadQuery): { count: string; rows: string } {
  const kind = ph(q.kind);
  const value = ph(normaliseFacetQuery(q.kind, q.value));
  const facet = `SELECT audit_id FROM ${t.facets} WHERE kind = ${kind} AND value = ${value}`;
  // the newest messages by audit id (arrival order, see singleFacetPageSql), read from the index; spreadOf orders them
  return {
    count: `SELECT COUNT(*) AS n FROM ${t.messages} WHERE audit_id IN (${facet})`,
    rows: `SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id IN (SELECT DISTINCT audit_id FROM (${facet}) f ORDER BY audit_id DESC LIMIT ${SPREAD_MAX_MESSAGES + 1})`,
  };
}

/** Counts per day and per recipient of a spread's messages (newest first). Pure. */
export function spreadOf(total: number, rows: readonly StoredSummary[]): Spread {
  const truncated = rows.length > SPREAD_MAX_MESSAGES || total > rows.length;
  const kept = [...rows].sort((a, b) => b.receivedAt.localeCompare(a.receivedAt) || b.auditId.localeCompare(a.auditId)).slice(0, SPREAD_MAX_MESSAGES);
  const days = new Map<string, { day: string; messages: number; recipients: number }>();
  const recipients = new Map<string, number>();
  for (const r of kept) {
    const day = r.dayJst;
    const d = days.get(day) ?? { day, messages: 0, recipients: 0 };
    d.messages += 1;
    d.recipients += r.rcptTo.length;
    days.set(day, d);
    for (const a of new Set(r.rcptTo.map((x) => x.toLowerCase()))) recipients.set(a, (recipients.get(a) ?? 0) + 1);
  }
  return {
    messages: total,
    truncated,
    days: [...days.values()].sort((a, b) => a.day.localeCompare(b.day)),
    recipients: [...recipients.entries()]
      .map(([address, messages]) => ({ address, messages }))
      .sort((a, b) => b.messages - a.messages || a.address.localeCompare(b.address)),
    rows: kept.map(toPublicSummary),
  };
}
