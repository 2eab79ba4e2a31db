/**
 * Lists an administrator keeps next to the rules so a known-bad file or a
 * phishing domain can be blocked in seconds: attachment SHA-256 hashes, link
 * domains, sender domains. Written inline in a rule or in a file of their own
 * (one entry a line, `#` starts a comment), parsed here into a set that
 * answers "which entry matched, from which file and line" — the audit trail
 * names it.
 *
 * Domains match with their subdomains, by whole labels: `example.com` matches
 * `example.com` and `a.example.com`, never `badexample.com`. Both sides are
 * compared as lower-case ASCII (IDN as punycode), so `例え.jp` in a list
 * matches a link written either way.
 *
 * SECURITY: a list file is operator input (trusted to be well meant, not well
 * formed): every line is validated (a hash that is not 64 hex characters, a
 * domain that is not one, is an error with file:line), and lists are bounded
 * (bytes, entries, line length) so a wrong file (a log, a dump) is refused
 * rather than loaded. Matching is a Set lookup per domain label: linear in the
 * sender-controlled input, whatever the list's size. Pure, no I/O.
 */
import { domainToASCII } from "node:url";

export type ListKind = "attachment_sha256" | "link_domain" | "sender_domain";

/** one entry's origin: "lists/bad-hashes.txt:12", or the rules file's line for an inline entry */
export interface ListEntry {
  value: string;
  source: string;
}

export interface ListProblem {
  line: number;
  column: number;
  message: string;
}

/** A compiled list: its entries by value. */
export interface EntryList {
  kind: ListKind;
  /** entry value → where it was written (the first occurrence) */
  entries: ReadonlyMap<string, ListEntry>;
}

/**
 * Bounds of one list file. 100,000 entries is a large threat-intelligence feed
 * (6.4 MB of hashes); a file beyond that is almost certainly the wrong file.
 * A line is an entry and an optional note: 512 characters is far beyond a
 * 253-character domain or a 64-character hash with a file name after it.
 */
export const MAX_LIST_BYTES = 16 * 1024 * 1024;
export const MAX_LIST_ENTRIES = 100_000;
export const MAX_LIST_LINE_CHARS = 512;

const HASH_RE = /^[0-9a-f]{64}$/i;
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** "A.Example.COM." / "例え.jp" / "*.example.com" → "a.example.com" / "xn--r8jz45g.jp" / "example.com"; or why not. */
export function normaliseDomain(value: string): string | { problem: string } {
  const raw = value.trim().normalize("NFKC").replace(/^\*?\./, "").replace(/\.$/, "");
  if (raw === "") return { problem: "an empty domain" };
  if (/[*?@/:\s]/.test(raw)) return { problem: `"${value}" is not a domain (write it alone, e.g. example.com; subdomains are included; no * or @ or URL)` };
  const ascii = domainToASCII(raw.toLowerCase());
  if (ascii === "" || ascii.length > 253) return { problem: `"${value}" is not a valid domain name` };
  const labels = ascii.split(".");
  if (labels.length < 2) return { problem: `"${value}" is a top-level domain alone; it would match every domain under it (write at least two labels, e.g. example.com)` };
  if (!labels.every((l) => LABEL_RE.test(l))) return { problem: `"${value}" is not a valid domain name (letters, digits and "-" between dots)` };
  return ascii;
}

/** "E3B0…" → "e3b0…"; or why not. */
export function normaliseHash(value: string): string | { problem: string } {
  const v = value.trim();
  if (HASH_RE.test(v)) return v.toLowerCase();
  return { problem: `"${v.length > 80 ? `${v.slice(0, 80)}…` : v}" is not a SHA-256 hash (64 hexadecimal characters)${v.length === 64 ? "" : `, it has ${v.length}`}` };
}

export function normaliseEntry(kind: ListKind, value: string): string | { problem: string } {
  return kind === "attachment_sha256" ? normaliseHash(value) : normaliseDomain(value);
}

/**
 * A list file's text → its entries, or every problem with its line. Blank
 * lines and `#` comments are ignored; a hash may be followed by a note
 * (as `sha256sum` prints: `HASH  file.xlsx`), a domain stands alone.
 */
export function parseListText(kind: ListKind, text: string, sourceName: string): { entries: ListEntry[]; problems: ListProblem[] } {
  const entries: ListEntry[] = [];
  const problems: ListProblem[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const n = i + 1;
    if (line.length > MAX_LIST_LINE_CHARS) {
      problems.push({ line: n, column: 1, message: `the line is longer than ${MAX_LIST_LINE_CHARS} characters` });
      continue;
    }
    const hash = line.indexOf("#");
    const content = (hash >= 0 ? line.slice(0, hash) : line).trim();
    if (content === "") continue;
    const column = line.indexOf(content) + 1;
    let token = content;
    if (kind === "attachment_sha256") token = content.split(/\s+/)[0]!;
    else if (/\s/.test(content)) {
      problems.push({ line: n, column, message: `one domain per line ("${content.slice(0, 80)}" has spaces)` });
      continue;
    }
    const v = normaliseEntry(kind, token);
    if (typeof v === "string") entries.push({ value: v, source: `${sourceName}:${n}` });
    else problems.push({ line: n, column, message: v.problem });
    if (entries.length > MAX_LIST_ENTRIES) {
      problems.push({ line: n, column: 1, message: `more than ${MAX_LIST_ENTRIES} entries; split the list or check that this is the right file` });
      break;
    }
    if (problems.length >= 50) break; // a wrong file: fifty lines say enough
  }
  return { entries, problems };
}

export function compileList(kind: ListKind, entries: ListEntry[]): EntryList {
  const map = new Map<string, ListEntry>();
  for (const e of entries) if (!map.has(e.value)) map.set(e.value, e);
  return { kind, entries: map };
}

/** The entry a domain matches: itself or a parent domain, by whole labels. */
export function matchDomain(list: EntryList, domain: string): ListEntry | undefined {
  let d = domain;
  for (;;) {
    const hit = list.entries.get(d);
    if (hit) return hit;
    const dot = d.indexOf(".");
    if (dot < 0) return undefined;
    d = d.slice(dot + 1);
  }
}

/** A sender-controlled domain (already lower case) as ASCII for matching; "" when it cannot be one. */
export function asciiDomain(domain: string): string {
  if (domain === "") return "";
  // ASCII already (nearly always): no need to go through the IDN conversion
  const d = /^[\x21-\x7e]*$/.test(domain) ? domain : domainToASCII(domain);
  return d.replace(/\.$/, "").toLowerCase();
}
