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
  /** messages and recipients per facet value and Japan-time day, kept with the facets (facetDaysTableSql) */
  facetDays: string;
  /** messages per facet value and recipient address (facetRecipientsTableSql) */
  facetRecipients: string;
  /** SQLite: the distinct attachment file names, in a trigram index (PostgreSQL indexes the facets' names with pg_trgm instead) */
  facetNames: string;
}

export function tableNames(prefix: string): TableNames {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`audit table prefix ${JSON.stringify(prefix)} is not a plain lower-case SQL name`);
  return {
    events: `${prefix}_events`,
    messages: `${prefix}_messages`,
    texts: `${prefix}_texts`,
    facets: `${prefix}_facets`,
    facetDays: `${prefix}_facet_days`,
    facetRecipients: `${prefix}_facet_recipients`,
    facetNames: `${prefix}_facet_names`,
  };
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

/**
 * Per facet value and Japan-time day: how many messages carry it and how many recipients those
 * messages had (a message to 3 people counts 3). Kept in the append's transaction, so the total of
 * a facet search and the counts per day of "who else received this?" are a read of a few rows
 * instead of a count over every matching message (a link domain can be in 20,000 of them). A
 * message counts once per value, on its arrival day, from the append that stores both its summary
 * and the facet; a purge takes its messages back out (facetDaysGoneSql). Rebuilt from the facets
 * and summaries by facetDaysBackfillSql when a store that predates it is opened.
 */
export function facetDaysTableSql(t: TableNames, int64: "INTEGER" | "BIGINT"): string {
  return `
    CREATE TABLE IF NOT EXISTS ${t.facetDays} (
      kind TEXT NOT NULL,
      value TEXT NOT NULL,
      day_jst TEXT NOT NULL,
      messages ${int64} NOT NULL,
      recipients ${int64} NOT NULL,
      PRIMARY KEY (kind, value, day_jst)
    )${int64 === "INTEGER" ? " WITHOUT ROWID" : ""};
  `;
}

/**
 * The facet kinds counted per day and per recipient address as they are stored, so that a total
 * and "who else received this?" are whole however many messages carry the value. Not URLs (nearly
 * one value a message: the counts would copy the facets, on the relay's write path, for values
 * whose messages are few and quick to count) nor file names (searched by substring, never spread).
 */
export const COUNTED_KINDS: readonly FacetKind[] = ["sha256", "domain", "sender", "type", "verdict"];
const countedKindsSql = COUNTED_KINDS.map((k) => `'${k}'`).join(", ");

export function facetRecipientsTableSql(t: TableNames, int64: "INTEGER" | "BIGINT"): string {
  return `
    CREATE TABLE IF NOT EXISTS ${t.facetRecipients} (
      kind TEXT NOT NULL,
      value TEXT NOT NULL,
      address TEXT NOT NULL,
      messages ${int64} NOT NULL,
      PRIMARY KEY (kind, value, address)
    )${int64 === "INTEGER" ? " WITHOUT ROWID" : ""};
  `;
}

/** A recipient as counted: ASCII letters lower-cased only (what SQLite's lower() does; PostgreSQL's depends on its locale). */
export function recipientKey(address: string): string {
  return address.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}
const recipientKeySql = (dialect: "sqlite" | "postgres", x: string): string =>
  dialect === "sqlite" ? `lower(${x})` : `translate(${x}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`;

/** The recipients of a stored rcpt_to as a set-returning FROM item `r(address)`, read as summaryFromRow reads it. */
function recipientsFromSql(dialect: "sqlite" | "postgres", column: string): string {
  if (dialect === "sqlite") {
    return `json_each(CASE WHEN json_valid(${column}) AND json_type(${column}) = 'array' THEN ${column} ELSE json_array(${column}) END) r`;
  }
  return `json_array_elements_text(CASE WHEN ${validRcptSql(column)} THEN ${column}::json ELSE json_build_array(${column}) END) AS r(value)`;
}

/** Fills the per-recipient counts of a store that predates them (one statement). */
export function facetRecipientsBackfillSql(t: TableNames, dialect: "sqlite" | "postgres"): string {
  return `INSERT INTO ${t.facetRecipients} (kind, value, address, messages)
    SELECT f.kind, f.value, ${recipientKeySql(dialect, "r.value")}, COUNT(DISTINCT f.audit_id)
    FROM (SELECT DISTINCT kind, value, audit_id FROM ${t.facets} WHERE kind IN (${countedKindsSql})) f
    JOIN ${t.messages} m ON m.audit_id = f.audit_id CROSS JOIN ${recipientsFromSql(dialect, "m.rcpt_to")}
    GROUP BY f.kind, f.value, ${recipientKeySql(dialect, "r.value")}`;
}

/** The per-recipient counts the messages a purge removes had added (see facetDaysGoneSql), as rows (kind, value, address, messages). */
export function facetRecipientsGoneSql(t: TableNames, dialect: "sqlite" | "postgres", through: string): string {
  return `WITH gone AS (SELECT audit_id, rcpt_to, first_seq, last_seq FROM ${t.messages} WHERE first_seq <= ${through}),
    ${goneFacetsCte(t, through)}
    SELECT f.kind AS kind, f.value AS value, ${recipientKeySql(dialect, "r.value")} AS address, COUNT(DISTINCT f.audit_id) AS messages
    FROM f JOIN gone g ON g.audit_id = f.audit_id CROSS JOIN ${recipientsFromSql(dialect, "g.rcpt_to")}
    WHERE f.last_seq >= g.first_seq
    GROUP BY f.kind, f.value, ${recipientKeySql(dialect, "r.value")}`;
}

/**
 * `f`: the counted facets (kind, value, audit_id, the seq of its last row) of the messages in `gone`:
 * those up to `through` and, for a message whose story went on after it (held, then released), its
 * later ones. The caller keeps those whose last row is not older than the message's summary
 * (first_seq): a facet stored before its `received` was counted nowhere, so nothing is taken back.
 */
function goneFacetsCte(t: TableNames, through: string): string {
  return `f AS (
      SELECT kind, value, audit_id, MAX(seq) AS last_seq FROM (
        SELECT kind, value, audit_id, seq FROM ${t.facets} WHERE seq <= ${through} AND kind IN (${countedKindsSql})
        UNION ALL
        SELECT kind, value, audit_id, seq FROM ${t.facets}
        WHERE seq > ${through} AND seq <= (SELECT MAX(last_seq) FROM gone) AND kind IN (${countedKindsSql})
          AND audit_id IN (SELECT audit_id FROM gone WHERE last_seq > ${through})
      ) rows GROUP BY kind, value, audit_id
    )`;
}

/**
 * How many recipients a stored rcpt_to holds, as summaryFromRow reads it: the length of a JSON
 * array, else 1 (a value that is not one, i.e. tampered, must not make a migration fail).
 * PostgreSQL 15 has no json_valid: an array of JSON strings is recognised by its shape first.
 */
export function rcptCountSql(dialect: "sqlite" | "postgres", column: string): string {
  if (dialect === "sqlite") return `(CASE WHEN json_valid(${column}) AND json_type(${column}) = 'array' THEN json_array_length(${column}) ELSE 1 END)`;
  return `(CASE WHEN ${validRcptSql(column)} THEN json_array_length(${column}::json) ELSE 1 END)`;
}

/** PostgreSQL: whether a stored rcpt_to is a JSON array of strings (as summaryParams writes it), by its shape. */
function validRcptSql(column: string): string {
  const str = String.raw`"([^"\\[:cntrl:]]|\\(["\\/bfnrt]|u[0-9a-fA-F]{4}))*"`;
  return String.raw`${column} ~ '^\[(${str}(,${str})*)?\]$'`;
}

/** Fills the per-day counts of a store that predates them from its facets and summaries (one statement). */
export function facetDaysBackfillSql(t: TableNames, dialect: "sqlite" | "postgres"): string {
  return `INSERT INTO ${t.facetDays} (kind, value, day_jst, messages, recipients)
    SELECT f.kind, f.value, m.day_jst, COUNT(*), SUM(${rcptCountSql(dialect, "m.rcpt_to")})
    FROM (SELECT DISTINCT kind, value, audit_id FROM ${t.facets} WHERE kind IN (${countedKindsSql})) f JOIN ${t.messages} m ON m.audit_id = f.audit_id
    GROUP BY f.kind, f.value, m.day_jst`;
}

/** Adds one (kind, value, day) delta; the same statement on both stores. */
export function facetDaysUpsertSql(t: TableNames, ph: (i: number) => string): string {
  return `INSERT INTO ${t.facetDays} (kind, value, day_jst, messages, recipients) VALUES (${[0, 1, 2, 3, 4].map(ph).join(", ")})
    ON CONFLICT (kind, value, day_jst) DO UPDATE SET messages = ${t.facetDays}.messages + excluded.messages, recipients = ${t.facetDays}.recipients + excluded.recipients`;
}

/**
 * The per-day counts the messages a purge removes (first_seq ≤ through) had added, as rows
 * (kind, value, day_jst, messages, recipients) to subtract — read before those rows are deleted.
 * A message's facets are those up to `through` and, for a message whose story went on after it
 * (held, then released), its later ones.
 */
export function facetDaysGoneSql(t: TableNames, dialect: "sqlite" | "postgres", through: string): string {
  return `WITH gone AS (SELECT audit_id, day_jst, ${rcptCountSql(dialect, "rcpt_to")} AS rc, first_seq, last_seq FROM ${t.messages} WHERE first_seq <= ${through}),
    ${goneFacetsCte(t, through)}
    SELECT f.kind AS kind, f.value AS value, g.day_jst AS day_jst, COUNT(*) AS messages, SUM(g.rc) AS recipients
    FROM f JOIN gone g ON g.audit_id = f.audit_id WHERE f.last_seq >= g.first_seq GROUP BY f.kind, f.value, g.day_jst`;
}

/** The facets of the messages a purge removes, including those recorded after `through` (see facetDaysGoneSql). */
export function facetsGoneSql(t: TableNames, through: string): string {
  return `DELETE FROM ${t.facets} WHERE seq <= ${through}
    OR (seq > ${through} AND audit_id IN (SELECT audit_id FROM ${t.messages} WHERE first_seq <= ${through} AND last_seq > ${through}))`;
}

/**
 * The per-day deltas of a batch's facet rows: each (kind, value, message) not stored before
 * (`stored` says which were, asked once for the batch's distinct triples) counts once, on the
 * day its message arrived, with its recipients. A facet of a message without a summary counts
 * nowhere (a search never shows such a message either). Pure.
 */
export function facetDayDeltas(
  rows: readonly [FacetKind, string, string, number, string][],
  summaryOf: (auditId: string) => StoredSummary | undefined,
  stored: (kind: string, value: string, auditId: string) => boolean,
): { days: FacetDayDelta[]; recipients: FacetRecipientDelta[] } {
  const seen = new Set<string>();
  const out = new Map<string, FacetDayDelta>();
  const byRecipient = new Map<string, FacetRecipientDelta>();
  for (const [kind, value, auditId] of rows) {
    if (!COUNTED_KINDS.includes(kind)) continue;
    const key = `${kind}\u0000${value}\u0000${auditId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const summary = summaryOf(auditId);
    if (!summary || stored(kind, value, auditId)) continue;
    const dayKey = `${kind}\u0000${value}\u0000${summary.dayJst}`;
    const d = out.get(dayKey) ?? { kind, value, day: summary.dayJst, messages: 0, recipients: 0 };
    d.messages += 1;
    d.recipients += summary.rcptTo.length;
    out.set(dayKey, d);
    for (const address of new Set(summary.rcptTo.map(recipientKey))) {
      const rKey = `${kind}\u0000${value}\u0000${address}`;
      const r = byRecipient.get(rKey) ?? { kind, value, address, messages: 0 };
      r.messages += 1;
      byRecipient.set(rKey, r);
    }
  }
  return { days: [...out.values()], recipients: [...byRecipient.values()] };
}

export interface FacetDayDelta {
  kind: FacetKind;
  value: string;
  day: string;
  messages: number;
  recipients: number;
}

export interface FacetRecipientDelta {
  kind: FacetKind;
  value: string;
  address: string;
  messages: number;
}

/** Adds one (kind, value, address) delta; the same statement on both stores. */
export function facetRecipientsUpsertSql(t: TableNames, ph: (i: number) => string): string {
  return `INSERT INTO ${t.facetRecipients} (kind, value, address, messages) VALUES (${[0, 1, 2, 3].map(ph).join(", ")})
    ON CONFLICT (kind, value, address) DO UPDATE SET messages = ${t.facetRecipients}.messages + excluded.messages`;
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
  /** a store's index of attachment file names: SQL of the names containing the needle, or undefined to scan the facets */
  namesContaining?: (needle: string) => string | undefined,
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
  if (query.attachmentName) clauses.push(`audit_id IN (SELECT audit_id FROM ${facets} WHERE ${attachmentNameCondition(query.attachmentName, ph, namesContaining)})`);
  return clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
}

/** The facets whose file name contains a needle: through a store's index of names when it has one, else a LIKE over the names. */
export function attachmentNameCondition(input: string, ph: (value: unknown) => string, namesContaining?: (needle: string) => string | undefined): string {
  // names are stored lower case: a plain LIKE is case-insensitive on both stores
  const needle = facetValue(input);
  const names = namesContaining?.(needle);
  return names ? `kind = 'name' AND value IN (${names})` : `kind = 'name' AND value LIKE ${ph(likeContains(needle))} ESCAPE '\\'`;
}

/** The needle of a search that asks a file-name substring and nothing else, else undefined. */
export function nameOnlyOf(query: AuditQuery): string | undefined {
  const others = query.since || query.until || query.from || query.to || query.subject || query.status || query.auditId;
  const facets = FACET_FIELDS.some(([field]) => typeof query[field] === "string" && query[field] !== "");
  return query.attachmentName && !others && !facets ? query.attachmentName : undefined;
}

/** The one facet a search asks when it asks nothing else (the usual incident question: "this hash", "this domain"), else undefined. */
export function singleFacetOf(query: AuditQuery): { kind: FacetKind; value: string } | undefined {
  const asked = FACET_FIELDS.filter(([field]) => typeof query[field] === "string" && query[field] !== "");
  const others = query.since || query.until || query.from || query.to || query.subject || query.status || query.auditId || query.attachmentName;
  if (asked.length !== 1 || others) return undefined;
  const [field, kind] = asked[0]!;
  return { kind, value: normaliseFacetQuery(kind, query[field] as string) };
}

/**
 * The total of a single-facet search: its per-day counts added up (facetDaysTableSql), not a count of
 * its messages; for a kind not counted so (a URL), a count of its few messages.
 */
export function facetTotalSql(t: TableNames, ph: (value: unknown) => string, facet: { kind: FacetKind; value: string }): string {
  if (!COUNTED_KINDS.includes(facet.kind)) {
    return `SELECT COUNT(*) AS n FROM ${t.messages} WHERE audit_id IN (SELECT audit_id FROM ${t.facets} WHERE kind = ${ph(facet.kind)} AND value = ${ph(facet.value)})`;
  }
  return `SELECT COALESCE(SUM(messages), 0) AS n FROM ${t.facetDays} WHERE kind = ${ph(facet.kind)} AND value = ${ph(facet.value)}`;
}

/**
 * The page of a single-facet search, read in audit-id order straight from the facets index — an
 * audit id begins with the arrival time (YYYYMMDDTHHMMSSZ-…), so that is arrival order — a walk
 * that stops after the page instead of fetching and sorting every matching summary (a type or
 * verdict can match a few percent of a million messages). Rows ordered as every search is.
 */
export function singleFacetPageSql(facet: { kind: FacetKind; value: string }, ph: (value: unknown) => string, t: TableNames, page: { limit: number; offset: number }): string {
  return facetPageSql(t, `kind = ${ph(facet.kind)} AND value = ${ph(facet.value)}`, ph, page);
}

/**
 * The page of the messages with any facet meeting a condition (a file-name substring: a few names
 * of a few thousand messages), by audit id like singleFacetPageSql: only the page's summaries are
 * read, not every match's.
 */
export function facetPageSql(t: TableNames, condition: string, ph: (value: unknown) => string, page: { limit: number; offset: number }): string {
  const ids = `SELECT DISTINCT audit_id FROM ${t.facets} WHERE ${condition}
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

/** At most this many messages are listed by a spread (newest first); the console shows the first 200. */
export const SPREAD_MAX_ROWS = 1000;
/** For a kind without per-recipient counts (a URL), its recipients are counted over at most this many newest messages. */
export const SPREAD_MAX_MESSAGES = 10_000;

/**
 * The SQL of a spread: its total and counts per day from the per-day table, its recipients from
 * the per-recipient table (whole, however many messages: COUNTED_KINDS), and its newest messages
 * by audit id (arrival order, see singleFacetPageSql) read from the facets index — one more than
 * it lists, or, for a kind whose recipients are counted from its messages, up to SPREAD_MAX_MESSAGES.
 */
export function spreadSql(t: TableNames, ph: (v: unknown) => string, q: SpreadQuery): { count: string; days?: string; recipients?: string; rows: string } {
  const kind = ph(q.kind);
  const value = ph(normaliseFacetQuery(q.kind, q.value));
  const where = `kind = ${kind} AND value = ${value}`;
  const counted = COUNTED_KINDS.includes(q.kind);
  const read = (counted ? SPREAD_MAX_ROWS : SPREAD_MAX_MESSAGES) + 1;
  if (!counted) {
    return {
      count: `SELECT COUNT(*) AS n FROM ${t.messages} WHERE audit_id IN (SELECT audit_id FROM ${t.facets} WHERE ${where})`,
      rows: `SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id IN (SELECT DISTINCT audit_id FROM ${t.facets} WHERE ${where} ORDER BY audit_id DESC LIMIT ${read})`,
    };
  }
  return {
    count: `SELECT COALESCE(SUM(messages), 0) AS n FROM ${t.facetDays} WHERE ${where}`,
    days: `SELECT day_jst AS day, messages, recipients FROM ${t.facetDays} WHERE ${where} ORDER BY day_jst`,
    recipients: `SELECT address, messages FROM ${t.facetRecipients} WHERE ${where} AND messages > 0`,
    rows: `SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id IN (SELECT DISTINCT audit_id FROM ${t.facets} WHERE ${where} ORDER BY audit_id DESC LIMIT ${read})`,
  };
}

/** A row of spreadSql's days. */
export interface SpreadDayRow {
  day: string;
  messages: number | string;
  recipients: number | string;
}

/**
 * A spread from its total, its newest messages and, for a counted kind, its counts per day and per
 * recipient (whole); for another kind those are counted here over its newest SPREAD_MAX_MESSAGES. Pure.
 */
export function spreadOf(
  total: number,
  rows: readonly StoredSummary[],
  counts?: { days: readonly SpreadDayRow[]; recipients: readonly { address: string; messages: number | string }[] },
): Spread {
  const newest = [...rows].sort((a, b) => b.receivedAt.localeCompare(a.receivedAt) || b.auditId.localeCompare(a.auditId));
  let recipients: Map<string, number>;
  let days: SpreadDayRow[];
  if (counts) {
    recipients = new Map(counts.recipients.map((r) => [r.address, Number(r.messages)]));
    days = [...counts.days];
  } else {
    // counted here over the newest messages read (at most SPREAD_MAX_MESSAGES)
    recipients = new Map();
    const byDay = new Map<string, { day: string; messages: number; recipients: number }>();
    for (const r of newest.slice(0, SPREAD_MAX_MESSAGES)) {
      for (const a of new Set(r.rcptTo.map(recipientKey))) recipients.set(a, (recipients.get(a) ?? 0) + 1);
      const d = byDay.get(r.dayJst) ?? { day: r.dayJst, messages: 0, recipients: 0 };
      d.messages += 1;
      d.recipients += r.rcptTo.length;
      byDay.set(r.dayJst, d);
    }
    days = [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
  }
  const listed = newest.slice(0, SPREAD_MAX_ROWS);
  return {
    messages: total,
    truncated: total > listed.length,
    recipientsComplete: counts !== undefined || total <= Math.min(rows.length, SPREAD_MAX_MESSAGES),
    days: days.filter((d) => Number(d.messages) > 0).map((d) => ({ day: d.day, messages: Number(d.messages), recipients: Number(d.recipients) })),
    recipients: [...recipients.entries()]
      .filter(([, messages]) => messages > 0)
      .map(([address, messages]) => ({ address, messages }))
      .sort((a, b) => b.messages - a.messages || a.address.localeCompare(b.address)),
    rows: listed.map(toPublicSummary),
  };
}
