/**
 * The shared audit store: PostgreSQL, for several gateways writing one chain.
 *
 * Appends are serialised by a transaction-scoped advisory lock (one key per
 * table prefix); the head of the chain is read after taking it, inside the
 * same transaction, so concurrent gateways interleave whole batches and never
 * fork the chain. A crash or a lost connection rolls the batch back; the
 * writer keeps it and retries.
 *
 * SECURITY: only values are bound as parameters; table names come from
 * tableNames(), which accepts plain identifiers only. The URL (with any
 * password) is never logged by this module.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type pg from "pg";
import { chainEvents, dropKnownReceived, GENESIS_HASH, toPublicSummary, type PendingEvent, type StoredSummary } from "./audit-fns.ts";
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
import type { AuditEvent, AuditQuery, MessageSummary } from "./audit-types.ts";

/**
 * pg itself, loaded when a PostgreSQL store is opened: a gateway on the embedded SQLite store
 * (the default) does not carry it in its main isolate (issue 13). Synchronously, as
 * openAuditStore is.
 */
const loadPg = (): typeof pg => createRequire(import.meta.url)("pg") as typeof pg;

/** Connections per process: one writer, a few readers (console, CLI). */
const POOL_SIZE = 4;
/** Fail a connection attempt fast so the writer's backoff, not TCP, sets the pace. */
const CONNECT_TIMEOUT_MS = 5_000;
/** Rows per multi-row INSERT; 500 × 12 parameters stays far below PostgreSQL's 65,535. */
const INSERT_CHUNK = 500;

export function openPgStore(options: { url: string; tablePrefix?: string }): AuditStore {
  const prefix = options.tablePrefix ?? "audit";
  const t = tableNames(prefix);
  const pool = new (loadPg().Pool)({ connectionString: options.url, max: POOL_SIZE, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle client losing its connection must not crash the gateway: the next query reconnects.
  pool.on("error", () => {});
  // Advisory lock key: 64 bits of the prefix's hash, so separate prefixes never contend.
  const lockKey = BigInt.asIntN(64, BigInt(`0x${createHash("sha256").update(`mumuka-audit:${prefix}`).digest("hex").slice(0, 16)}`)).toString();
  let initialised = false;

  const events = (rows: EventRow[]): AuditEvent[] => rows.map(eventFromRow);

  const inTx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  };

  const init = async (): Promise<void> => {
    if (initialised) return;
    await inTx(async (c) => {
      // the lock also serialises two gateways creating the tables at the same moment
      await c.query("SELECT pg_advisory_xact_lock($1)", [lockKey]);
      await c.query(tablesSql(t, "BIGINT"));
      // a store written before the facets table existed is indexed from its events once, in this transaction
      const existed = await c.query(`SELECT to_regclass($1) AS r`, [t.facets]);
      if (existed.rows[0]?.r === null) {
        await c.query(facetsTableSql(t, "BIGINT"));
        let after = 0;
        for (;;) {
          const page = await c.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq > $1 AND type = ANY($2) ORDER BY seq LIMIT 5000`,
            [after, [...FACET_BACKFILL_TYPES]],
          );
          if (page.rows.length === 0) break;
          const evs = page.rows.map(eventFromRow);
          await insertFacets(c, facetRows(evs));
          after = evs[evs.length - 1]!.seq;
        }
      }
      // the per-day and per-recipient counts (facetDaysTableSql, facetRecipientsTableSql), each filled once from the
      // facets and summaries of a store that predates it
      const daysExisted = await c.query(`SELECT to_regclass($1) AS r`, [t.facetDays]);
      if (daysExisted.rows[0]?.r === null) {
        await c.query(facetDaysTableSql(t, "BIGINT"));
        await c.query(facetDaysBackfillSql(t, "postgres"));
      }
      const recipientsExisted = await c.query(`SELECT to_regclass($1) AS r`, [t.facetRecipients]);
      if (recipientsExisted.rows[0]?.r === null) {
        await c.query(facetRecipientsTableSql(t, "BIGINT"));
        await c.query(facetRecipientsBackfillSql(t, "postgres"));
      }
    });
    await trigramIndexes();
    initialised = true;
  };

  /**
   * Best effort: with the pg_trgm extension, substring searches (--from, --to, --subject; ILIKE
   * '%…%' of 3 characters or more) become index lookups — a sender among a million events in
   * ~10 ms instead of ~700 ms. Without the extension (or the right to create it) searches still
   * work, by scanning the summaries.
   */
  const trigramIndexes = async (): Promise<void> => {
    try {
      await pool.query("CREATE EXTENSION IF NOT EXISTS pg_trgm");
      for (const column of ["mail_from", "header_from", "rcpt_to", "subject"]) {
        await pool.query(`CREATE INDEX IF NOT EXISTS ${t.messages}_${column}_trgm ON ${t.messages} USING gin (${column} gin_trgm_ops)`);
      }
      // attachment file names (--attachment): a substring of the names only
      await pool.query(`CREATE INDEX IF NOT EXISTS ${t.facets}_name_trgm ON ${t.facets} USING gin (value gin_trgm_ops) WHERE kind = 'name'`);
    } catch {
      // not installed, not allowed, or another gateway creating it at this moment: searches scan instead
    }
  };

  const head = async (c: pg.PoolClient): Promise<{ seq: number; hash: string } | undefined> => {
    const r = await c.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${t.events} ORDER BY seq DESC LIMIT 1`);
    const row = r.rows[0];
    return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
  };

  const insertFacets = async (c: pg.PoolClient, rows: readonly (readonly unknown[])[]): Promise<void> => {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const params: unknown[] = [];
      const values = chunk.map((row) => {
        const base = params.length;
        params.push(...row);
        return `($${base + 1},$${base + 2},$${base + 3},$${base + 4},$${base + 5})`;
      });
      await c.query(`INSERT INTO ${t.facets} (kind, value, audit_id, seq, ts) VALUES ${values.join(",")}`, params);
    }
  };

  const appendInTx = async (c: pg.PoolClient, pending: readonly PendingEvent[], after?: { seq: number; hash: string }): Promise<AuditEvent[]> => {
    const ids = [...new Set(pending.map((e) => e.auditId).filter((x): x is string => !!x))];
    const existing = new Map<string, StoredSummary>();
    if (ids.length) {
      const r = await c.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id = ANY($1)`, [ids]);
      for (const row of r.rows) existing.set(row.audit_id, summaryFromRow(row));
    }
    const fresh = dropKnownReceived(pending, (id) => existing.has(id));
    const chained = chainEvents(after ?? (await head(c)) ?? { seq: 0, hash: GENESIS_HASH }, fresh);
    const texts = fresh.flatMap((p, i) => (p.text !== undefined ? [[chained[i]!.seq, chained[i]!.auditId ?? null, chained[i]!.ts, p.text] as const] : []));
    for (let i = 0; i < texts.length; i += INSERT_CHUNK) {
      const chunk = texts.slice(i, i + INSERT_CHUNK);
      const params: unknown[] = [];
      const values = chunk.map((row) => {
        const base = params.length;
        params.push(...row);
        return `($${base + 1},$${base + 2},$${base + 3},$${base + 4})`;
      });
      await c.query(`INSERT INTO ${t.texts} (seq, audit_id, ts, text) VALUES ${values.join(",")}`, params);
    }
    for (let i = 0; i < chained.length; i += INSERT_CHUNK) {
      const chunk = chained.slice(i, i + INSERT_CHUNK);
      const params: unknown[] = [];
      const values = chunk.map((e) => {
        const base = params.length;
        params.push(...eventParams(e));
        return `(${Array.from({ length: 9 }, (_, k) => `$${base + k + 1}`).join(",")})`;
      });
      await c.query(`INSERT INTO ${t.events} (${EVENT_COLUMNS}) VALUES ${values.join(",")}`, params);
    }
    const changed = foldBatch(existing, chained);
    const folded = new Map(changed.map((s) => [s.auditId, s]));
    const facets = facetRows(chained);
    // which of the batch's (kind, value, message) an earlier append stored: one query for the batch
    const stored = new Set<string>();
    const candidates = facets.filter(([, , id]) => existing.has(id));
    for (let i = 0; i < candidates.length; i += INSERT_CHUNK * 4) {
      const chunk = candidates.slice(i, i + INSERT_CHUNK * 4);
      const r = await c.query<{ kind: string; value: string; audit_id: string }>(
        `SELECT DISTINCT f.kind, f.value, f.audit_id FROM ${t.facets} f JOIN unnest($1::text[], $2::text[], $3::text[]) AS q(kind, value, audit_id)
         ON f.kind = q.kind AND f.value = q.value AND f.audit_id = q.audit_id`,
        [chunk.map((x) => x[0]), chunk.map((x) => x[1]), chunk.map((x) => x[2])],
      );
      for (const row of r.rows) stored.add(`${row.kind}\u0000${row.value}\u0000${row.audit_id}`);
    }
    const deltas = facetDayDeltas(facets, (id) => folded.get(id) ?? existing.get(id), (kind, value, id) => stored.has(`${kind}\u0000${value}\u0000${id}`));
    await insertFacets(c, facets);
    for (let i = 0; i < deltas.recipients.length; i += INSERT_CHUNK) {
      const chunk = deltas.recipients.slice(i, i + INSERT_CHUNK);
      await c.query(
        `INSERT INTO ${t.facetRecipients} (kind, value, address, messages)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
         ON CONFLICT (kind, value, address) DO UPDATE SET messages = ${t.facetRecipients}.messages + excluded.messages`,
        [chunk.map((d) => d.kind), chunk.map((d) => d.value), chunk.map((d) => d.address), chunk.map((d) => d.messages)],
      );
    }
    for (let i = 0; i < deltas.days.length; i += INSERT_CHUNK) {
      const chunk = deltas.days.slice(i, i + INSERT_CHUNK);
      await c.query(
        `INSERT INTO ${t.facetDays} (kind, value, day_jst, messages, recipients)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
         ON CONFLICT (kind, value, day_jst) DO UPDATE SET messages = ${t.facetDays}.messages + excluded.messages, recipients = ${t.facetDays}.recipients + excluded.recipients`,
        [chunk.map((d) => d.kind), chunk.map((d) => d.value), chunk.map((d) => d.day), chunk.map((d) => d.messages), chunk.map((d) => d.recipients)],
      );
    }
    for (let i = 0; i < changed.length; i += INSERT_CHUNK) {
      const chunk = changed.slice(i, i + INSERT_CHUNK);
      const params: unknown[] = [];
      const values = chunk.map((s) => {
        const base = params.length;
        params.push(...summaryParams(s));
        return `(${Array.from({ length: 12 }, (_, k) => `$${base + k + 1}`).join(",")})`;
      });
      const updates = SUMMARY_COLUMNS.split(", ")
        .filter((col) => col !== "audit_id")
        .map((col) => `${col} = EXCLUDED.${col}`)
        .join(", ");
      await c.query(
        `INSERT INTO ${t.messages} (${SUMMARY_COLUMNS}) VALUES ${values.join(",")} ON CONFLICT (audit_id) DO UPDATE SET ${updates}`,
        params,
      );
    }
    return chained;
  };

  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> => {
    await init();
    return (await pool.query<R>(sql, params)).rows;
  };

  return {
    kind: "postgres",
    init,
    async append(pending) {
      if (pending.length === 0) return [];
      await init();
      return inTx(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock($1)", [lockKey]);
        return appendInTx(c, pending);
      });
    },
    async search(q: AuditQuery): Promise<{ total: number; rows: MessageSummary[] }> {
      const { limit, offset } = pageOf(q);
      const facet = singleFacetOf(q);
      if (facet) {
        const totalParams: unknown[] = [];
        const [count] = await query<{ n: string }>(facetTotalSql(t, (v) => (totalParams.push(v), `$${totalParams.length}`), facet), totalParams);
        const pageParams: unknown[] = [];
        const rows = await query<SummaryRow>(singleFacetPageSql(facet, (v) => (pageParams.push(v), `$${pageParams.length}`), t, { limit, offset }), pageParams);
        return { total: Number(count?.n ?? 0), rows: rows.map((r) => toPublicSummary(summaryFromRow(r))) };
      }
      const params: unknown[] = [];
      const where = searchWhere(q, (v) => (params.push(v), `$${params.length}`), "ILIKE", undefined, t.facets);
      const [count] = await query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${t.messages} ${where}`, params);
      const name = nameOnlyOf(q);
      const pageParams: unknown[] = [];
      const pagePh = (v: unknown): string => (pageParams.push(v), `$${pageParams.length}`);
      const rows =
        name !== undefined
          ? await query<SummaryRow>(facetPageSql(t, attachmentNameCondition(name, pagePh), pagePh, { limit, offset }), pageParams)
          : await query<SummaryRow>(
              `SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} ${where} ORDER BY received_at DESC, audit_id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
              [...params, limit, offset],
            );
      return { total: Number(count?.n ?? 0), rows: rows.map((r) => toPublicSummary(summaryFromRow(r))) };
    },
    async spread(q) {
      const params: unknown[] = [];
      const sql = spreadSql(t, (v) => (params.push(v), `$${params.length}`), q);
      const [count] = await query<{ n: string }>(sql.count, params);
      const counts =
        sql.days && sql.recipients
          ? { days: await query<SpreadDayRow>(sql.days, params), recipients: await query<{ address: string; messages: string }>(sql.recipients, params) }
          : undefined;
      const rows = await query<SummaryRow>(sql.rows, params);
      return spreadOf(Number(count?.n ?? 0), rows.map(summaryFromRow), counts);
    },
    async story(auditId) {
      const story = events(await query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE audit_id = $1 ORDER BY seq`, [auditId]));
      const rows = await query<{ seq: string; text: string }>(`SELECT seq, text FROM ${t.texts} WHERE audit_id = $1`, [auditId]);
      return withTexts(story, new Map(rows.map((r) => [Number(r.seq), r.text])));
    },
    async head() {
      const [row] = await query<{ seq: string; hash: string; ts: string }>(`SELECT seq, hash, ts FROM ${t.events} ORDER BY seq DESC LIMIT 1`);
      return row ? { seq: Number(row.seq), hash: row.hash, ts: row.ts } : undefined;
    },
    async texts(seqs) {
      if (seqs.length === 0) return new Map();
      const rows = await query<{ seq: string; text: string }>(`SELECT seq, text FROM ${t.texts} WHERE seq = ANY($1)`, [[...seqs]]);
      return new Map(rows.map((r) => [Number(r.seq), r.text]));
    },
    async purgeTexts(before) {
      await init();
      const r = await pool.query(`DELETE FROM ${t.texts} WHERE ts < $1`, [before.toISOString()]);
      return r.rowCount ?? 0;
    },
    async dailyCounts(since, until) {
      const rows = await query<DailyRow>(
        `SELECT ${DAILY_SELECT} FROM ${t.messages} WHERE received_at >= $1 AND received_at < $2 GROUP BY day_jst ORDER BY day_jst`,
        [since.toISOString(), until.toISOString()],
      );
      return rows.map(dailyFromRow);
    },
    async eventsAfter(afterSeq, limit, range) {
      if (range) {
        return events(
          await query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq > $1 AND ts >= $2 AND ts < $3 ORDER BY seq LIMIT $4`,
            [afterSeq, range.since.toISOString(), range.until.toISOString(), limit],
          ),
        );
      }
      return events(await query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]));
    },
    async eventsByTime(since, until, after, limit) {
      const from = after ?? { ts: since.toISOString(), seq: -1 };
      return events(
        await query<EventRow>(
          `SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE ts >= $1 AND ts < $2 AND (ts, seq) > ($3, $4) ORDER BY ts, seq LIMIT $5`,
          [since.toISOString(), until.toISOString(), from.ts, from.seq, limit],
        ),
      );
    },
    async messageEventsAfter(after, limit) {
      return events(
        await query<EventRow>(
          `SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE audit_id IS NOT NULL AND (audit_id, seq) > ($1, $2)
           ORDER BY audit_id, seq LIMIT $3`,
          [after.auditId, after.seq, limit],
        ),
      );
    },
    async summaries(auditIds) {
      if (auditIds.length === 0) return [];
      const rows = await query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM ${t.messages} WHERE audit_id = ANY($1)`, [[...auditIds]]);
      return rows.map(summaryFromRow);
    },
    async countSummaries() {
      const [row] = await query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${t.messages}`);
      return Number(row?.n ?? 0);
    },
    async orphanSummary() {
      const [row] = await query<{ audit_id: string }>(
        `SELECT audit_id FROM ${t.messages} m WHERE NOT EXISTS (SELECT 1 FROM ${t.events} e WHERE e.audit_id = m.audit_id) LIMIT 1`,
      );
      return row?.audit_id;
    },
    async checkpoints() {
      return events(await query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE type = 'checkpoint' ORDER BY seq DESC LIMIT 10`));
    },
    async purge(before, makeCheckpoint): Promise<PurgeOutcome> {
      await init();
      return inTx(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock($1)", [lockKey]);
        const cutoff = before.toISOString();
        const r = await c.query<{ first_kept: string | null; lowest: string | null; highest: string | null }>(
          `SELECT (SELECT MIN(seq) FROM ${t.events} WHERE ts >= $1) AS first_kept, MIN(seq) AS lowest, MAX(seq) AS highest FROM ${t.events}`,
          [cutoff],
        );
        const row = r.rows[0];
        if (!row || row.highest === null || row.lowest === null) return { removed: 0 };
        const through = row.first_kept === null ? Number(row.highest) : Number(row.first_kept) - 1;
        if (through < Number(row.lowest)) return { removed: 0 };
        const lp = await c.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${t.events} WHERE seq = $1`, [through]);
        const lastPurged = lp.rows[0] && eventFromRow(lp.rows[0]);
        if (!lastPurged) return { removed: 0 };
        // the per-day counts give back what the removed messages added, before their rows go
        await c.query(
          `WITH gone AS (${facetDaysGoneSql(t, "postgres", "$1::bigint")})
           UPDATE ${t.facetDays} d SET messages = d.messages - g.messages, recipients = d.recipients - g.recipients
           FROM gone g WHERE d.kind = g.kind AND d.value = g.value AND d.day_jst = g.day_jst`,
          [through],
        );
        await c.query(`DELETE FROM ${t.facetDays} WHERE messages <= 0`);
        await c.query(
          `WITH gone AS (${facetRecipientsGoneSql(t, "postgres", "$1::bigint")})
           UPDATE ${t.facetRecipients} d SET messages = d.messages - g.messages
           FROM gone g WHERE d.kind = g.kind AND d.value = g.value AND d.address = g.address`,
          [through],
        );
        await c.query(`DELETE FROM ${t.facetRecipients} WHERE messages <= 0`);
        await c.query(facetsGoneSql(t, "$1::bigint"), [through]);
        const del = await c.query(`DELETE FROM ${t.events} WHERE seq <= $1`, [through]);
        await c.query(`DELETE FROM ${t.messages} WHERE first_seq <= $1`, [through]);
        await c.query(`DELETE FROM ${t.texts} WHERE seq <= $1`, [through]);
        const remaining = await head(c);
        const [checkpoint] = await appendInTx(c, [makeCheckpoint(lastPurged, del.rowCount ?? 0)], remaining ?? lastPurged);
        return { removed: del.rowCount ?? 0, ...(checkpoint ? { checkpoint } : {}) };
      });
    },
    async close() {
      await pool.end();
    },
  };
}

/** Drops an audit store's tables (tests: each run uses its own prefix). */
export async function dropPgTables(url: string, prefix: string): Promise<void> {
  const t = tableNames(prefix);
  const client = new (loadPg().Client)({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS ${t.events}, ${t.messages}, ${t.texts}, ${t.facets}, ${t.facetDays}, ${t.facetRecipients}`);
  } finally {
    await client.end();
  }
}
