/**
 * The matchers rule conditions are built from: globs, address patterns,
 * networks, sizes, days and times. Pure functions, no I/O.
 *
 * SECURITY: every function here runs for every message against
 * sender-controlled strings (addresses, subject, attachment names). None uses
 * a regular expression built from operator input: the glob matcher is the
 * classic greedy two-pointer algorithm, O(pattern × text) in the worst case and
 * never exponential, and the text it sees is capped (MAX_MATCH_CHARS), so a
 * crafted subject cannot make a rule freeze the gateway. Validation of the
 * patterns themselves (which are operator input) lives in rules-file.ts.
 */
import { editDistance } from "../lib/edit-distance.ts";
import { BlockList, isIP } from "node:net";
import { JST_OFFSET_MS } from "../lib/japan-time.ts";

/**
 * Characters of a sender-controlled string a pattern is matched against.
 * RFC 5322 lines are at most 998 characters; a subject folded over several
 * lines can be longer, but nothing an operator would match on lies beyond
 * this point, and it bounds the matcher's work to ~4096 × pattern length.
 */
export const MAX_MATCH_CHARS = 4096;

/**
 * Normalises a string for case- and width-insensitive matching: NFKC folds
 * full-width ASCII (ＡＢＣ) and half-width kana into their usual forms, which
 * Japanese mail mixes freely; then lower case.
 */
export function fold(value: string): string {
  const capped = value.length > MAX_MATCH_CHARS ? value.slice(0, MAX_MATCH_CHARS) : value;
  return capped.normalize("NFKC").toLowerCase();
}

/**
 * Glob match of `text` against `pattern` (both already folded): `*` any run of
 * characters (also empty), `?` exactly one character, everything else itself.
 * Greedy with one backtrack point (the last `*`): linear in practice,
 * O(|pattern| × |text|) at worst.
 */
const SURROGATE_RE = /[\uD800-\uDFFF]/;

export function globMatch(pattern: string, text: string): boolean {
  // index by code point (so "?" is one character, even outside the BMP); plain strings need no split
  const astral = SURROGATE_RE.test(pattern) || SURROGATE_RE.test(text);
  const p: ArrayLike<string> = astral ? Array.from(pattern) : pattern;
  const t: ArrayLike<string> = astral ? Array.from(text) : text;
  let pi = 0;
  let ti = 0;
  let starP = -1;
  let starT = 0;
  while (ti < t.length) {
    const pc = p[pi];
    if (pc === "*") {
      starP = pi++;
      starT = ti;
    } else if (pc !== undefined && (pc === "?" || pc === t[ti])) {
      pi++;
      ti++;
    } else if (starP >= 0) {
      pi = starP + 1;
      ti = ++starT;
    } else {
      return false;
    }
  }
  while (p[pi] === "*") pi++;
  return pi === p.length;
}

/** An address folded for matching (see fold) and its domain. */
export interface SplitAddress {
  address: string;
  /** after the last "@"; "" when none */
  domain: string;
}

/** An envelope or header address pattern, compiled. */
export interface AddressPattern {
  /** as the operator wrote it */
  source: string;
  /** takes an address already split once per message (splitAddress) */
  test(address: SplitAddress): boolean;
}

/** Folded address and its domain (after the last "@"); "" for the null sender. */
export function splitAddress(address: string): SplitAddress {
  const a = fold(address.trim().replace(/^<(.*)>$/, "$1"));
  const at = a.lastIndexOf("@");
  return { address: a, domain: at >= 0 ? a.slice(at + 1) : "" };
}

const DOMAIN_PATTERN_RE = /^[\p{L}\p{N}*?_-]+(\.[\p{L}\p{N}*?_-]+)*$/u;
const LOCAL_PATTERN_RE = /^[^\s@<>()\[\]\\,;:"\p{Cc}]+$/u;

/**
 * Compiles an address pattern, or returns why it is not one:
 * - `user@example.jp`, `*@example.jp`, `*@*.example.jp`: glob on the whole address;
 * - `@example.jp`: the same as `*@example.jp`;
 * - `example.jp`, `*.example.jp` (no "@"): glob on the domain only;
 * - `<>`: the null sender (bounces).
 * Matching is case-insensitive and width-insensitive (NFKC).
 */
export function compileAddressPattern(source: string): AddressPattern | string {
  const raw = source.trim();
  if (raw === "") return "an empty address pattern matches nothing; write e.g. *@example.jp";
  if (raw === "<>") return { source, test: (a) => a.address === "" };
  const folded = fold(raw.startsWith("@") ? `*${raw}` : raw);
  const ats = folded.split("@").length - 1;
  if (ats > 1) return `"${source}" has more than one "@"`;
  if (ats === 1) {
    const [local = "", domain = ""] = folded.split("@");
    if (!LOCAL_PATTERN_RE.test(local)) return `"${source}": the part before "@" is empty or has spaces or characters not allowed in an address`;
    if (!DOMAIN_PATTERN_RE.test(domain)) return `"${source}": "${domain}" is not a domain pattern (letters, digits, "-", ".", "*", "?"; no empty labels)`;
    return { source, test: (a) => globMatch(folded, a.address) };
  }
  if (!DOMAIN_PATTERN_RE.test(folded)) return `"${source}" is neither an address (x@example.jp) nor a domain (example.jp, *.example.jp)`;
  return { source, test: (a) => globMatch(folded, a.domain) };
}

/** A set of networks, compiled to a BlockList (exact, no string tricks). */
export interface NetworkSet {
  sources: string[];
  test(address: string): boolean;
}

/** Strips an IPv4-mapped IPv6 prefix ("::ffff:192.0.2.1" → "192.0.2.1"), as smtp-server may report it. */
export function plainAddress(address: string): string {
  const a = address.trim().replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return mapped ? mapped[1]! : a;
}

/** Validates one network ("192.0.2.0/24", "2001:db8::/32", a single address); returns why not, or undefined. */
export function networkProblem(source: string): string | undefined {
  const [addr = "", prefix, extra] = source.trim().split("/");
  if (extra !== undefined) return `"${source}" is not a network: more than one "/"`;
  const family = isIP(addr);
  if (family === 0) return `"${source}" is not a network: "${addr}" is not an IPv4 or IPv6 address`;
  if (prefix === undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${source}" is not a network: the prefix length must be 0–${max}`;
  return undefined;
}

export function compileNetworks(sources: string[]): NetworkSet {
  const list = new BlockList();
  for (const source of sources) {
    const [addr = "", prefix] = source.trim().split("/");
    const family = isIP(addr) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(prefix), family);
  }
  return {
    sources,
    test(address) {
      const a = plainAddress(address);
      const family = isIP(a);
      if (family === 0) return false;
      return list.check(a, family === 6 ? "ipv6" : "ipv4");
    },
  };
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** "10MB", "512 KB", 2048 → bytes (1 KB = 1024 bytes); or why not. */
export function parseSize(value: unknown): number | string {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : `${value} is not a whole number of bytes`;
  if (typeof value !== "string") return "a size is a number of bytes or text like 10MB";
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return `"${value}" is not a size (examples: 2048, 500KB, 10MB, 1GB)`;
  return Math.round(Number(m[1]) * unit);
}

export const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const FULL_DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const DAY_ALIASES: Record<string, number[]> = {
  weekdays: [1, 2, 3, 4, 5],
  weekend: [0, 6],
  日: [0], 月: [1], 火: [2], 水: [3], 木: [4], 金: [5], 土: [6],
  平日: [1, 2, 3, 4, 5],
  週末: [0, 6],
  土日: [0, 6],
};

/** "mon", "Monday", "月", "weekdays" → day numbers (0 = Sunday); or why not. */
export function parseDay(value: string): number[] | string {
  const v = value.trim().toLowerCase();
  const alias = DAY_ALIASES[v] ?? DAY_ALIASES[value.trim()];
  if (alias) return alias;
  const idx = DAY_NAMES.findIndex((d, i) => v === d || v === FULL_DAY_NAMES[i]);
  if (idx >= 0) return [idx];
  return `"${value}" is not a day (mon … sun, 月 … 日, weekdays, weekend)`;
}

/** "08:30-17:15" → minutes of the day [start, end); wraps midnight when start > end; or why not. */
export function parseTimeRange(value: string): { start: number; end: number } | string {
  const m = /^\s*(\d{1,2}):(\d{2})\s*[-–〜~]\s*(\d{1,2}):(\d{2})\s*$/.exec(value);
  if (!m) return `"${value}" is not a time range (write e.g. 08:30-17:15, Japan time)`;
  const [h1, m1, h2, m2] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  if (h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59 || (h1 === 24 && m1 > 0) || (h2 === 24 && m2 > 0))
    return `"${value}": hours are 0–24 and minutes 0–59`;
  const start = h1 * 60 + m1;
  const end = h2 * 60 + m2;
  if (start === end) return `"${value}" is empty (start equals end); leave "time" out to match all day`;
  return { start, end };
}

export function inTimeRange(range: { start: number; end: number }, minute: number): boolean {
  return range.start < range.end ? minute >= range.start && minute < range.end : minute >= range.start || minute < range.end;
}

/** Day of week (0 = Sunday) and minute of the day in Japan time. */
export function japanClock(now: Date): { day: number; minute: number } {
  const t = new Date(now.getTime() + JST_OFFSET_MS);
  return { day: t.getUTCDay(), minute: t.getUTCHours() * 60 + t.getUTCMinutes() };
}

/** "2026-11-26 10:00 JST (thu)", for `rules test`. */
export function japanClockLabel(now: Date): string {
  const t = new Date(now.getTime() + JST_OFFSET_MS);
  return `${t.toISOString().slice(0, 16).replace("T", " ")} JST (${DAY_NAMES[t.getUTCDay()]})`;
}

export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase().replace(/-/g, "_").slice(0, 64); // a key is short; the table is length × length
  for (const c of candidates) {
    const d = editDistance(w, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}
