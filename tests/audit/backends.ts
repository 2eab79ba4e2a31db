/**
 * The two audit stores the suite runs against: SQLite in a temporary
 * directory, and PostgreSQL from MUMUKA_TEST_PG_URL (skipped, saying so, when
 * it is unset). Each backend instance gets its own table prefix, so runs can
 * overlap and repeat on one database. `exec` is raw SQL on the store's tables,
 * for tampering the way an administrator with database access could.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import Database from "better-sqlite3";
import pg from "pg";
import { describe } from "vitest";
import { pino, type Logger } from "pino";
import type { AuditEvent } from "../../src/audit/audit-types.ts";
import { dropPgTables } from "../../src/audit/pg-store.ts";
import { auditSchema, type Config } from "../../src/config/schema.ts";
import { requirement } from "../helpers/requirements.ts";

export const PG_URL = process.env.MUMUKA_TEST_PG_URL;
requirement("PostgreSQL", PG_URL ? undefined : "MUMUKA_TEST_PG_URL is not set; set it to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:55432/mumuka_test");

export interface Backend {
  name: "sqlite" | "postgres";
  dataDir: string;
  prefix: string;
  config(extra?: Partial<Config["audit"]>): Config["audit"];
  /** raw SQL; `{e}` and `{m}` stand for the events and messages tables; ? placeholders */
  exec(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

let counter = 0;
/** statements and databases used for tampering are kept reachable: see RETAINED in src/audit/sqlite-store.ts */
const KEEP: unknown[] = [];

/** Both stores, always: the PostgreSQL half is skipped (and counted) when it has no server. */
export function backendKinds(): ("sqlite" | "postgres")[] {
  return ["sqlite", "postgres"];
}

/** Whether a backend's suite cannot run here (PostgreSQL without MUMUKA_TEST_PG_URL). */
export function backendMissing(kind: "sqlite" | "postgres"): boolean {
  return kind === "postgres" && !PG_URL;
}

/**
 * One describe block per store, `%s` in the title standing for its name. A store that cannot
 * run here has its tests registered and skipped (so they are counted), never left out.
 */
export function describeEachBackend(title: string, body: (kind: "sqlite" | "postgres") => void): void {
  for (const kind of backendKinds()) describe.skipIf(backendMissing(kind))(title.replace("%s", kind), () => body(kind));
}

export function makeBackend(kind: "sqlite" | "postgres"): Backend {
  counter += 1;
  const prefix = `t${process.pid}_${Date.now().toString(36)}_${counter}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "mumuka-audit-"));
  const tables = (sql: string): string => sql.replaceAll("{e}", `${prefix}_events`).replaceAll("{m}", `${prefix}_messages`);
  if (kind === "sqlite") {
    return {
      name: kind,
      dataDir,
      prefix,
      config: (extra) => auditSchema.parse({ tablePrefix: prefix, flushMs: 20, ...extra }),
      async exec(sql, params = []) {
        const db = new Database(path.join(dataDir, "audit.sqlite"));
        db.pragma("busy_timeout = 5000");
        try {
          const stmt = db.prepare(tables(sql));
          KEEP.push(stmt, db);
          return stmt.reader ? (stmt.all(...params) as Record<string, unknown>[]) : (stmt.run(...params), []);
        } finally {
          db.close();
        }
      },
      async cleanup() {
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  return {
    name: kind,
    dataDir,
    prefix,
    config: (extra) => auditSchema.parse({ url: PG_URL, tablePrefix: prefix, flushMs: 20, ...extra }),
    async exec(sql, params = []) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        let i = 0;
        const text = tables(sql).replace(/\?/g, () => `$${++i}`);
        return (await client.query(text, params)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    },
    async cleanup() {
      await dropPgTables(PG_URL!, prefix);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A pino logger whose JSON lines are kept for the test to read. */
/** Every event as stored, read raw (not through the store's own reader): what a tamper test compares. */
export async function storedEvents(b: Backend): Promise<AuditEvent[]> {
  return (await b.exec("SELECT seq, ts, gateway, type, audit_id, actor, data, prev_hash, hash FROM {e} ORDER BY seq")).map((r) => ({
    seq: Number(r.seq),
    ts: String(r.ts),
    gateway: String(r.gateway),
    type: r.type as AuditEvent["type"],
    ...(r.audit_id !== null ? { auditId: String(r.audit_id) } : {}),
    ...(r.actor !== null ? { actor: String(r.actor) } : {}),
    data: JSON.parse(String(r.data)) as Record<string, unknown>,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  }));
}

export function memoryLogger(level = "info"): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level }, stream);
  return {
    logger,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export const quietLogger = (): Logger => pino({ level: "silent" });

/** Raw SQL on an SQLite file, the way an administrator could (statement kept reachable, see KEEP). */
export function sqliteExec(file: string, sql: string, params: unknown[] = []): void {
  const db = new Database(file);
  try {
    const stmt = db.prepare(sql);
    KEEP.push(stmt, db);
    stmt.run(...params);
  } finally {
    db.close();
  }
}
