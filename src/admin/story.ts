/**
 * Reads a message's audit story (its events, oldest first) into what the
 * detail page shows: removed parts, rules applied, delivery attempts, the
 * sanitized text. Pure.
 *
 * SECURITY: event data holds sender-controlled strings (file names, subjects,
 * replies of remote servers). Nothing here escapes; the page renders all of it
 * through `html```. Here we only pick fields by name and check their types, so
 * an event written by an older or newer gateway shows what it can, never crashes.
 */
import type { AuditEvent } from "../audit/audit-types.ts";

export interface PartView {
  path?: string;
  filename: string;
  contentType: string;
  sniffedType?: string;
  typeMismatch: boolean;
  size?: number;
  sha256: string;
  encrypted: boolean;
}

export interface AttemptView {
  ts: string;
  type: string;
  host?: string;
  result?: string;
  reply?: string;
  recipients?: string[];
}

/** the sender-authentication verdict of the sanitized event (src/authenticate/auth-types.ts), as far as it could be read */
export interface AuthView {
  spf: string;
  dkim: string;
  dmarc: string;
  arc: string;
  fromDomain: string;
  policy: string;
  alignedDomain: string;
  client: string;
  clientSource: string;
}

export interface StoryView {
  removedParts: PartView[];
  rulesApplied: string[];
  attempts: AttemptView[];
  sanitizedText?: string;
  auth?: AuthView;
}

/** the verdict words of an event's `auth` object, each a plain word or "" (never throws on an odd shape) */
function toAuth(v: unknown): AuthView | undefined {
  if (!isObj(v)) return undefined;
  const result = (o: unknown) => (isObj(o) ? (str(o.result) ?? "") : "");
  const dkim = Array.isArray(v.dkim) ? v.dkim.filter(isObj) : [];
  const dmarc = isObj(v.dmarc) ? v.dmarc : {};
  const client = isObj(v.client) ? v.client : {};
  return {
    spf: result(v.spf),
    dkim: dkim.length === 0 ? "none" : dkim.some((d) => d.result === "pass") ? "pass" : (str(dkim[0]!.result) ?? ""),
    dmarc: result(v.dmarc),
    arc: result(v.arc),
    fromDomain: str(dmarc.domain) ?? "",
    policy: str(dmarc.policy) ?? "",
    alignedDomain: str(dmarc.alignedDomain) ?? "",
    client: str(client.address) ?? "",
    clientSource: str(client.source) ?? "",
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);
const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;

/** Looks for `key` in the event data and in its usual nested objects (report, decision, result). */
function find(data: Obj, key: string): unknown {
  if (key in data) return data[key];
  for (const nest of ["report", "decision", "result", "facts"]) {
    const inner = data[nest];
    if (isObj(inner) && key in inner) return inner[key];
  }
  return undefined;
}

function toPart(v: unknown): PartView | undefined {
  if (!isObj(v)) return undefined;
  const sha256 = str(v.sha256) ?? "";
  const part: PartView = {
    filename: str(v.filename) ?? str(v.name) ?? "",
    contentType: str(v.contentType) ?? str(v.type) ?? "",
    typeMismatch: v.typeMismatch === true,
    sha256,
    encrypted: v.encrypted === true,
  };
  const path = str(v.path);
  if (path !== undefined) part.path = path;
  const sniffed = str(v.sniffedType);
  if (sniffed !== undefined) part.sniffedType = sniffed;
  if (typeof v.size === "number") part.size = v.size;
  return part;
}

export function readStory(events: readonly AuditEvent[]): StoryView {
  const view: StoryView = { removedParts: [], rulesApplied: [], attempts: [] };
  for (const event of events) {
    const data = isObj(event.data) ? event.data : {};
    const parts = find(data, "attachments") ?? find(data, "removedParts");
    if (Array.isArray(parts) && view.removedParts.length === 0) {
      view.removedParts = parts.map(toPart).filter((p): p is PartView => p !== undefined);
    }
    const rules = strings(find(data, "rulesApplied"));
    if (rules && rules.length > 0) view.rulesApplied = rules;
    const text = str(data.sanitizedText) ?? str(data.text);
    if (text !== undefined && event.type === "sanitized") view.sanitizedText = text;
    const auth = event.type === "sanitized" ? toAuth(data.auth) : undefined;
    if (auth) view.auth = auth;
    if (event.type === "delivery-attempt") {
      const attempt: AttemptView = { ts: event.ts, type: event.type };
      const host = str(data.host) ?? str(data.server) ?? str(data.mx);
      if (host !== undefined) attempt.host = str(data.port) ? `${host}:${str(data.port)}` : host;
      const result = str(data.result) ?? str(data.outcome) ?? str(data.status) ?? (typeof data.ok === "boolean" ? (data.ok ? "ok" : "failed") : undefined);
      if (result !== undefined) attempt.result = result;
      const reply = str(data.reply) ?? str(data.response) ?? str(data.error);
      if (reply !== undefined) attempt.reply = reply;
      const rcpts = strings(data.recipients) ?? strings(data.rcptTo);
      if (rcpts) attempt.recipients = rcpts;
      view.attempts.push(attempt);
    }
  }
  return view;
}

/** Short "key: value" pairs of an event's scalar data, for the timeline. Long values are cut. */
export function eventDetails(event: AuditEvent, maxChars = 160): string[] {
  const data = isObj(event.data) ? event.data : {};
  const out: string[] = [];
  const report = data.report;
  if (isObj(report)) {
    // the sanitizer's report: its headline numbers, not the whole object
    const attachments = Array.isArray(report.attachments) ? report.attachments.length : undefined;
    const html = isObj(report.html) ? report.html.converted === true : undefined;
    const links = isObj(report.links) ? `${str(report.links.disarmed) ?? "?"}/${str(report.links.found) ?? "?"}` : undefined;
    const output = isObj(report.output) ? str(report.output.sha256) : undefined;
    if (attachments !== undefined) out.push(`attachments removed: ${attachments}`);
    if (html !== undefined) out.push(`html converted: ${html}`);
    if (links !== undefined) out.push(`links disarmed: ${links}`);
    if (output !== undefined) out.push(`output sha256: ${output}`);
    const limits = strings(report.limitsHit);
    if (limits?.length) out.push(`limits hit: ${limits.join(", ")}`);
  }
  const auth = toAuth(data.auth);
  if (auth) out.push(`auth: spf=${auth.spf} dkim=${auth.dkim} dmarc=${auth.dmarc} arc=${auth.arc} from=${auth.fromDomain || "-"}`);
  for (const [key, value] of Object.entries(data)) {
    if (key === "text" || key === "sanitizedText") continue;
    let shown: string;
    if (typeof value === "string") shown = value;
    else if (typeof value === "number" || typeof value === "boolean") shown = String(value);
    else if (Array.isArray(value) && value.every((x) => typeof x === "string")) shown = value.join(", ");
    else if (Array.isArray(value)) shown = `[${value.length}]`;
    else continue;
    out.push(`${key}: ${shown.length > maxChars ? `${shown.slice(0, maxChars)}…` : shown}`);
    if (out.length >= 12) break;
  }
  return out;
}
