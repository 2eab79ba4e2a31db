/**
 * Refused console requests as audit events, rate-limited so that a flood of
 * them cannot fill the audit store.
 *
 * A refusal is a request the console understood and declined: no login for a
 * state change, a role without the permission, a bad CSRF token, another
 * site's Origin, a login refused by its rate limit, and requests over a limit
 * (body, URL, headers) or of a body type it does not accept. Each becomes one
 * `admin` event, data.action "refused", with the account (if any), the client
 * address, the method, the route pattern and the path (capped, made
 * display-safe, never the query string, which holds search terms).
 *
 * Bounds: per client address and reason at most PER_KEY events a window
 * (a minute); what is over it is counted and written as one summary event
 * (data.action "refused-suppressed", "N more refused requests from A") when
 * the window has ended. Across all addresses at most TOTAL events a window
 * (a spray of addresses cannot multiply the bound), then one summary for all.
 * So a flood writes at most TOTAL + 1 events a minute, whatever its size.
 * Windows are swept on every refusal, by the server's timer and at close, so
 * a summary is written even when the flood stops.
 *
 * SECURITY: method and path are request input: cut to a fixed length and made
 * display-safe here, before they reach the store. Pure except for the
 * injected clock and the audit sink. A crash loses at most the counts of the
 * current window (the events themselves went to the sink at once).
 */
import type { AuditEventInput, AuditSink } from "../audit/audit-types.ts";
import { displaySafe } from "../lib/display-safe.ts";

export type RefusalReason =
  /** a POST to a page that needs a login, without a logged-in session */
  | "no-session"
  /** the account's role lacks the permission */
  | "role"
  /** the CSRF token is missing or wrong (or the form's session expired) */
  | "csrf-token"
  /** Origin / Sec-Fetch-Site name another site */
  | "cross-origin"
  /** a login refused by the per-address or per-account failure limit */
  | "login-limited"
  /** a login refused because too many password checks are waiting */
  | "login-busy"
  | "body-too-large"
  | "uri-too-long"
  | "headers-too-large"
  | "unsupported-media-type";

export interface Refusal {
  reason: RefusalReason;
  status: number;
  ip: string;
  method: string;
  /** the route pattern, e.g. "/queue/:id/:action", when a route matched */
  route?: string | undefined;
  /** the request target as sent (the query string is dropped here) */
  path: string;
  /** the logged-in account */
  user?: string | undefined;
  /** the account a login form named */
  account?: string | undefined;
}

export interface RefusalRecorder {
  refused(refusal: Refusal): void;
  /** writes the summaries of the windows that have ended (all of them with `all`, at close) */
  sweep(all?: boolean): void;
}

/** Events per client address and reason in one window: enough to see what was tried, not a flood. */
export const PER_KEY = 10;
/** Events for all addresses in one window: a spray of addresses is bounded as well. */
export const TOTAL = 100;
export const WINDOW_MS = 60_000;
/** Address/reason pairs tracked at most; past it the oldest window is closed early (its summary written). */
const MAX_KEYS = 10_000;
/** Longest path recorded; longer ones are cut and marked with "…". */
export const MAX_PATH = 200;

/** The path of a request target, without its query, cut to MAX_PATH and made display-safe. */
export function shownPath(target: string): string {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  return displaySafe(path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}…` : path);
}

interface Window {
  start: number;
  recorded: number;
  suppressed: number;
  ip: string;
  reason: RefusalReason;
}

export function createRefusalRecorder(options: {
  audit: Pick<AuditSink, "record">;
  now: () => number;
  perKey?: number;
  total?: number;
  windowMs?: number;
  maxKeys?: number;
}): RefusalRecorder {
  const { audit, now } = options;
  const perKey = options.perKey ?? PER_KEY;
  const total = options.total ?? TOTAL;
  const windowMs = options.windowMs ?? WINDOW_MS;
  const maxKeys = options.maxKeys ?? MAX_KEYS;
  /** Insertion order is window start order: a window is re-inserted when it starts again. */
  const windows = new Map<string, Window>();
  let all = { start: now(), recorded: 0, suppressed: 0 };

  /** records within the budget of all addresses; false when it is spent */
  const write = (event: AuditEventInput): boolean => {
    if (all.recorded >= total) return false;
    all.recorded++;
    audit.record(event);
    return true;
  };

  const close = (w: Window) => {
    if (w.suppressed === 0) return;
    const event: AuditEventInput = {
      type: "admin",
      data: { action: "refused-suppressed", reason: w.reason, ip: w.ip, suppressed: w.suppressed, since: new Date(w.start).toISOString() },
    };
    if (!write(event)) all.suppressed += w.suppressed;
  };

  const sweep = (everything = false) => {
    const t = now();
    for (const [key, w] of windows) {
      if (!everything && t - w.start < windowMs) break; // later windows started later
      windows.delete(key);
      close(w);
    }
    if (everything || t - all.start >= windowMs) {
      if (all.suppressed > 0) {
        // always written: one event a window, however many addresses
        audit.record({ type: "admin", data: { action: "refused-suppressed", reason: "*", ip: "*", suppressed: all.suppressed, since: new Date(all.start).toISOString() } });
      }
      all = { start: t, recorded: 0, suppressed: 0 };
    }
  };

  return {
    refused(r) {
      sweep();
      const ip = displaySafe(r.ip.slice(0, 64));
      const key = `${ip} ${r.reason}`;
      let w = windows.get(key);
      if (!w) {
        w = { start: now(), recorded: 0, suppressed: 0, ip, reason: r.reason };
        windows.set(key, w);
        if (windows.size > maxKeys) {
          const [oldestKey, oldest] = windows.entries().next().value!;
          windows.delete(oldestKey);
          close(oldest);
        }
      }
      if (w.recorded >= perKey) {
        w.suppressed++;
        return;
      }
      const data: Record<string, unknown> = {
        action: "refused",
        reason: r.reason,
        status: r.status,
        ip,
        method: displaySafe(r.method.slice(0, 16)),
        ...(r.route !== undefined ? { route: r.route } : {}),
        path: shownPath(r.path),
        ...(r.account ? { account: displaySafe(r.account.slice(0, 64)) } : {}),
      };
      if (write({ type: "admin", ...(r.user ? { actor: `admin:${r.user}` } : {}), data })) w.recorded++;
      else all.suppressed++;
    },
    sweep,
  };
}
