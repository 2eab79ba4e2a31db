/**
 * The monthly self-inspection report (自己点検報告), folded from one month's
 * audit events in a single pass: messages by outcome per day, removed
 * attachments by sniffed type, PPAP, links disarmed, holds / releases /
 * deletions with who and why, sender-authentication failures (when the
 * gateway records them), top sender domains, delivery latency percentiles and
 * administrator actions by account. The chain's verification is added by the
 * caller (it reads the whole store, not one month).
 *
 * SECURITY: event data is sender-controlled (addresses, reasons quoted from
 * remote replies). Nothing here escapes or interprets it; the formats do
 * (report-format.ts). Memory is bounded by the month: one small entry per
 * message, and the lists are capped (MAX_LISTED). Pure: events in, data out.
 */
import { jstDay } from "../lib/japan-time.ts";
import type { AuditEvent, AuditReader, MessageStatus, VerifyResult } from "../audit/audit-types.ts";
import { STATUS_AFTER } from "../audit/audit-fns.ts";
import { addressDomain, recordedVerdicts } from "../audit/facets.ts";

/** Rows of a list (holds, releases, deletions) kept in full; the count is always whole. */
export const MAX_LISTED = 300;
/** Sender domains shown. */
export const TOP_DOMAINS = 20;

/** Outcomes a message of the month ends in, in the order the report shows them. */
export const OUTCOMES = ["delivered", "held", "rejected", "bounced", "deferred", "expired", "deleted", "queued"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface DayRow {
  day: string;
  received: number;
  outcomes: Record<Outcome, number>;
}

export interface ListedAction {
  ts: string;
  auditId: string;
  type: "held" | "released" | "deleted";
  actor: string;
  reason: string;
}

export interface MonthReport {
  /** YYYY-MM (Japan time) */
  month: string;
  since: string;
  until: string;
  generatedAt: string;
  messages: number;
  days: DayRow[];
  totals: Record<Outcome, number>;
  attachments: { total: number; byType: { type: string; count: number }[] };
  ppap: { messages: number; files: number };
  links: { found: number; disarmed: number; messages: number };
  actions: { held: number; released: number; deleted: number; rows: ListedAction[] };
  /** absent when no event of the month carried a DMARC verdict (verification not in place) */
  dmarc?: { checked: number; failed: number };
  senderDomains: { domain: string; messages: number }[];
  /** milliseconds from arrival to delivery */
  latency: { delivered: number; p50?: number; p90?: number; p99?: number; max?: number };
  chain?: { ok: boolean; checked: number; headSeq?: number; anchor?: { seq: number; ts?: string; reached: boolean }; firstBad?: string };
  adminActions: { actor: string; action: string; count: number }[];
}

/** The Japan-time month YYYY-MM as an instant range [since, until). */
export function monthRange(month: string): { since: Date; until: Date } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) throw new RangeError(`month must be YYYY-MM, got ${JSON.stringify(month)}`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const nineHours = 9 * 3600 * 1000;
  return { since: new Date(Date.UTC(y, mo - 1, 1) - nineHours), until: new Date(Date.UTC(y, mo, 1) - nineHours) };
}

/** The days of a Japan-time month, YYYY-MM-DD. */
export function daysOf(month: string): string[] {
  const [y, m] = month.split("-").map(Number) as [number, number];
  const n = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return Array.from({ length: n }, (_, i) => `${month}-${String(i + 1).padStart(2, "0")}`);
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

const OUTCOME_OF: Partial<Record<MessageStatus, Outcome>> = {
  delivered: "delivered",
  held: "held",
  rejected: "rejected",
  bounced: "bounced",
  deferred: "deferred",
  expired: "expired",
  deleted: "deleted",
};

interface MessageState {
  day: string;
  arrived: number;
  status: MessageStatus;
  sanitized: boolean;
  deliveredAt?: number;
}

export interface ReportBuilder {
  add(event: AuditEvent): void;
  finish(chain?: VerifyResult, generatedAt?: Date): MonthReport;
}

export function createReportBuilder(month: string): ReportBuilder {
  const { since, until } = monthRange(month);
  const messages = new Map<string, MessageState>();
  const byType = new Map<string, number>();
  const senders = new Map<string, number>();
  const admin = new Map<string, number>();
  let attachments = 0;
  const ppap = { messages: 0, files: 0 };
  const links = { found: 0, disarmed: 0, messages: 0 };
  const actions = { held: 0, released: 0, deleted: 0, rows: [] as ListedAction[] };
  let dmarc: { checked: number; failed: number } | undefined;
  const dmarcSeen = new Set<string>();

  const sanitized = (state: MessageState | undefined, d: Obj): void => {
    // a message sanitized again (after a crash, or on release) is counted once: its first pass
    if (state) {
      if (state.sanitized) return;
      state.sanitized = true;
    }
    const report = isObj(d.report) ? d.report : undefined;
    const list = report?.attachments ?? (isObj(d.facts) ? d.facts.attachments : undefined);
    if (Array.isArray(list)) {
      let locked = 0;
      for (const a of list) {
        if (!isObj(a)) continue;
        attachments++;
        const type = str(a.sniffedType) || "unknown";
        byType.set(type, (byType.get(type) ?? 0) + 1);
        if (a.encrypted === true) locked++;
      }
      if (locked) {
        ppap.messages++;
        ppap.files += locked;
      }
    }
    const l = isObj(report?.links) ? report.links : undefined;
    if (l) {
      const found = typeof l.found === "number" ? l.found : 0;
      const disarmed = typeof l.disarmed === "number" ? l.disarmed : 0;
      links.found += found;
      links.disarmed += disarmed;
      if (disarmed > 0) links.messages++;
    }
  };

  return {
    add(e) {
      const d = isObj(e.data) ? e.data : {};
      const id = e.auditId;
      let state = id ? messages.get(id) : undefined;
      if (Date.parse(e.ts) >= until.getTime()) {
        // read past the month's end only to see how this month's messages ended
        if (state) {
          const status = STATUS_AFTER[e.type];
          if (status) state.status = status;
          if (e.type === "delivered" && state.deliveredAt === undefined) state.deliveredAt = Date.parse(e.ts);
        }
        return;
      }
      if (e.type === "received" && id && !state) {
        const arrivedIso = typeof d.receivedAt === "string" && Number.isFinite(Date.parse(d.receivedAt)) ? d.receivedAt : e.ts;
        const arrived = Date.parse(arrivedIso);
        if (arrived < since.getTime() || arrived >= until.getTime()) return; // arrived last month, recorded late
        state = { day: jstDay(new Date(arrived)), arrived, status: "received", sanitized: false };
        messages.set(id, state);
        const domain = addressDomain(str(d.mailFrom));
        const key = domain ?? "(null sender)";
        senders.set(key, (senders.get(key) ?? 0) + 1);
      }
      if (id) {
        // DMARC, when the gateway verifies it: counted once per message
        for (const v of recordedVerdicts(d)) {
          const verdict = v.toLowerCase();
          if (!verdict.startsWith("dmarc:") || dmarcSeen.has(id)) continue;
          dmarcSeen.add(id);
          dmarc ??= { checked: 0, failed: 0 };
          dmarc.checked++;
          if (verdict === "dmarc:fail") dmarc.failed++;
        }
      }
      if (e.type === "sanitized" && (state || !id)) sanitized(state, d);
      if (e.type === "held" || e.type === "released" || e.type === "deleted") {
        actions[e.type]++;
        if (actions.rows.length < MAX_LISTED) {
          actions.rows.push({ ts: e.ts, auditId: id ?? "", type: e.type, actor: e.actor ?? "gateway", reason: str(d.reason) });
        }
      }
      const actor = e.actor ?? "";
      if (/^(admin|cli):/.test(actor) && (e.type === "admin" || e.type === "released" || e.type === "deleted" || e.type === "held" || e.type === "original-retrieved" || e.type === "purged" || e.type === "login")) {
        const action = e.type === "admin" ? str(d.action) || "admin" : e.type;
        const key = `${actor}\u0000${action}`;
        admin.set(key, (admin.get(key) ?? 0) + 1);
      }
      if (!state) return;
      const status = STATUS_AFTER[e.type];
      if (status) state.status = status;
      if (e.type === "delivered" && state.deliveredAt === undefined) state.deliveredAt = Date.parse(e.ts);
    },

    finish(chain, generatedAt = new Date()) {
      const zero = (): Record<Outcome, number> => Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
      const days = new Map<string, DayRow>(daysOf(month).map((day) => [day, { day, received: 0, outcomes: zero() }]));
      const totals = zero();
      const latencies: number[] = [];
      for (const m of messages.values()) {
        const row = days.get(m.day);
        const outcome = OUTCOME_OF[m.status] ?? "queued";
        if (row) {
          row.received++;
          row.outcomes[outcome]++;
        }
        totals[outcome]++;
        if (m.deliveredAt !== undefined && m.deliveredAt >= m.arrived) latencies.push(m.deliveredAt - m.arrived);
      }
      latencies.sort((a, b) => a - b);
      const latency: MonthReport["latency"] = { delivered: latencies.length };
      if (latencies.length) {
        latency.p50 = percentile(latencies, 50)!;
        latency.p90 = percentile(latencies, 90)!;
        latency.p99 = percentile(latencies, 99)!;
        latency.max = latencies[latencies.length - 1]!;
      }
      const report: MonthReport = {
        month,
        since: since.toISOString(),
        until: until.toISOString(),
        generatedAt: generatedAt.toISOString(),
        messages: messages.size,
        days: [...days.values()],
        totals,
        attachments: { total: attachments, byType: [...byType.entries()].map(([type, count]) => ({ type, count })).sort((a, b) => b.count - a.count || a.type.localeCompare(b.type)) },
        ppap,
        links,
        actions,
        senderDomains: [...senders.entries()]
          .map(([domain, n]) => ({ domain, messages: n }))
          .sort((a, b) => b.messages - a.messages || a.domain.localeCompare(b.domain))
          .slice(0, TOP_DOMAINS),
        latency,
        adminActions: [...admin.entries()]
          .map(([key, count]) => {
            const [actor, action] = key.split("\u0000") as [string, string];
            return { actor, action, count };
          })
          .sort((a, b) => a.actor.localeCompare(b.actor) || b.count - a.count || a.action.localeCompare(b.action)),
      };
      if (dmarc) report.dmarc = dmarc;
      if (chain) {
        const anchor = chain.lastAnchor ?? chain.anchors?.latest;
        report.chain = {
          ok: chain.ok,
          checked: chain.checked,
          ...(chain.headSeq !== undefined ? { headSeq: chain.headSeq } : {}),
          ...(anchor ? { anchor: { seq: anchor.seq, ...(anchor.ts ? { ts: anchor.ts } : {}), reached: "reached" in anchor ? anchor.reached === true : chain.ok } } : {}),
          ...(chain.firstBad ? { firstBad: `seq ${chain.firstBad.seq}: ${chain.firstBad.reason}` } : {}),
        };
      }
      return report;
    },
  };
}

/** Reads a month's events from a reader page by page into the report; the chain result is the caller's. */
export async function buildMonthReport(
  reader: Pick<AuditReader, "eventsBetween">,
  month: string,
  options: { chain?: VerifyResult; now?: Date; pageSize?: number } = {},
): Promise<MonthReport> {
  const { since, until } = monthRange(month);
  const builder = createReportBuilder(month);
  const pageSize = options.pageSize ?? 5000;
  // a delivery recorded in the first days of the next month still belongs to a message of this one
  const readUntil = new Date(until.getTime() + 3 * 24 * 3600 * 1000);
  let after: { ts: string; seq: number } | undefined;
  for (;;) {
    const page = await reader.eventsBetween(since, readUntil, after, pageSize);
    for (const e of page) builder.add(e);
    if (page.length < pageSize) break;
    const last = page[page.length - 1]!;
    after = { ts: last.ts, seq: last.seq };
  }
  return builder.finish(options.chain, options.now);
}
