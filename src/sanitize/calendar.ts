/**
 * text/calendar (iCalendar, RFC 5545) → readable event summaries, so a
 * text-only gateway does not silently drop meeting invitations. Times are
 * given in Japan time (Asia/Tokyo, +09:00, no daylight saving).
 *
 * SECURITY: the calendar text is sender-controlled. Only a few properties are
 * read, each bounded; nothing is fetched (no URL, no attachment). Unknown time
 * zones are assumed to be Japan time, with a warning. Pure; no clock.
 */
import { JST_OFFSET_MS } from "../lib/japan-time.ts";
import type { CalendarEventSummary } from "./sanitize-types.ts";

/** events rendered from one calendar (real invitations carry one; a bound keeps a hostile file small) */
const MAX_EVENTS = 20;
/** characters kept of one property value */
const MAX_VALUE_CHARS = 500;
/** characters read of one (unfolded) content line */
const MAX_LINE_CHARS = 8192;

/** Windows time zone names seen in Outlook invitations, mapped to IANA names. */
const WINDOWS_ZONES: Record<string, string> = {
  "tokyo standard time": "Asia/Tokyo",
  "utc": "UTC",
  "gmt standard time": "Europe/London",
  "greenwich standard time": "UTC",
  "pacific standard time": "America/Los_Angeles",
  "mountain standard time": "America/Denver",
  "central standard time": "America/Chicago",
  "eastern standard time": "America/New_York",
  "w. europe standard time": "Europe/Berlin",
  "romance standard time": "Europe/Paris",
  "china standard time": "Asia/Shanghai",
  "korea standard time": "Asia/Seoul",
  "singapore standard time": "Asia/Singapore",
  "aus eastern standard time": "Australia/Sydney",
  "india standard time": "Asia/Kolkata",
};

interface Property {
  name: string;
  params: Record<string, string>;
  value: string;
}

function parseLine(line: string): Property | undefined {
  // name *(;param=value) : value — quoted parameter values may contain ':' and ';'
  let i = 0;
  let quoted = false;
  for (; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (c === ":" && !quoted) break;
  }
  if (i >= line.length) return undefined;
  // split the name and parameters on ";" outside quotes, in one pass
  const pieces: string[] = [];
  let piece = "";
  let inQuotes = false;
  for (const c of line.slice(0, i)) {
    if (c === '"') inQuotes = !inQuotes;
    if (c === ";" && !inQuotes) {
      pieces.push(piece);
      piece = "";
    } else piece += c;
  }
  pieces.push(piece);
  const [name = "", ...rawParams] = pieces;
  const params: Record<string, string> = {};
  for (const p of rawParams) {
    const eq = p.indexOf("=");
    if (eq > 0) params[p.slice(0, eq).toUpperCase()] = p.slice(eq + 1).replace(/^"|"$/g, "");
  }
  return { name: name.toUpperCase(), params, value: line.slice(i + 1) };
}

function unescapeText(value: string): string {
  return value
    .replace(/\\[nN]/g, "\n")
    .replace(/\\([,;\\])/g, "$1")
    .slice(0, MAX_VALUE_CHARS);
}

function zoneOffsetMinutes(epoch: number, zone: string): number | undefined {
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(new Date(epoch));
    const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? "0");
    const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
    return Math.round((asUtc - epoch) / 60_000);
  } catch {
    return undefined;
  }
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** ISO 8601 in Japan time, e.g. 2026-12-01T10:00:00+09:00 */
export function toJapanIso(epoch: number): string {
  const d = new Date(epoch + JST_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(
    d.getUTCSeconds(),
  )}+09:00`;
}

function parseTime(prop: Property, warnings: string[]): string | undefined {
  const v = prop.value.trim();
  const date = /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  if (date) return `${date[1]}-${date[2]}-${date[3]}`; // all-day: a date, no time zone
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$/.exec(v);
  if (!m) return undefined;
  const local = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  if (!Number.isFinite(local)) return undefined;
  if (m[7] === "Z") return toJapanIso(local);
  const tzid = (prop.params.TZID ?? "").trim();
  if (!tzid) return toJapanIso(local - JST_OFFSET_MS); // floating time: taken as Japan time
  const zone = WINDOWS_ZONES[tzid.toLowerCase()] ?? tzid.replace(/^\//, "");
  const first = zoneOffsetMinutes(local, zone);
  if (first === undefined) {
    warnings.push(`calendar: unknown time zone ${JSON.stringify(tzid.slice(0, 60))}, taken as Japan time`);
    return toJapanIso(local - JST_OFFSET_MS);
  }
  const second = zoneOffsetMinutes(local - first * 60_000, zone) ?? first;
  return toJapanIso(local - second * 60_000);
}

function organizerOf(prop: Property): string {
  const address = prop.value.replace(/^mailto:/i, "").trim();
  const cn = (prop.params.CN ?? "").trim();
  return (cn ? `${cn} <${address}>` : address).slice(0, MAX_VALUE_CHARS);
}

/** The VEVENTs of a calendar text. */
export function parseCalendar(text: string, warnings: string[]): CalendarEventSummary[] {
  const lines = text.replace(/\r\n?/g, "\n").replace(/\n[ \t]/g, "").split("\n");
  const events: CalendarEventSummary[] = [];
  let current: CalendarEventSummary | undefined;
  let nested = 0; // VALARM and other components inside a VEVENT
  for (const fullLine of lines) {
    // no property we read needs more; a hostile calendar may carry megabyte-long lines
    const line = fullLine.slice(0, MAX_LINE_CHARS);
    const upper = line.trim().toUpperCase();
    if (upper === "BEGIN:VEVENT") {
      current = { summary: "" };
      nested = 0;
      continue;
    }
    if (!current) continue;
    if (upper === "END:VEVENT") {
      events.push(current);
      current = undefined;
      if (events.length >= MAX_EVENTS) break;
      continue;
    }
    if (upper.startsWith("BEGIN:")) nested++;
    else if (upper.startsWith("END:")) nested = Math.max(0, nested - 1);
    if (nested > 0) continue;
    const prop = parseLine(line);
    if (!prop) continue;
    switch (prop.name) {
      case "SUMMARY":
        current.summary = unescapeText(prop.value);
        break;
      case "LOCATION":
        current.location = unescapeText(prop.value);
        break;
      case "ORGANIZER":
        current.organizer = organizerOf(prop);
        break;
      case "DTSTART": {
        const t = parseTime(prop, warnings);
        if (t) current.start = t;
        break;
      }
      case "DTEND": {
        const t = parseTime(prop, warnings);
        if (t) current.end = t;
        break;
      }
      default:
        break;
    }
  }
  return events;
}
