/**
 * Decoding of header blocks: unfolding, raw 8-bit bytes, RFC 2047 encoded
 * words (adjacent words of one charset joined before decoding, so a character
 * split across two words decodes whole), structured values with RFC 2231
 * parameters, address lists, dates and message ids.
 *
 * SECURITY: every byte here is sender-controlled. Values come out as plain
 * strings that may contain anything (CR, LF, controls): callers must pass them
 * through display-safe and the header encoder, never into output verbatim.
 * Regular expressions are linear (no nested quantifiers); counts are bounded.
 * Pure functions.
 */
import addressparser from "nodemailer/lib/addressparser";
import type { Address } from "./sanitize-types.ts";
import { decodeText } from "./charset.ts";
import { isWritableAddress } from "./header-encode.ts";

export interface HeaderField {
  /** lower-case field name */
  name: string;
  /** unfolded value, raw 8-bit bytes already decoded to text, encoded words NOT yet decoded */
  value: string;
}

/** at most this many parameters are read from one structured header (real ones have < 10) */
const MAX_PARAMS = 64;
/** RFC 2231 continuations beyond this index are ignored (a file name never needs more) */
const MAX_CONTINUATIONS = 256;
/** addresses kept from one address header */
const MAX_ADDRESSES = 500;

/**
 * Splits a header block into fields. Lines that are not `name: value` (junk,
 * an mbox "From " line) are skipped with a warning. Raw 8-bit values are
 * decoded by guessing (UTF-8, then CP932 / EUC-JP).
 */
export function parseHeaderBlock(raw: Buffer, warnings: string[], junkLines?: string[]): HeaderField[] {
  const fields: HeaderField[] = [];
  const text = raw.toString("latin1");
  const lines = text.split(/\r?\n|\r/);
  let current: { name: string; parts: string[] } | undefined;
  const flush = (): void => {
    if (!current) return;
    const latin = current.parts.join("");
    let value = latin;
    if (/[\x80-\xff]/.test(latin)) {
      const decoded = decodeText(Buffer.from(latin, "latin1"), undefined);
      value = decoded.text;
      warnings.push(`raw 8-bit header ${current.name}: decoded as ${decoded.used}`);
    }
    fields.push({ name: current.name, value: value.trim() });
    current = undefined;
  };
  let junk = 0;
  for (const line of lines) {
    if (line === "") continue;
    if (/^[ \t]/.test(line)) {
      if (current) current.parts.push(line);
      continue;
    }
    flush();
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trim() : "";
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) {
      junk++;
      junkLines?.push(line);
      continue;
    }
    current = { name: name.toLowerCase(), parts: [line.slice(colon + 1)] };
  }
  flush();
  if (junk > 0) warnings.push(`${junk} malformed header line(s) ignored`);
  return fields;
}

export function firstField(fields: HeaderField[], name: string): string | undefined {
  return fields.find((f) => f.name === name)?.value;
}

const ENCODED_WORD = /=\?([^?\s]{1,64})\?([BbQq])\?([^?\s]*)\?=/g;

function decodeQ(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "_") bytes.push(0x20);
    else if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

function decodeB(text: string): Buffer {
  return Buffer.from(text.replace(/[^A-Za-z0-9+/]/g, ""), "base64");
}

/**
 * Decodes RFC 2047 encoded words. Whitespace between adjacent encoded words is
 * dropped (RFC 2047 6.2); adjacent words of the same charset are joined as
 * bytes before decoding, so multi-byte characters split between words survive.
 */
export function decodeWords(value: string, charsetsSeen?: Set<string>): string {
  if (!value.includes("=?")) return value;
  let out = "";
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | undefined;
  const flushPending = (): void => {
    if (!pending) return;
    out += decodeText(Buffer.concat(pending.bytes), pending.charset).text;
    pending = undefined;
  };
  for (const match of value.matchAll(ENCODED_WORD)) {
    const index = match.index ?? 0;
    const between = value.slice(last, index);
    const charset = (match[1] ?? "").replace(/\*.*$/, "").toLowerCase();
    charsetsSeen?.add(charset);
    const bytes = (match[2] ?? "").toUpperCase() === "B" ? decodeB(match[3] ?? "") : decodeQ(match[3] ?? "");
    const adjacent = pending !== undefined && /^[ \t\r\n]*$/.test(between);
    if (adjacent && pending && pending.charset === charset) {
      pending.bytes.push(bytes);
    } else {
      flushPending();
      if (!adjacent) out += between;
      pending = { charset, bytes: [bytes] };
    }
    last = index + match[0].length;
  }
  flushPending();
  out += value.slice(last);
  return out;
}

export interface Structured {
  /** lower-case main value, e.g. "text/plain" */
  value: string;
  params: Record<string, string>;
}

/** Splits on `;` outside quoted strings. */
function splitParams(value: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\\" && quoted && i + 1 < value.length) {
      current += c + value[i + 1];
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      current += c;
    } else if (c === ";" && !quoted) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.startsWith('"')) return v.slice(1, v.endsWith('"') && v.length > 1 ? -1 : undefined).replace(/\\(.)/g, "$1");
  return v;
}

function percentDecode(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "%" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      const code = c.charCodeAt(0);
      if (code < 0x80) bytes.push(code);
      else bytes.push(...Buffer.from(c, "utf8"));
    }
  }
  return Buffer.from(bytes);
}

/**
 * Parses `type/sub; a=b; name*0*=utf-8''%E3%81; name*1*=%82` into a value and
 * parameters, joining RFC 2231 continuations and decoding their charset; plain
 * values carrying RFC 2047 words (a common violation) are decoded too.
 */
export function parseStructured(raw: string, charsetsSeen?: Set<string>): Structured {
  const [head = "", ...rest] = splitParams(raw);
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  const continued = new Map<string, { index: number; encoded: boolean; value: string }[]>();
  for (const part of rest.slice(0, MAX_PARAMS)) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = unquote(part.slice(eq + 1));
    const m = /^([^*]+)(?:\*(\d{1,3}))?(\*)?$/.exec(key);
    if (!m) continue;
    const base = m[1]!;
    if (m[2] === undefined && m[3] === undefined) {
      if (!(base in params)) params[base] = decodeWords(value, charsetsSeen);
      continue;
    }
    const index = m[2] === undefined ? 0 : Number(m[2]);
    if (index > MAX_CONTINUATIONS) continue;
    const list = continued.get(base) ?? [];
    list.push({ index, encoded: m[3] === "*", value });
    continued.set(base, list);
  }
  for (const [base, list] of continued) {
    list.sort((a, b) => a.index - b.index);
    let charset = "utf-8";
    // the segments are joined BEFORE percent-decoding: senders split inside "%XX"
    // escapes and inside multi-byte characters, and both must come out whole
    let joined = "";
    list.forEach((seg, i) => {
      let v = seg.value;
      if (seg.encoded) {
        if (i === 0) {
          const m = /^([^']*)'[^']*'(.*)$/s.exec(v);
          if (m) {
            charset = m[1] || charset;
            v = m[2] ?? "";
          }
        }
        joined += v;
      } else joined += [...Buffer.from(v, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    });
    charsetsSeen?.add(charset.toLowerCase());
    // an RFC 2231 value wins over a plain one of the same name (RFC 2231 says it carries more)
    params[base] = decodeWords(decodeText(percentDecode(joined), charset).text, charsetsSeen);
  }
  return { value: head.trim().toLowerCase(), params };
}

/**
 * A syntactically valid addr-spec that the header encoder writes as it is:
 * printable ASCII only (one definition, in header-encode). A quoted local part
 * with non-ASCII characters is not one: written byte by byte it once became
 * CR/LF/NUL inside the header block.
 */
export function isValidAddress(address: string): boolean {
  return isWritableAddress(address);
}

/** Parses an address list; names decoded; invalid addresses kept as name with address "". */
export function parseAddressList(raw: string | undefined, charsetsSeen?: Set<string>): Address[] {
  if (!raw) return [];
  let parsed: { name: string; address: string }[];
  try {
    parsed = addressparser(raw, { flatten: true });
  } catch {
    return [{ name: decodeWords(raw, charsetsSeen), address: "" }];
  }
  const out: Address[] = [];
  for (const entry of parsed.slice(0, MAX_ADDRESSES)) {
    const name = decodeWords(entry.name ?? "", charsetsSeen).trim();
    const address = (entry.address ?? "").trim();
    if (isValidAddress(address)) out.push({ name, address });
    else if (name || address) out.push({ name: name || decodeWords(address, charsetsSeen), address: "" });
  }
  return out;
}

const MSG_ID = /<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}@[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-[\]:]{1,200})>/g;

/** The syntactically valid msg-ids in a header value (without angle brackets). */
export function extractMsgIds(raw: string | undefined, max = 100): string[] {
  if (!raw) return [];
  const ids: string[] = [];
  for (const m of raw.matchAll(MSG_ID)) {
    ids.push(m[1]!);
    if (ids.length >= max) break;
  }
  return ids;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const ZONES: Record<string, number> = {
  ut: 0, gmt: 0, z: 0, utc: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420, jst: 540,
};

export interface ParsedDate {
  /** milliseconds since the epoch */
  epoch: number;
  /** the zone offset of the original, in minutes east of UTC */
  offset: number;
}

/** Parses an RFC 5322 date (obsolete zones and two-digit years included); undefined when invalid. */
export function parseDate(raw: string | undefined): ParsedDate | undefined {
  if (!raw) return undefined;
  const m =
    /^\s*(?:[A-Za-z]{3},?\s*)?(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([+-]\d{4}|[A-Za-z]{1,5}))?/.exec(
      raw.slice(0, 200),
    );
  if (!m) return undefined;
  const day = Number(m[1]);
  const month = MONTHS.indexOf((m[2] ?? "").toLowerCase());
  let year = Number(m[3]);
  if ((m[3] ?? "").length === 2) year += year < 50 ? 2000 : 1900;
  else if ((m[3] ?? "").length === 3) year += 1900;
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6] ?? "0");
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970 || year > 9999) return undefined;
  let offset = 0;
  const zone = m[7];
  if (zone && /^[+-]\d{4}$/.test(zone)) {
    const hh = Number(zone.slice(1, 3));
    const mm = Number(zone.slice(3, 5));
    if (hh > 23 || mm > 59) return undefined;
    offset = (zone[0] === "-" ? -1 : 1) * (hh * 60 + mm);
  } else if (zone) offset = ZONES[zone.toLowerCase()] ?? 0;
  const epoch = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
  if (!Number.isFinite(epoch)) return undefined;
  return { epoch, offset };
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Formats an instant as an RFC 5322 date-time in the given zone offset (minutes east of UTC). */
export function formatDate(epoch: number, offset = 0): string {
  const d = new Date(epoch + offset * 60_000);
  const p2 = (n: number): string => String(n).padStart(2, "0");
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTH_NAMES[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(
    d.getUTCMinutes(),
  )}:${p2(d.getUTCSeconds())} ${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
}
