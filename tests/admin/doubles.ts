/**
 * In-memory test doubles of the console's contracts (AuditSink & AuditReader,
 * QueueAdmin) for HTTP-level tests: small, honest implementations of the
 * interfaces (search filters, state moves), not the real stores.
 */
import type {
  AuditEvent,
  AuditEventInput,
  AuditQuery,
  AuditReader,
  AuditSink,
  DailyCounts,
  MessageSummary,
  Spread,
  SpreadQuery,
  VerifyResult,
} from "../../src/audit/audit-types.ts";
import { dayInJapan } from "../../src/audit/audit-fns.ts";
import { spreadOf } from "../../src/audit/audit-store.ts";
import { facetsOf, normaliseFacetQuery, type FacetKind } from "../../src/audit/facets.ts";
import type { QueueAdmin, QueueEntry, QueueState } from "../../src/spool/queue-types.ts";

export class MemoryAudit implements AuditSink, AuditReader {
  events: AuditEvent[] = [];
  messages = new Map<string, MessageSummary>();

  record(event: AuditEventInput): void {
    const seq = this.events.length + 1;
    this.events.push({ ...event, seq, ts: new Date().toISOString(), gateway: "test", prevHash: "", hash: String(seq) });
  }
  async flush(): Promise<void> {}
  addMessage(summary: MessageSummary, events: Omit<AuditEventInput, "auditId">[]): void {
    this.messages.set(summary.auditId, summary);
    for (const e of events) this.record({ ...e, auditId: summary.auditId });
  }
  async search(q: AuditQuery): Promise<{ total: number; rows: MessageSummary[] }> {
    const rows = [...this.messages.values()].filter(
      (m) =>
        (!q.auditId || m.auditId === q.auditId) &&
        (!q.from || `${m.mailFrom} ${m.headerFrom}`.includes(q.from)) &&
        (!q.to || m.rcptTo.some((r) => r.includes(q.to!))) &&
        (!q.subject || m.subject.includes(q.subject)) &&
        (!q.status || m.status === q.status) &&
        (!q.since || new Date(m.receivedAt) >= q.since) &&
        (!q.until || new Date(m.receivedAt) < q.until) &&
        (!q.sha256 || this.hasFacet(m.auditId, "sha256", q.sha256)) &&
        (!q.sniffedType || this.hasFacet(m.auditId, "type", q.sniffedType)) &&
        (!q.linkDomain || this.hasFacet(m.auditId, "domain", q.linkDomain)) &&
        (!q.url || this.hasFacet(m.auditId, "url", q.url)) &&
        (!q.senderDomain || this.hasFacet(m.auditId, "sender", q.senderDomain)) &&
        (!q.verdict || this.hasFacet(m.auditId, "verdict", q.verdict)) &&
        (!q.attachmentName ||
          this.events.some((e) => e.auditId === m.auditId && facetsOf(e).some((f) => f.kind === "name" && f.value.includes(q.attachmentName!.toLowerCase())))),
    );
    rows.sort((a, b) => b.receivedAt.localeCompare(a.receivedAt));
    const offset = q.offset ?? 0;
    return { total: rows.length, rows: rows.slice(offset, offset + (q.limit ?? 50)) };
  }
  /** the facets of the real stores (facets.ts), read from the recorded events */
  private hasFacet(auditId: string, kind: FacetKind, value: string): boolean {
    const v = normaliseFacetQuery(kind, value);
    return this.events.some((e) => e.auditId === auditId && facetsOf(e).some((f) => f.kind === kind && f.value === v));
  }
  async spread(q: SpreadQuery): Promise<Spread> {
    const rows = [...this.messages.values()]
      .filter((m) => this.hasFacet(m.auditId, q.kind, q.value))
      .sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))
      .map((m) => ({ ...m, dayJst: dayInJapan(m.receivedAt), firstSeq: 0, lastSeq: 0 }));
    return spreadOf(rows.length, rows);
  }
  async eventsBetween(since: Date, until: Date, after: { ts: string; seq: number } | undefined, limit: number): Promise<AuditEvent[]> {
    return this.events
      .filter((e) => e.ts >= since.toISOString() && e.ts < until.toISOString() && (!after || e.ts > after.ts || (e.ts === after.ts && e.seq > after.seq)))
      .sort((a, b) => a.ts.localeCompare(b.ts) || a.seq - b.seq)
      .slice(0, limit);
  }
  async story(auditId: string): Promise<AuditEvent[]> {
    return this.events.filter((e) => e.auditId === auditId);
  }
  counts: DailyCounts[] = [];
  chain: VerifyResult | undefined;
  async dailyCounts(): Promise<DailyCounts[]> {
    return this.counts;
  }
  async verify(): Promise<VerifyResult> {
    return this.chain ?? { ok: true, checked: this.events.length };
  }
  ofType(type: AuditEvent["type"]): AuditEvent[] {
    return this.events.filter((e) => e.type === type);
  }
}

export class MemoryQueue implements QueueAdmin {
  entries = new Map<string, QueueEntry>();
  calls: string[] = [];

  add(entry: Partial<QueueEntry> & { id: string; state: QueueState }): void {
    this.entries.set(entry.id, { receivedAt: new Date().toISOString(), mailFrom: "a@example.jp", rcptTo: ["b@city.lg.jp"], size: 100, attempts: 1, ...entry });
  }
  async list(filter?: { state?: QueueState }) {
    return [...this.entries.values()].filter((e) => !filter?.state || e.state === filter.state);
  }
  async get(id: string) {
    return this.entries.get(id);
  }
  private move(id: string, from: QueueState[], to: QueueState, call: string) {
    const e = this.entries.get(id);
    if (!e || !from.includes(e.state)) throw new Error(`cannot ${call} ${id}`);
    this.calls.push(call);
    e.state = to;
  }
  async retry(id: string, actor: string) {
    this.move(id, ["deferred", "held"], "active", `retry ${id} ${actor}`);
  }
  async hold(id: string, actor: string, reason?: string) {
    this.move(id, ["deferred", "active", "incoming"], "held", `hold ${id} ${actor} ${reason ?? ""}`);
  }
  async release(id: string, actor: string) {
    this.move(id, ["held"], "deferred", `release ${id} ${actor}`);
  }
  async delete(id: string, actor: string) {
    const e = this.entries.get(id);
    if (!e) throw new Error("no such message");
    this.calls.push(`delete ${id} ${actor}`);
    this.entries.delete(id);
  }
}
