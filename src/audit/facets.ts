/**
 * Facets: what an incident search looks a message up by — the attachments it
 * had removed (SHA-256, file name, sniffed type), the links it carried (full
 * URL as written, host and its parent domains), its sender's domain and the
 * verdicts mumuka recorded (rules applied, holds, limits, PPAP, and any
 * sender-authentication result an event carries). Read from the events
 * themselves, so both stores index the same values in the same transaction
 * that stores the events, and an index can always be rebuilt from the chain.
 *
 * SECURITY: every value is sender-controlled text from event data. It is only
 * lower-cased, cut to MAX_FACET_CHARS and bound as an SQL parameter, never
 * interpreted; at most MAX_FACETS_PER_EVENT per event, so one message cannot
 * flood the index. Pure.
 */
import type { AuditEvent } from "./audit-types.ts";

export type FacetKind = "sha256" | "name" | "type" | "url" | "domain" | "sender" | "verdict";
export const FACET_KINDS: readonly FacetKind[] = ["sha256", "name", "type", "url", "domain", "sender", "verdict"];

export interface Facet {
  kind: FacetKind;
  value: string;
}

/** A value longer than this is cut (a URL is recorded capped at the same length): PostgreSQL's B-tree keys stay far below their limit. */
export const MAX_FACET_CHARS = 2048;
/** Facets one event can add (200 links with their parent domains, the removed parts, the verdicts). */
export const MAX_FACETS_PER_EVENT = 2000;
/** Parent domains indexed under a host: a.b.c.evil.example is found as evil.example, c.evil.example, … */
const MAX_DOMAIN_LABELS = 6;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** A facet value as it is stored and searched: trimmed, lower case, capped. */
export function facetValue(text: string): string {
  return text.trim().toLowerCase().slice(0, MAX_FACET_CHARS);
}

/** The host of a URL as written (scheme://host…, or www.…), lower case, without port or user; undefined when none. */
export function urlHost(url: string): string | undefined {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:\\]+)/i.exec(url.trim());
  const host = m?.[1]?.toLowerCase().replace(/\.+$/, "");
  return host && host.length <= 253 ? host : undefined;
}

/** Second-level labels under which a name is registered one level lower (example.co.jp, city.example.lg.jp, example.com.au). */
const GENERIC_SECOND_LEVEL = /^(?:co|or|ne|go|lg|ac|ed|gr|ad|com|net|org|gov|edu)$/;

/**
 * A domain and its parents down to the registered name: mail.evil.example → mail.evil.example,
 * evil.example; www.example.co.jp → www.example.co.jp, example.co.jp (never co.jp: no one searches
 * a whole second-level domain, and it would index every Japanese company). An IP literal stays whole.
 */
export function domainAndParents(host: string): string[] {
  const h = host.toLowerCase().replace(/\.+$/, "");
  if (h === "" || /^\[.*\]$/.test(h) || /^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return h ? [h] : [];
  const labels = h.split(".").filter(Boolean);
  const shortest = labels.length >= 3 && GENERIC_SECOND_LEVEL.test(labels[labels.length - 2]!) ? 3 : 2;
  const out: string[] = [];
  for (let i = 0; i <= labels.length - shortest && out.length < MAX_DOMAIN_LABELS; i++) out.push(labels.slice(i).join("."));
  return out.length ? out : [h];
}

/** The domain of an address (after the last @), lower case; undefined for the null sender or a bare name. */
export function addressDomain(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at < 0) return undefined;
  const domain = address.slice(at + 1).replace(/[>\s].*$/, "").toLowerCase();
  return domain || undefined;
}

/**
 * Verdicts recorded in an event, as "name:value" (lower case): sender-authentication results under
 * data.authentication / data.auth / data.verdicts (e.g. { dmarc: "fail" } or { dmarc: { result: "fail" } }),
 * so that whatever the verifier records becomes searchable without a change here.
 */
export function recordedVerdicts(data: Obj): string[] {
  const out: string[] = [];
  for (const key of ["authentication", "auth", "verdicts"]) {
    const o = data[key];
    if (!isObj(o)) continue;
    for (const [name, v] of Object.entries(o)) {
      const value = str(v) ?? (isObj(v) ? (str(v.result) ?? str(v.verdict)) : undefined);
      if (value && /^[\w.-]{1,40}$/.test(name)) out.push(`${name}:${value}`);
    }
  }
  return out;
}

/** The facets of one event (deduplicated, capped). Events of no message have none. */
export function facetsOf(event: Pick<AuditEvent, "type" | "auditId" | "data">): Facet[] {
  if (!event.auditId || !isObj(event.data)) return [];
  const d = event.data;
  const out = new Map<string, Facet>();
  const add = (kind: FacetKind, raw: string | undefined): void => {
    if (raw === undefined || out.size >= MAX_FACETS_PER_EVENT) return;
    const value = facetValue(raw);
    if (value !== "") out.set(`${kind}\u0000${value}`, { kind, value });
  };
  const verdict = (v: string): void => add("verdict", v);

  if (event.type === "received") {
    const from = str(d.mailFrom);
    const domain = from ? addressDomain(from) : undefined;
    if (domain) for (const dom of domainAndParents(domain)) add("sender", dom);
  }
  if (event.type === "sanitized") {
    const report = isObj(d.report) ? d.report : undefined;
    const facts = isObj(d.facts) ? d.facts : undefined;
    const attachments = report?.attachments ?? facts?.attachments ?? d.attachments;
    if (Array.isArray(attachments)) {
      for (const a of attachments) {
        if (!isObj(a)) continue;
        const sha = str(a.sha256);
        if (sha && /^[0-9a-f]{64}$/i.test(sha)) add("sha256", sha);
        add("name", str(a.filename));
        add("type", str(a.sniffedType) ?? "unknown");
        if (a.encrypted === true) verdict("ppap");
        if (a.typeMismatch === true) verdict("type-mismatch");
      }
    }
    const links = isObj(report?.links) ? report.links : undefined;
    if (links && Array.isArray(links.urls)) {
      for (const u of links.urls) {
        const url = str(u);
        if (!url) continue;
        add("url", url);
        const host = urlHost(url);
        if (host) for (const dom of domainAndParents(host)) add("domain", dom);
      }
    }
    const rules = Array.isArray(d.rulesApplied) ? d.rulesApplied : [];
    for (const r of rules) if (typeof r === "string") verdict(`rule:${r}`);
    const action = str(d.action);
    if (action) verdict(`action:${action}`);
    const limits = report?.limitsHit ?? d.limitsHit;
    if (Array.isArray(limits)) for (const l of limits) if (typeof l === "string") verdict(`limit:${l}`);
  }
  for (const v of recordedVerdicts(d)) verdict(v);
  return [...out.values()];
}

/** What a search input means for a facet: hashes and domains compared whole, lower case; a leading "@" or "*." of a domain dropped. */
export function normaliseFacetQuery(kind: FacetKind, input: string): string {
  let v = facetValue(input);
  if (kind === "domain" || kind === "sender") v = v.replace(/^@/, "").replace(/^\*\./, "").replace(/\.+$/, "");
  if (kind === "domain" && /^[a-z][a-z0-9+.-]*:\/\//.test(v)) v = urlHost(v) ?? v;
  return v;
}
