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
  /**
   * calls `fn` once everything recorded so far is stored, without hurrying the writer (flush()
   * cuts the batch window short; this waits for the batch the events are in). Never called when
   * the events cannot be stored by this process (close gave up, an event was dropped): what
   * waited for them is then left for the next start. Absent: the sink stores at once (tests).
   */
  afterStored?(fn: () => void): void;
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

/**
 * The text facets a search can ask for (besides the SHA-256), as the console's form and the CLI
 * name them, and the query field each fills: one list for both.
 */
export const FACET_FIELDS = [
  ["attachment", "attachmentName"],
  ["type", "sniffedType"],
  ["linkDomain", "linkDomain"],
  ["url", "url"],
  ["senderDomain", "senderDomain"],
  ["verdict", "verdict"],
] as const satisfies readonly (readonly [string, keyof AuditQuery])[];

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
  /** SHA-256 of a removed attachment (64 hex digits) */
  sha256?: string;
  /** substring of a removed attachment's file name (case-insensitive) */
  attachmentName?: string;
  /** sniffed type of a removed attachment ("pdf", "zip", "unknown" …) */
  sniffedType?: string;
  /** a link's host or any parent domain of it (evil.example finds www.evil.example) */
  linkDomain?: string;
  /** a link's full URL as written in the original (lower case compare) */
  url?: string;
  /** the envelope sender's domain or a parent domain of it */
  senderDomain?: string;
  /** a recorded verdict: "ppap", "type-mismatch", "rule:<name>", "action:hold", "limit:<name>", "dmarc:fail" … */
  verdict?: string;
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
  /** every retention purge still on record (its checkpoint), newest last; at most MAX_PURGES_LISTED listed, the count is exact */
  purges?: { count: number; listed: PurgeRecord[] };
  /** findings that do not fail verify but someone must look at (a purge inside the retention period by override) */
  warnings?: string[];
  /**
   * What this verification can prove, honestly: the chain is proven unchanged and uncut up to the
   * highest external anchor it reaches (`anchoredThrough`); the events after it (`unanchored`)
   * could have been removed from the end, or the chain rewritten, without anything showing it.
   */
  coverage?: { anchoredThrough?: Anchor; unanchored: number };
}

/** One retention purge as its checkpoint records it: through which seq, before which time, by whom, when. */
export interface PurgeRecord {
  /** the checkpoint's own seq */
  seq: number;
  /** when the purge ran (the checkpoint's time) */
  at: string;
  actor?: string;
  /** the last purged event */
  throughSeq: number;
  /** the cutoff: events older than this were removed */
  before?: string;
  removed?: number;
  /** the policy the purge ran under, as it recorded it */
  retentionDays?: number;
  /** a purge inside the retention period (`audit purge --force --reason`) */
  override?: { reason: string };
  /** why verify fails this purge; absent when it is within the policy */
  problem?: string;
  /** what verify reports loudly about it without failing (an override) */
  warning?: string;
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

/** What a "who else received this?" question names: one facet (facets.ts) and its value. */
export interface SpreadQuery {
  kind: "sha256" | "name" | "type" | "url" | "domain" | "sender" | "verdict";
  value: string;
}

/** Every message and recipient that had the same attachment / link: counts per day, recipients, the messages. */
export interface Spread {
  /** messages with the facet */
  messages: number;
  /** true when more messages matched than `rows` lists (the newest SPREAD_MAX_ROWS) */
  truncated: boolean;
  /** true when `recipients` and `days` count every message; false for a URL found in more messages than were read for it (SPREAD_MAX_MESSAGES) */
  recipientsComplete: boolean;
  /** per Japan-time day, every message: messages and recipients (a message to 3 people counts 3) */
  days: { day: string; messages: number; recipients: number }[];
  /** each recipient address and how many of the messages it received, most first */
  recipients: { address: string; messages: number }[];
  /** the messages, newest first */
  rows: MessageSummary[];
}

/** What readers depend on. */
export interface AuditReader {
  search(query: AuditQuery): Promise<{ total: number; rows: MessageSummary[] }>;
  /** who else received this: every message and recipient with the same facet value */
  spread(query: SpreadQuery): Promise<Spread>;
  /**
   * events with since ≤ ts < until in time order (ts, then seq), after the event `after` (undefined: from the start), at most
   * `limit`: a report walks a month page by page through the time index, whatever the store holds before and after it
   */
  eventsBetween(since: Date, until: Date, after: { ts: string; seq: number } | undefined, limit: number): Promise<AuditEvent[]>;
  story(auditId: string): Promise<AuditEvent[]>;
  dailyCounts(since: Date, until: Date): Promise<DailyCounts[]>;
  verify(options?: { anchors?: readonly Anchor[] }): Promise<VerifyResult>;
}
