/**
 * Small pure helpers of the console's HTTP edge: cookies, the `next` target of
 * the login page, form fields, the search form. No fastify here.
 *
 * SECURITY: all of these read request input. Cookies and form fields are
 * bounded strings; `safeNext` only lets same-origin paths through (no
 * "//evil", no "/\evil", no scheme), so the login page is not an open redirect.
 */
import type { AuditQuery, MessageStatus } from "../audit/audit-types.ts";
import { FACET_FIELDS } from "../audit/audit-types.ts";
import { jstDayStart } from "../lib/japan-time.ts";
import { messageStatuses, PAGE_SIZE, type SearchForm } from "./pages/messages.ts";
import { parseAuthFilter } from "../authenticate/auth-search.ts";

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (!header || header.length > 8192) return out;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      continue;
    }
    if (!(name in out)) out[name] = value; // the first one wins, as browsers send the most specific first
  }
  return out;
}

export interface CookieOptions {
  secure: boolean;
  maxAgeSeconds?: number;
  httpOnly?: boolean;
}

export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  let out = `${name}=${encodeURIComponent(value)}; Path=/; SameSite=Strict`;
  if (options.httpOnly !== false) out += "; HttpOnly";
  if (options.secure) out += "; Secure";
  if (options.maxAgeSeconds !== undefined) out += `; Max-Age=${options.maxAgeSeconds}`;
  return out;
}

/** A post-login target: a same-origin absolute path, or undefined. */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > 2048) return undefined;
  if (!value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return undefined;
  if (/[\u0000-\u001F\\]/.test(value)) return undefined;
  if (value.startsWith("/login") || value.startsWith("/logout")) return undefined;
  return value;
}

/** A form or query field as a trimmed string of at most `max` characters ("" when absent or not a string). */
export function field(source: unknown, name: string, max = 256): string {
  if (typeof source !== "object" || source === null) return "";
  const value = (source as Record<string, unknown>)[name];
  if (typeof value !== "string") return "";
  return value.trim().slice(0, max);
}

const DAY_MS = 86_400_000;

/** Reads the search form from the query string; `error` names a field that does not parse. */
export function parseSearch(query: unknown): { form: SearchForm; audit: AuditQuery; error?: string } {
  const form: SearchForm = { page: 1 };
  const audit: AuditQuery = { limit: PAGE_SIZE, offset: 0 };
  let error: string | undefined;
  const since = field(query, "since", 10);
  const until = field(query, "until", 10);
  if (since) {
    form.since = since;
    const d = jstDayStart(since);
    if (d) audit.since = d;
    else error = "since";
  }
  if (until) {
    form.until = until;
    const d = jstDayStart(until);
    if (d) audit.until = new Date(d.getTime() + DAY_MS); // through the end of that Japan-time day
    else error = "until";
  }
  for (const [name, key] of [["from", "from"], ["to", "to"], ["subject", "subject"]] as const) {
    const v = field(query, name);
    if (v) {
      form[name] = v;
      audit[key] = v;
    }
  }
  const id = field(query, "id", 64);
  if (id) {
    form.id = id;
    audit.auditId = id;
  }
  // what was removed or disarmed (facets): a hash is 64 hex digits, the rest any text the index compares
  const sha256 = field(query, "sha256", 64);
  if (sha256) {
    form.sha256 = sha256;
    if (/^[0-9a-fA-F]{64}$/.test(sha256)) audit.sha256 = sha256;
    else error = "sha256";
  }
  for (const [name, key] of FACET_FIELDS) {
    const v = field(query, name, name === "url" ? 2048 : 256);
    if (v) {
      form[name] = v;
      audit[key] = v;
    }
  }
  const status = field(query, "status", 20);
  if (status) {
    form.status = status;
    if ((messageStatuses as string[]).includes(status)) audit.status = status as MessageStatus;
    else error = "status";
  }
  const auth = field(query, "auth", 40);
  if (auth) {
    form.auth = auth;
    if (typeof parseAuthFilter(auth) === "string") error = "auth";
  }
  const page = Number.parseInt(field(query, "page", 6) || "1", 10);
  form.page = Number.isFinite(page) && page >= 1 ? Math.min(page, 100_000) : 1;
  audit.offset = (form.page - 1) * PAGE_SIZE;
  return error ? { form, audit, error } : { form, audit };
}
