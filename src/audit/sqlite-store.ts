/**
 * The embedded audit store: one SQLite file (`<dataDir>/audit.sqlite`), WAL
 * mode so the CLI and the console read while the gateway writes.
 *
 * Appends run in a `BEGIN IMMEDIATE` transaction: the head of the chain is read
 * under the write lock, so two processes appending to the same file (the
 * gateway and `mumuka original get`) still make one chain.
 *
 * A crash leaves either the whole batch or none of it (SQLite's journal).
 * SECURITY: only values are bound as parameters; table names come from
 * tableNames(), which accepts plain identifiers only.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { Database as Db, Statement } from "better-sqlite3";
import { chainEvents, dropKnownReceived, GENESIS_HASH, likeContains, toPublicSummary, type PendingEvent, type StoredSummary } from "./audit-fns.ts";
import {
  DAILY_SELECT,
  dailyFromRow,
  FACET_BACKFILL_TYPES,
  facetDayDeltas,
  facetDaysBackfillSql,
  facetDaysGoneSql,
  facetDaysTableSql,
  facetDaysUpsertSql,
  facetRecipientsBackfillSql,
  facetRecipientsGoneSql,
  facetRecipientsTableSql,
  facetRecipientsUpsertSql,
  facetRows,
  facetsGoneSql,
  facetsTableSql,
  facetTotalSql,
  attachmentNameCondition,
  facetPageSql,
  nameOnlyOf,
  singleFacetOf,
  spreadOf,
  spreadSql,
  EVENT_COLUMNS,
  eventFromRow,
  eventParams,
  foldBatch,
  pageOf,
  searchWhere,
  singleFacetPageSql,
  SUMMARY_COLUMNS,
  summaryFromRow,
  summaryParams,
  tableNames,
  tablesSql,
  withTexts,
  type AuditStore,
  type DailyRow,
  type EventRow,
  type PurgeOutcome,
  type SpreadDayRow,
  type SummaryRow,
} from "./audit-store.ts";
import type { AuditEvent, AuditQuery, DailyCounts, MessageSummary } from "./audit-types.ts";

/**
 * Statements (and databases) are never left to the garbage collector: every
 * statement is prepared once, cached, and kept reachable until the process
 * ends. better-sqlite3 12.11 on Node 24 can abort the whole process
 * ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook,
 * from Statement::~Statement) when the collector frees a statement — seen at
 * exit (about 1 CLI run in 60 on a loaded machine) and once mid-run in a
 * benchmark that had let a single statement become garbage. A process opens a
 * handful of stores in its life, so keeping them is bounded.
 */
const RETAINED: unknown[] = [];

/** The page cache while a store is brought up to date (facet counts filled from its facets), KiB. */
const BACKFILL_CACHE_KIB = 512 * 1024;

/** How long a statement waits for another process's write lock before failing, ms. */
const BUSY_TIMEOUT_MS = 10_000;

export function openSqliteStore(options: { file: string; tablePrefix?: string; readonly?: boolean }): AuditStore {
  mkdirSync(path.dirname(options.file), { recursive: true, mode: 0o700 });
  const db: Db = new Database(options.file);
  // exec, not pragma(): pragma() leaves a statement object for the garbage collector (see RETAINED)
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec("PRAGMA journal_mode = WAL");
  // NORMAL in WAL mode: a committed batch survives a process crash; only a power loss may
  // lose the last transactions, and the spool (not the audit store) is what must never lose mail.
  db.exec("PRAGMA synchronous = NORMAL");
  const t = tableNames(options.tablePrefix ?? "audit");

  const init = (): void => {
    // INTEGER PRIMARY KEY: seq is SQLite's rowid (64-bit)
    db.exec(tablesSql(t, "INTEGER"));
    initFacets();
    initFacetDays();
  };

  /**
   * The facets table; a store written before it existed is indexed from its events once, in one
   * transaction (a crash leaves no table, and the next start does it again).
   */
  const initFacets = (): void => {
    const existsStmt = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
    RETAINED.push(existsStmt); // never garbage: see RETAINED
    if (existsStmt.get(t.facets) !== undefined) return;
    const backfill = db.transaction(() => {
      // asked again under the write lock: another process may have indexed it meanwhile (twice would double the rows)
      if (existsStmt.get(t.facets) !== undefined) return;
      db.exec(facetsTableSql(t, "INTEGER"));
      const page = db.prepare(
        `SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq > ? AND type IN (${FACET_BACKFILL_TYPES.map((x) => `'${x}'`).join(", ")}) ORDER BY seq LIMIT 5000`,
      );
      const insert = db.prepare(`INSERT INTO ${t.facets} (kind, value, audit_id, seq, ts) VALUES (?, ?, ?, ?, ?)`);
      RETAINED.push(page, insert);
      let after = 0;
      for (;;) {
        const events = (page.all(after) as EventRow[]).map(eventFromRow);
        if (events.length === 0) break;
        for (const row of facetRows(events)) insert.run(...row);
        after = events[events.length - 1]!.seq;
      }
    });
    backfill.immediate();
  };

  /**
   * The per-day and per-recipient counts (facetDaysTableSql, facetRecipientsTableSql) and the
   * distinct attachment file names (kept with the facets); a store written
   * before they existed gets both from its facets and summaries once, in one transaction (a crash
   * leaves neither, and the next start does it again). The names are a plain table (one row per
   * distinct name, unique) so that a purge can drop one by name; their trigram index is below.
   */
  const initFacetDays = (): void => {
    const existsStmt = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
    RETAINED.push(existsStmt); // never garbage: see RETAINED
    const days = existsStmt.get(t.facetDays) === undefined;
    const recipients = existsStmt.get(t.facetRecipients) === undefined;
    if (!days && !recipients) return;
    // the backfill looks up a summary for every facet (ten million at a million messages): a large
    // page cache for it alone saves most of the reads (the connection's usual cache is 2 MB)
    db.exec(`PRAGMA cache_size = -${BACKFILL_CACHE_KIB}`);
    const backfill = db.transaction(() => {
      // asked again under the write lock: another process (the gateway, a CLI) may have done it meanwhile
      if (days && existsStmt.get(t.facetDays) === undefined) {
        db.exec(facetDaysTableSql(t, "INTEGER"));
        db.exec(facetDaysBackfillSql(t, "sqlite"));
        db.exec(`CREATE TABLE IF NOT EXISTS ${t.facetNames} (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`);
        db.exec(`INSERT OR IGNORE INTO ${t.facetNames} (name) SELECT DISTINCT value FROM ${t.facets} WHERE kind = 'name'`);
      }
      if (recipients && existsStmt.get(t.facetRecipients) === undefined) {
        db.exec(facetRecipientsTableSql(t, "INTEGER"));
        db.exec(facetRecipientsBackfillSql(t, "sqlite"));
      }
    });
    try {
      backfill.immediate();
    } finally {
      db.exec("PRAGMA cache_size = -2000");
    }
  };
  init();

  /**
   * A trigram full-text index over the summaries' sender, recipients and subject, kept in step
   * by triggers (whoever writes the table), so that a substring search of 3 characters or more is
   * an index lookup instead of a scan of every summary. Absent when this SQLite lacks FTS5's
   * trigram tokenizer: searches then scan.
   */
  const fts = `${t.messages}_fts`;
  const ftsColumns = ["mail_from", "header_from", "rcpt_to", "subject"];
  let hasFts = false;
  try {
    const existsStmt = db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?");
    RETAINED.push(existsStmt); // never garbage: see RETAINED
    const existed = existsStmt.get(fts) !== undefined;
    const cols = ftsColumns.join(", ");
    const newCols = ftsColumns.map((c) => `new.${c}`).join(", ");
    const oldCols = ftsColumns.map((c) => `old.${c}`).join(", ");
    db.exec(`
      CREATE VIRTUAL TABLE IF NOT EXISTS ${fts} USING fts5(${cols}, content='${t.messages}', content_rowid='rowid', tokenize='trigram');
      CREATE TRIGGER IF NOT EXISTS ${fts}_ai AFTER INSERT ON ${t.messages} BEGIN
        INSERT INTO ${fts}(rowid, ${cols}) VALUES (new.rowid, ${newCols});
      END;
      CREATE TRIGGER IF NOT EXISTS ${fts}_ad AFTER DELETE ON ${t.messages} BEGIN
        INSERT INTO ${fts}(${fts}, rowid, ${cols}) VALUES ('delete', old.rowid, ${oldCols});
      END;
      CREATE TRIGGER IF NOT EXISTS ${fts}_au AFTER UPDATE ON ${t.messages}
      WHEN ${ftsColumns.map((c) => `old.${c} IS NOT new.${c}`).join(" OR ")} BEGIN
        INSERT INTO ${fts}(${fts}, rowid, ${cols}) VALUES ('delete', old.rowid, ${oldCols});
        INSERT INTO ${fts}(rowid, ${cols}) VALUES (new.rowid, ${newCols});
      END;
    `);
    // an index added to a store that already has summaries starts from all of them
    if (!existed) db.exec(`INSERT INTO ${fts}(${fts}) VALUES ('rebuild')`);
    hasFts = true;
  } catch {
    hasFts = false;
  }
  /** the attachment file names' trigram index (--attachment): the same tokenizer, kept by triggers on the names table */
  const namesFts = `${t.facetNames}_fts`;
  let hasNamesFts = false;
  if (hasFts) {
    try {
      const existsStmt = db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?");
      RETAINED.push(existsStmt); // never garbage: see RETAINED
      const existed = existsStmt.get(namesFts) !== undefined;
      db.exec(`
        CREATE VIRTUAL TABLE IF NOT EXISTS ${namesFts} USING fts5(name, content='${t.facetNames}', content_rowid='id', tokenize='trigram');
        CREATE TRIGGER IF NOT EXISTS ${namesFts}_ai AFTER INSERT ON ${t.facetNames} BEGIN
          INSERT INTO ${namesFts}(rowid, name) VALUES (new.id, new.name);
        END;
        CREATE TRIGGER IF NOT EXISTS ${namesFts}_ad AFTER DELETE ON ${t.facetNames} BEGIN
          INSERT INTO ${namesFts}(${namesFts}, rowid, name) VALUES ('delete', old.id, old.name);
        END;
      `);
      if (!existed) db.exec(`INSERT INTO ${namesFts}(${namesFts}) VALUES ('rebuild')`);
      hasNamesFts = true;
    } catch {
      hasNamesFts = false;
    }
  }
  /** the names containing a needle: through the trigram index when it can serve it, else a scan of the distinct names (not of every facet) */
  const namesContaining =
    (ph: (v: unknown) => string) =>
    (needle: string): string =>
      hasNamesFts && [...needle].length >= 3 && !/[%_\\]/.test(needle)
        ? `SELECT name FROM ${namesFts} WHERE name LIKE ${ph(`%${needle}%`)}`
        : `SELECT name FROM ${t.facetNames} WHERE name LIKE ${ph(likeContains(needle))} ESCAPE '\\'`;

  /** a trigram needs 3 characters; LIKE wildcards and escapes in the needle are left to the scan */
  const viaFts =
    (ph: (v: unknown) => string) =>
    (columns: string[], needle: string): string | undefined => {
      if (!hasFts || [...needle].length < 3 || /[%_\\]/.test(needle)) return undefined;
      const selects = columns.map((c) => `SELECT rowid FROM ${fts} WHERE ${c} LIKE ${ph(`%${needle}%`)}`);
      return `rowid IN (${selects.join(" UNION ")})`;
    };

  // Statements are prepared once and reused: faster, and none is ever left to the garbage
  // collector (see RETAINED).
  const prepared = new Map<string, Statement>();
  const prep = (sql: string): Statement => {
    let stmt = prepared.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      prepared.set(sql, stmt);
    }
    return stmt;
  };

  const headStmt = db.prepare(`SELECT seq, hash FROM ${t.events} ORDER BY seq DESC LIMIT 1`);
  const insertEvent = prep(`INSERT INTO ${t.events} (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  // an update in place (not INSERT OR REPLACE, which deletes and re-inserts): the table and its
  // indexes stay compact, which keeps the full scans of substring searches short
  const upsertSummary = prep(
    `INSERT INTO ${t.messages} (${SUMMARY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (audit_id) DO UPDATE SET ${SUMMARY_COLUMNS.split(", ")
       .filter((c) => c !== "audit_id")
       .map((c) => `${c} = excluded.${c}`)
       .join(", ")}`,
  );
  const getSummary = prep(`SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id = ?`);
  const insertText = prep(`INSERT INTO ${t.texts} (seq, audit_id, ts, text) VALUES (?, ?, ?, ?)`);
  const insertFacet = prep(`INSERT INTO ${t.facets} (kind, value, audit_id, seq, ts) VALUES (?, ?, ?, ?, ?)`);
  const facetStored = prep(`SELECT 1 FROM ${t.facets} WHERE kind = ? AND value = ? AND audit_id = ? LIMIT 1`);
  const upsertFacetDay = prep(facetDaysUpsertSql(t, () => "?"));
  const upsertFacetRecipient = prep(facetRecipientsUpsertSql(t, () => "?"));
  const insertName = prep(`INSERT OR IGNORE INTO ${t.facetNames} (name) VALUES (?)`);

  const head = (): { seq: number; hash: string } => {
    const row = headStmt.get() as { seq: number; hash: string } | undefined;
    return row ?? { seq: 0, hash: GENESIS_HASH };
  };

  const appendInTx = (pending: readonly PendingEvent[], after?: { seq: number; hash: string }): AuditEvent[] => {
    const existing = new Map<string, StoredSummary>();
    const looked = new Set<string>();
    for (const p of pending) {
      if (p.auditId && !looked.has(p.auditId)) {
        looked.add(p.auditId);
        const row = getSummary.get(p.auditId) as SummaryRow | undefined;
        if (row) existing.set(p.auditId, summaryFromRow(row));
      }
    }
    const fresh = dropKnownReceived(pending, (id) => existing.has(id));
    const events = chainEvents(after ?? head(), fresh);
    for (const e of events) insertEvent.run(...eventParams(e));
    for (let i = 0; i < fresh.length; i++) {
      const text = fresh[i]!.text;
      if (text !== undefined) insertText.run(events[i]!.seq, events[i]!.auditId ?? null, events[i]!.ts, text);
    }
    const changed = foldBatch(existing, events);
    const folded = new Map(changed.map((s) => [s.auditId, s]));
    const facets = facetRows(events);
    // counted before the batch's own facets are stored: "stored" means by an earlier append
    const deltas = facetDayDeltas(facets, (id) => folded.get(id) ?? existing.get(id), (kind, value, id) => existing.has(id) && facetStored.get(kind, value, id) !== undefined);
    for (const row of facets) {
      insertFacet.run(...row);
      if (row[0] === "name") insertName.run(row[1]);
    }
    for (const d of deltas.days) upsertFacetDay.run(d.kind, d.value, d.day, d.messages, d.recipients);
    for (const r of deltas.recipients) upsertFacetRecipient.run(r.kind, r.value, r.address, r.messages);
    for (const s of changed) upsertSummary.run(...summaryParams(s));
    return events;
  };
  const appendTx = db.transaction((pending: readonly PendingEvent[]) => appendInTx(pending));

  const eventsAll = (sql: string, ...params: unknown[]): AuditEvent[] =>
    (prep(sql).all(...params) as EventRow[]).map(eventFromRow);

  const store: AuditStore = {
    kind: "sqlite",
    async init() {
      init();
    },
    async append(pending) {
      if (pending.length === 0) return [];
      return appendTx.immediate(pending);
    },
    async search(query: AuditQuery): Promise<{ total: number; rows: MessageSummary[] }> {
      const params: unknown[] = [];
      const ph = (v: unknown): string => (params.push(v), "?");
      const { limit, offset } = pageOf(query);
      const facet = singleFacetOf(query);
      if (facet) {
        const totalParams: unknown[] = [];
        const total = (prep(facetTotalSql(t, (v) => (totalParams.push(v), "?"), facet)).get(...totalParams) as { n: number }).n;
        const pageParams: unknown[] = [];
        const rows = prep(singleFacetPageSql(facet, (v) => (pageParams.push(v), "?"), t, { limit, offset })).all(...pageParams) as SummaryRow[];
        return { total, rows: rows.map((r) => toPublicSummary(summaryFromRow(r))) };
      }
      const where = searchWhere(query, ph, "LIKE", viaFts(ph), t.facets, namesContaining(ph));
      const total = (prep(`SELECT COUNT(*) AS n FROM ${t.messages} ${where}`).get(...params) as { n: number }).n;
      const name = nameOnlyOf(query);
      const pageParams: unknown[] = [];
      const pagePh = (v: unknown): string => (pageParams.push(v), "?");
      const rows = (
        name !== undefined
          ? prep(facetPageSql(t, attachmentNameCondition(name, pagePh, namesContaining(pagePh)), pagePh, { limit, offset })).all(...pageParams)
          : prep(`SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} ${where} ORDER BY received_at DESC, audit_id DESC LIMIT ? OFFSET ?`).all(...params, limit, offset)
      ) as SummaryRow[];
      return { total, rows: rows.map((r) => toPublicSummary(summaryFromRow(r))) };
    },
    async spread(q) {
      const params: unknown[] = [];
      const sql = spreadSql(t, (v) => (params.push(v), "?"), q);
      const total = (prep(sql.count).get(...params) as { n: number }).n;
      const counts =
        sql.days && sql.recipients
          ? { days: prep(sql.days).all(...params) as SpreadDayRow[], recipients: prep(sql.recipients).all(...params) as { address: string; messages: number }[] }
          : undefined;
      const rows = prep(sql.rows).all(...params) as SummaryRow[];
      return spreadOf(total, rows.map(summaryFromRow), counts);
    },
    async story(auditId) {
      const events = eventsAll(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE audit_id = ? ORDER BY seq`, auditId);
      const rows = prep(`SELECT seq, text FROM ${t.texts} WHERE audit_id = ?`).all(auditId) as { seq: number; text: string }[];
      return withTexts(events, new Map(rows.map((r) => [Number(r.seq), r.text])));
    },
    async head() {
      const row = prep(`SELECT seq, hash, ts FROM ${t.events} ORDER BY seq DESC LIMIT 1`).get() as { seq: number; hash: string; ts: string } | undefined;
      return row ? { seq: Number(row.seq), hash: row.hash, ts: row.ts } : undefined;
    },
    async texts(seqs) {
      if (seqs.length === 0) return new Map();
      const rows = prep(`SELECT seq, text FROM ${t.texts} WHERE seq IN (SELECT value FROM json_each(?))`).all(JSON.stringify(seqs)) as {
        seq: number;
        text: string;
      }[];
      return new Map(rows.map((r) => [Number(r.seq), r.text]));
    },
    async purgeTexts(before) {
      return prep(`DELETE FROM ${t.texts} WHERE ts < ?`).run(before.toISOString()).changes;
    },
    async dailyCounts(since, until): Promise<DailyCounts[]> {
      const rows = prep(`SELECT ${DAILY_SELECT} FROM ${t.messages} WHERE received_at >= ? AND received_at < ? GROUP BY day_jst ORDER BY day_jst`)
        .all(since.toISOString(), until.toISOString()) as DailyRow[];
      return rows.map(dailyFromRow);
    },
    async eventsAfter(afterSeq, limit, range) {
      if (range) {
        return eventsAll(
          `SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq > ? AND ts >= ? AND ts < ? ORDER BY seq LIMIT ?`,
          afterSeq,
          range.since.toISOString(),
          range.until.toISOString(),
          limit,
        );
      }
      return eventsAll(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit);
    },
    async eventsByTime(since, until, after, limit) {
      // the ts index holds (ts, rowid = seq): this order is the index's own, each page a range read
      const from = after ?? { ts: since.toISOString(), seq: 0 };
      return eventsAll(
        `SELECT ${EVENT_COLUMNS} FROM ${t.events} INDEXED BY ${t.events}_ts
         WHERE ts >= ? AND ts < ? AND (ts > ? OR (ts = ? AND seq > ?)) ORDER BY ts, seq LIMIT ?`,
        since.toISOString(),
        until.toISOString(),
        from.ts,
        from.ts,
        after ? from.seq : -1,
        limit,
      );
    },
    async messageEventsAfter(after, limit) {
      return eventsAll(
        `SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE audit_id IS NOT NULL AND (audit_id > ? OR (audit_id = ? AND seq > ?))
         ORDER BY audit_id, seq LIMIT ?`,
        after.auditId,
        after.auditId,
        after.seq,
        limit,
      );
    },
    async summaries(auditIds) {
      if (auditIds.length === 0) return [];
      // one JSON array parameter: one statement for any number of ids
      const rows = prep(`SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id IN (SELECT value FROM json_each(?))`).all(
        JSON.stringify(auditIds),
      ) as SummaryRow[];
      return rows.map(summaryFromRow);
    },
    async countSummaries() {
      return (prep(`SELECT COUNT(*) AS n FROM ${t.messages}`).get() as { n: number }).n;
    },
    async orphanSummary() {
      const row = prep(
          `SELECT audit_id FROM ${t.messages} m WHERE NOT EXISTS (SELECT 1 FROM ${t.events} e WHERE e.audit_id = m.audit_id) LIMIT 1`,
        )
        .get() as { audit_id: string } | undefined;
      return row?.audit_id;
    },
    async checkpoints() {
      return eventsAll(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE type = 'checkpoint' ORDER BY seq DESC LIMIT 10`);
    },
    async purge(before, makeCheckpoint): Promise<PurgeOutcome> {
      const run = db.transaction((): PurgeOutcome => {
        const cutoff = before.toISOString();
        const firstKept = prep(`SELECT MIN(seq) AS s FROM ${t.events} WHERE ts >= ?`).get(cutoff) as { s: number | null };
        const lastSeq = (prep(`SELECT MAX(seq) AS s FROM ${t.events}`).get() as { s: number | null }).s;
        if (lastSeq === null) return { removed: 0 };
        const through = firstKept.s === null ? lastSeq : firstKept.s - 1;
        const lowest = (prep(`SELECT MIN(seq) AS s FROM ${t.events}`).get() as { s: number }).s;
        if (through < lowest) return { removed: 0 };
        const lastPurged = eventsAll(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq = ?`, through)[0];
        if (!lastPurged) return { removed: 0 };
        // the per-day counts give back what the removed messages added, before their rows go
        const gone = prep(facetDaysGoneSql(t, "sqlite", "@through")).all({ through }) as { kind: string; value: string; day_jst: string; messages: number; recipients: number }[];
        const less = prep(`UPDATE ${t.facetDays} SET messages = messages - ?, recipients = recipients - ? WHERE kind = ? AND value = ? AND day_jst = ?`);
        for (const g of gone) less.run(g.messages, g.recipients, g.kind, g.value, g.day_jst);
        prep(`DELETE FROM ${t.facetDays} WHERE messages <= 0`).run();
        const goneTo = prep(facetRecipientsGoneSql(t, "sqlite", "@through")).all({ through }) as { kind: string; value: string; address: string; messages: number }[];
        const fewer = prep(`UPDATE ${t.facetRecipients} SET messages = messages - ? WHERE kind = ? AND value = ? AND address = ?`);
        for (const g of goneTo) fewer.run(g.messages, g.kind, g.value, g.address);
        prep(`DELETE FROM ${t.facetRecipients} WHERE messages <= 0`).run();
        // the file names only the removed messages had leave the names index too
        const goneNames = prep(
          `SELECT DISTINCT value FROM ${t.facets} WHERE kind = 'name' AND (seq <= @through
             OR audit_id IN (SELECT audit_id FROM ${t.messages} WHERE first_seq <= @through AND last_seq > @through))`,
        ).all({ through }) as { value: string }[];
        prep(facetsGoneSql(t, "@through")).run({ through });
        const dropName = prep(`DELETE FROM ${t.facetNames} WHERE name = @name AND NOT EXISTS (SELECT 1 FROM ${t.facets} WHERE kind = 'name' AND value = @name)`);
        for (const { value } of goneNames) dropName.run({ name: value });
        const removed = prep(`DELETE FROM ${t.events} WHERE seq <= ?`).run(through).changes;
        prep(`DELETE FROM ${t.messages} WHERE first_seq <= ?`).run(through);
        prep(`DELETE FROM ${t.texts} WHERE seq <= ?`).run(through);
        // when nothing remains, the checkpoint still continues the numbering after the purged events
        const remaining = headStmt.get() as { seq: number; hash: string } | undefined;
        const [checkpoint] = appendInTx([makeCheckpoint(lastPurged, removed)], remaining ?? lastPurged);
        return { removed, ...(checkpoint ? { checkpoint } : {}) };
      });
      return run.immediate();
    },
    async close() {
      RETAINED.push(db, [...prepared.values()], headStmt, insertEvent, upsertSummary, getSummary, insertText, insertFacet, facetStored, upsertFacetDay, upsertFacetRecipient, insertName, appendTx);
      if (db.open) db.close();
    },
  };
  return store;
}
