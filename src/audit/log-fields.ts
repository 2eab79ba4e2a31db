/**
 * What of an audit event goes into the operational log (pino): an allow-list.
 *
 * The audit store keeps the whole event (subjects, the text staff received,
 * attachment names); the operational log is shipped, rotated and read by
 * more people, so it carries only ids, envelope addresses, sizes, hashes,
 * outcomes, rule names, downstream replies and timings. A field not named
 * here never reaches it, whatever a writer puts in an event. Subjects only
 * with `log.subjects: true`. Header values (Message-ID, From) are the
 * sender's text and stay out.
 *
 * SECURITY: event data holds sender-controlled strings. Strings that pass are
 * cut to MAX_CHARS and lists to MAX_ITEMS, so one event cannot flood a log line.
 * Pure: no I/O.
 */
import type { PendingEvent } from "./audit-fns.ts";

/** a reply, reason or address longer than this is cut in the log (the store keeps it whole) */
const MAX_CHARS = 300;
/** recipients and other lists beyond this are cut in the log */
const MAX_ITEMS = 50;

/** Scalar fields (string, number, boolean) that may appear in the log, whatever the event type. */
const SCALARS = new Set([
  // envelope and connection
  "clientAddress",
  "clientHelo",
  "protocol",
  "mailFrom",
  // not messageId: a sender writes what they like there (the corpus has subjects in Message-IDs)
  "size",
  "sha256",
  "textSha256",
  // delivery
  "host",
  "reply",
  "code",
  "ok",
  "notice",
  "attempts",
  "nextAttemptAt",
  "to",
  // decisions and states
  "reason",
  "action",
  "released",
  "state",
  "from",
  "recovered",
  "recoveredFrom",
  "receivedAt",
  // administration (actor names, addresses of the console's clients, counts)
  "ip",
  "user",
  "role",
  "version",
  "decision",
  "what",
  "removed",
  "before",
  "since",
  "until",
  "events",
  "encrypted",
  "storedBytes",
  "purgedThroughSeq",
  "anchorHash",
]);
/** Lists of plain strings that may appear. */
const LISTS = new Set(["rcptTo", "rulesApplied", "limitsHit"]);
/** Lists of recipient outcomes: only these keys of each item. */
const OUTCOMES = new Set(["recipients", "failed"]);
const OUTCOME_KEYS = ["rcpt", "code", "reply", "host"] as const;

const cut = (s: string): string => (s.length > MAX_CHARS ? `${s.slice(0, MAX_CHARS)}…` : s);

function scalar(v: unknown): string | number | boolean | undefined {
  if (typeof v === "string") return cut(v);
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "boolean") return v;
  return undefined;
}

const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** The log line's `audit` object for one event. */
export function logFieldsOf(event: PendingEvent, options: { subjects?: boolean | undefined } = {}): Record<string, unknown> {
  const d = event.data;
  const out: Record<string, unknown> = { type: event.type };
  if (event.auditId !== undefined) out.auditId = event.auditId;
  if (event.actor !== undefined) out.actor = cut(event.actor);
  for (const [key, value] of Object.entries(d)) {
    if (SCALARS.has(key)) {
      const v = scalar(value);
      if (v !== undefined) out[key] = v;
    } else if (LISTS.has(key) && Array.isArray(value)) {
      out[key] = value.slice(0, MAX_ITEMS).flatMap((x) => (typeof x === "string" ? [cut(x)] : []));
    } else if (OUTCOMES.has(key) && Array.isArray(value)) {
      out[key] = value.slice(0, MAX_ITEMS).map((item) => {
        const o = obj(item) ?? {};
        return Object.fromEntries(OUTCOME_KEYS.flatMap((k) => (scalar(o[k]) !== undefined ? [[k, scalar(o[k])]] : [])));
      });
    }
  }
  // a `sanitized` event: counts and hashes of the report, never its names or text
  const report = obj(d.report);
  const facts = obj(d.facts);
  if (report || facts) {
    const r = report ?? {};
    const list = r.attachments ?? facts?.attachments;
    if (Array.isArray(list)) out.attachmentsRemoved = list.length;
    const input = obj(r.input);
    const output = obj(r.output);
    if (input) out.size = scalar(input.size);
    if (output) {
      out.outSize = scalar(output.size);
      out.outSha256 = scalar(output.sha256);
    }
    const html = obj(r.html);
    if (html) out.htmlConverted = html.converted === true;
    const links = obj(r.links);
    if (links) out.linksDisarmed = scalar(links.disarmed);
    if (Array.isArray(r.limitsHit)) out.limitsHit = r.limitsHit.slice(0, MAX_ITEMS).filter((x) => typeof x === "string");
    if (Array.isArray(r.warnings)) out.warnings = r.warnings.length;
    if (r.withheld !== undefined || d.withheld !== undefined) out.withheld = true;
  }
  if (options.subjects) {
    const headers = obj(report?.headers) ?? facts;
    const subject = d.subjectDecoded ?? d.subject ?? headers?.subject;
    if (typeof subject === "string") out.subject = cut(subject);
  }
  return out;
}
