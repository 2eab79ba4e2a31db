/**
 * The contract of the audit trail, shared by its writers (relay, CLI, console)
 * and its readers (CLI, console).
 *
 * Events are append-only and hash-chained: hash = SHA-256 over the canonical
 * JSON of (seq, ts, gateway, type, auditId, actor, data, prevHash). Writers call
 * AuditSink.record() and never wait on storage; the sink batches.
 */

export type AuditEventType =
  | "received"
  | "sanitized"
  | "delivery-attempt"
  | "delivered"
  | "deferred"
  | "bounced"
  | "dsn-sent"
  | "held"
  | "released"
  | "rejected"
  | "expired"
  | "deleted"
  | "admin"
  | "original-retrieved"
  | "rules-reloaded"
  | "login"
  | "login-failed"
  | "purged"
  | "checkpoint";

export interface AuditEventInput {
  type: AuditEventType;
  /** the message's audit id, when the event concerns one message */
  auditId?: string;
  /** who caused it: "gateway", "cli:<user>", "admin:<user>" */
  actor?: string;
  /** event details; JSON-serialisable */
  data: Record<string, unknown>;
}

export interface AuditEvent extends AuditEventInput {
  seq: number;
  /** ISO 8601 UTC */
  ts: string;
  /** the gateway (host) that wrote it */
  gateway: string;
  prevHash: string;
  hash: string;
}

/** What writers depend on. record() never throws and never blocks on storage. */
export interface AuditSink {
  record(event: AuditEventInput): void;
  /** resolves when everything recorded so far is stored */
  flush(): Promise<void>;
}

/** Message status as shown in searches: the latest state of its story. */
export type MessageStatus =
  | "received"
  | "queued"
  | "delivered"
  | "deferred"
  | "bounced"
  | "held"
  | "rejected"
  | "expired"
  | "deleted";

export interface AuditQuery {
  since?: Date;
  until?: Date;
  /** substring of envelope sender or header From */
  from?: string;
  /** substring of a recipient */
  to?: string;
  /** substring of the decoded subject */
  subject?: string;
  status?: MessageStatus;
  auditId?: string;
  limit?: number;
  offset?: number;
}

export interface MessageSummary {
  auditId: string;
  receivedAt: string;
  mailFrom: string;
  headerFrom: string;
  rcptTo: string[];
  subject: string;
  status: MessageStatus;
  size: number;
  attachmentsRemoved: number;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  /** the first event that does not verify, with why (auditId: when a message summary is what does not add up) */
  firstBad?: { seq: number; reason: string; auditId?: string; kind?: AnchorFailure };
  /** the last event checked: note it somewhere else (a ticket, a printout) to anchor the chain externally */
  headSeq?: number;
  headHash?: string;
  /** messages that reached a final state without a `received` event (completeness check); at most MAX_GAP_IDS ids */
  missingReceived?: { count: number; auditIds: string[] };
  /** anchors checked against the chain (verify --anchors, or the gateway's last anchor) */
  anchors?: { checked: number; purged: number; latest?: Anchor };
  /** the last anchor this gateway wrote (or read from its anchor file) and whether the chain still reaches it */
  lastAnchor?: Anchor & { reached: boolean };
}

/** The chain's head as written outside the store (operational log, anchor file, syslog). */
export interface Anchor {
  seq: number;
  hash: string;
  /** when the anchor was taken, ISO 8601 UTC (absent for a SEQ:HASH given by hand) */
  ts?: string;
  gateway?: string;
}

/** How a chain fails an anchor: its end was cut, it was recomputed, or an older copy was restored and written on. */
export type AnchorFailure = "truncated" | "rewritten" | "rolled-back" | "conflict";

export interface DailyCounts {
  /** YYYY-MM-DD in Japan time */
  day: string;
  received: number;
  delivered: number;
  attachmentsRemoved: number;
  held: number;
  deferred: number;
  bounced: number;
  rejected: number;
}

/** What readers depend on. */
export interface AuditReader {
  search(query: AuditQuery): Promise<{ total: number; rows: MessageSummary[] }>;
  story(auditId: string): Promise<AuditEvent[]>;
  dailyCounts(since: Date, until: Date): Promise<DailyCounts[]>;
  verify(options?: { anchors?: readonly Anchor[] }): Promise<VerifyResult>;
}
