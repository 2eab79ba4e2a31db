/**
 * Release requests for retained originals, in <dataDir>/releases.sqlite
 * (better-sqlite3, WAL, synchronous=FULL).
 *
 * Why a table of its own and not the audit events: a request is shared by the
 * console inside the running gateway and `mumuka original get` beside it, and
 * its download count must be taken atomically by whichever of them asks first
 * ("one download" must stay one when two ask at once). A single SQLite
 * statement (`UPDATE … WHERE used < allowed`) is that check-and-take, across
 * processes, and it survives a restart. The audit store cannot be that: its
 * writers batch asynchronously (record() never waits), and the CLI's events
 * reach it only when the command ends. So the table is the state, and the
 * audit trail is the record: every step (request, approval, refusal, each
 * download and each refused download) is also an audit event, written by
 * release-desk.ts, naming the request id.
 * Several gateways sharing one PostgreSQL audit log each keep their own
 * requests (the originals are per gateway too: each keeps its own spool).
 *
 * SECURITY: request ids, reasons and actor names come from console forms and
 * the command line: ids are checked against REQUEST_ID before use, every value
 * is bound as an SQL parameter, reasons are bounded by the caller. No mail
 * content is stored here.
 * Crash state: every change is one SQLite statement (atomic, durable before it
 * returns); a crash leaves the previous row or the new one.
 */
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";

/** open → approved | refused (by a different person) | cancelled (by the requester) | expired (undecided for originals.release.openDays) */
export type ReleaseStatus = "open" | "approved" | "refused" | "cancelled" | "expired";

export interface ReleaseRequest {
  id: string;
  auditId: string;
  requester: string;
  reason: string;
  status: ReleaseStatus;
  createdAt: string;
  decidedBy?: string;
  decidedAt?: string;
  /** the approver's or refuser's note */
  note?: string;
  /** approved: downloads are allowed until then */
  expiresAt?: string;
  downloadsAllowed: number;
  downloadsUsed: number;
}

/** R-20261206-7K3QX9PA: a day and 40 random bits (Crockford base32), easy to read out over the phone. */
const REQUEST_ID = /^R-\d{8}-[0-9A-HJKMNP-TV-Z]{8}$/;
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function isRequestId(value: string): boolean {
  return REQUEST_ID.test(value);
}

export function newRequestId(now: Date): string {
  const bytes = randomBytes(5);
  let acc = 0n;
  for (const b of bytes) acc = (acc << 8n) | BigInt(b);
  let out = "";
  for (let i = 7; i >= 0; i--) out += ALPHABET[Number((acc >> BigInt(i * 5)) & 31n)];
  return `R-${now.toISOString().slice(0, 10).replace(/-/g, "")}-${out}`;
}

export interface ReleaseStore {
  create(request: { auditId: string; requester: string; reason: string; downloadsAllowed: number; now: Date }): ReleaseRequest;
  get(id: string): ReleaseRequest | undefined;
  /** open requests first (oldest first), then the latest decided ones; at most `limit` */
  list(limit: number): ReleaseRequest[];
  /** open → approved/refused/cancelled; false when the request was no longer open (someone decided first) */
  decide(id: string, decision: { status: "approved" | "refused" | "cancelled"; by: string; note: string; at: Date; expiresAt?: Date }): boolean;
  /** every request still open that was made at or before `madeBy` → expired (decided at `at`, by nobody); returns them */
  expireOpen(madeBy: Date, at: Date): ReleaseRequest[];
  /** takes one download of an approved, unexpired request; resolves to the count now used, or undefined when none is left */
  take(id: string, now: Date): number | undefined;
  /** gives a taken download back (the original could not be read after all) */
  giveBack(id: string): void;
  close(): void;
}

export function releaseDbPath(dataDir: string): string {
  return path.join(dataDir, "releases.sqlite");
}

type Row = {
  id: string;
  audit_id: string;
  requester: string;
  reason: string;
  status: ReleaseStatus;
  created_at: string;
  decided_by: string | null;
  decided_at: string | null;
  note: string | null;
  expires_at: string | null;
  downloads_allowed: number;
  downloads_used: number;
};

const toRequest = (r: Row): ReleaseRequest => ({
  id: r.id,
  auditId: r.audit_id,
  requester: r.requester,
  reason: r.reason,
  status: r.status,
  createdAt: r.created_at,
  ...(r.decided_by !== null ? { decidedBy: r.decided_by } : {}),
  ...(r.decided_at !== null ? { decidedAt: r.decided_at } : {}),
  ...(r.note !== null ? { note: r.note } : {}),
  ...(r.expires_at !== null ? { expiresAt: r.expires_at } : {}),
  downloadsAllowed: r.downloads_allowed,
  downloadsUsed: r.downloads_used,
});

/** statements used once at opening, kept reachable (see RETAINED in src/audit/sqlite-store.ts) */
const KEPT: unknown[] = [];

export function openReleaseStore(dataDir: string): ReleaseStore {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(releaseDbPath(dataDir));
  db.pragma("journal_mode = WAL");
  // an approval or a taken download must not come back after a power cut
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  const table = (name: string): string => `CREATE TABLE IF NOT EXISTS ${name} (
    id TEXT PRIMARY KEY,
    audit_id TEXT NOT NULL,
    requester TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open','approved','refused','cancelled','expired')),
    created_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT,
    expires_at TEXT,
    downloads_allowed INTEGER NOT NULL CHECK (downloads_allowed >= 1),
    downloads_used INTEGER NOT NULL DEFAULT 0 CHECK (downloads_used >= 0 AND downloads_used <= downloads_allowed)
  )`;
  // a file made before requests could be cancelled or expire has the narrower status check, which
  // SQLite cannot alter: its rows move to a table with the wider one, in one transaction
  const schemaStmt = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'release_requests'");
  KEPT.push(schemaStmt); // never garbage: see RETAINED in src/audit/sqlite-store.ts
  const existing = schemaStmt.get();
  if (existing && !existing.sql.includes("'expired'")) {
    db.transaction(() => {
      db.exec(table("release_requests_wide"));
      db.exec("INSERT INTO release_requests_wide SELECT * FROM release_requests");
      db.exec("DROP TABLE release_requests");
      db.exec("ALTER TABLE release_requests_wide RENAME TO release_requests");
    }).immediate();
  }
  db.exec(table("release_requests"));
  db.exec("CREATE INDEX IF NOT EXISTS release_requests_status ON release_requests (status, created_at)");
  const insert = db.prepare(
    "INSERT INTO release_requests (id, audit_id, requester, reason, status, created_at, downloads_allowed) VALUES (?, ?, ?, ?, 'open', ?, ?)",
  );
  const getStmt = db.prepare<[string], Row>("SELECT * FROM release_requests WHERE id = ?");
  const openStmt = db.prepare<[number], Row>("SELECT * FROM release_requests WHERE status = 'open' ORDER BY created_at LIMIT ?");
  const decidedStmt = db.prepare<[number], Row>("SELECT * FROM release_requests WHERE status <> 'open' ORDER BY decided_at DESC LIMIT ?");
  const decideStmt = db.prepare(
    "UPDATE release_requests SET status = ?, decided_by = ?, decided_at = ?, note = ?, expires_at = ? WHERE id = ? AND status = 'open'",
  );
  const takeStmt = db.prepare(
    "UPDATE release_requests SET downloads_used = downloads_used + 1 WHERE id = ? AND status = 'approved' AND expires_at > ? AND downloads_used < downloads_allowed",
  );
  const expireStmt = db.prepare<[string, string], Row>(
    "UPDATE release_requests SET status = 'expired', decided_at = ? WHERE status = 'open' AND created_at <= ? RETURNING *",
  );
  const giveBackStmt = db.prepare("UPDATE release_requests SET downloads_used = downloads_used - 1 WHERE id = ? AND downloads_used > 0");

  const get = (id: string): ReleaseRequest | undefined => {
    if (!isRequestId(id)) return undefined;
    const row = getStmt.get(id);
    return row && toRequest(row);
  };

  return {
    create({ auditId, requester, reason, downloadsAllowed, now }) {
      const id = newRequestId(now);
      insert.run(id, auditId, requester, reason, now.toISOString(), downloadsAllowed);
      return get(id)!;
    },
    get,
    list(limit) {
      const open = openStmt.all(limit).map(toRequest);
      return [...open, ...decidedStmt.all(Math.max(0, limit - open.length)).map(toRequest)];
    },
    decide(id, d) {
      if (!isRequestId(id)) return false;
      return decideStmt.run(d.status, d.by, d.at.toISOString(), d.note, d.expiresAt?.toISOString() ?? null, id).changes === 1;
    },
    expireOpen(madeBy, at) {
      // ISO 8601 UTC strings of one length compare as their instants
      return expireStmt.all(at.toISOString(), madeBy.toISOString()).map(toRequest);
    },
    take(id, now) {
      if (!isRequestId(id)) return undefined;
      // ISO 8601 UTC strings of one length compare as their instants
      if (takeStmt.run(id, now.toISOString()).changes !== 1) return undefined;
      return getStmt.get(id)!.downloads_used;
    },
    giveBack(id) {
      if (isRequestId(id)) giveBackStmt.run(id);
    },
    close() {
      db.close();
    },
  };
}
