/**
 * Searching the audit trail by authentication verdict ("every DMARC failure
 * this week"), for the console and the CLI, without a column of its own in the
 * audit stores: the messages matching the ordinary query (date range, sender …)
 * are read newest first, at most `scanLimit` of them, and kept when the
 * verdict in their "sanitized" event matches. The result says how many were
 * scanned and whether the scan stopped at the limit, so that a partial answer
 * is never shown as complete.
 *
 * SECURITY: the filter is parsed from a closed vocabulary (method=result
 * words); the events are read by type and field, never interpreted as code.
 * Crash state: read-only.
 */
import type { AuditQuery, AuditReader, MessageSummary } from "../audit/audit-types.ts";
import { authResults, type AuthResult } from "./auth-types.ts";

export const authMethods = ["spf", "dkim", "dmarc", "arc"] as const;
export type AuthMethod = (typeof authMethods)[number];

export interface AuthFilter {
  method: AuthMethod;
  results: AuthResult[];
}

/** "dmarc=fail" or "spf=fail,softfail" → a filter, or a message saying what is wrong */
export function parseAuthFilter(text: string): AuthFilter | string {
  const m = /^([a-z]+)=([a-z,]+)$/.exec(text.trim().toLowerCase());
  if (!m) return `"${text}": write method=result, e.g. dmarc=fail (methods: ${authMethods.join(", ")})`;
  const method = m[1] as AuthMethod;
  if (!authMethods.includes(method)) return `"${m[1]}" is not a method (${authMethods.join(", ")})`;
  const results = m[2]!.split(",").filter(Boolean);
  const bad = results.find((r) => !(authResults as readonly string[]).includes(r));
  if (bad !== undefined || results.length === 0) return `"${bad ?? ""}" is not a result (${authResults.join(", ")})`;
  return { method, results: results as AuthResult[] };
}

/** the verdict word of `method` in a message's events (the last "sanitized" event with one), or undefined */
export function verdictWord(events: readonly { type: string; data?: unknown }[], method: AuthMethod): string | undefined {
  let word: string | undefined;
  for (const e of events) {
    if (e.type !== "sanitized" || typeof e.data !== "object" || e.data === null) continue;
    const auth = (e.data as { auth?: unknown }).auth;
    if (typeof auth !== "object" || auth === null) continue;
    if (method === "dkim") {
      const sigs = (auth as { dkim?: unknown }).dkim;
      if (!Array.isArray(sigs)) continue;
      const results = sigs.map((s) => (typeof s === "object" && s !== null ? (s as { result?: unknown }).result : undefined));
      word = results.length === 0 ? "none" : results.includes("pass") ? "pass" : typeof results[0] === "string" ? results[0] : undefined;
      continue;
    }
    const r = (auth as Record<string, { result?: unknown } | undefined>)[method]?.result;
    if (typeof r === "string") word = r;
  }
  return word;
}

export interface AuthSearchResult {
  /** matching messages among those scanned */
  total: number;
  rows: MessageSummary[];
  /** messages whose verdict was looked at */
  scanned: number;
  /** true when more messages matched the query than were scanned */
  truncated: boolean;
}

/** messages matching `query` whose verdict matches `filter`, newest first (query.limit/offset apply to the filtered rows) */
export async function searchByAuth(
  reader: Pick<AuditReader, "search" | "story">,
  query: AuditQuery,
  filter: AuthFilter,
  scanLimit = 5_000,
): Promise<AuthSearchResult> {
  const page = 200;
  const matched: MessageSummary[] = [];
  let scanned = 0;
  let truncated = false;
  for (let offset = 0; ; offset += page) {
    const { total, rows } = await reader.search({ ...query, limit: page, offset });
    for (const row of rows) {
      if (scanned >= scanLimit) break;
      scanned++;
      const word = verdictWord(await reader.story(row.auditId), filter.method);
      if (word !== undefined && (filter.results as string[]).includes(word)) matched.push(row);
    }
    if (scanned >= scanLimit) {
      truncated = total > scanned;
      break;
    }
    if (rows.length < page || offset + page >= total) break;
  }
  const start = query.offset ?? 0;
  return { total: matched.length, rows: matched.slice(start, start + (query.limit ?? 50)), scanned, truncated };
}
