/**
 * Links in text: found, counted, and kept, defanged or removed.
 *
 * Defanging keeps a URL readable while no mail client can turn it into a
 * clickable link: `https://www.example.com/a` becomes
 * `hxxps[://]www[.]example[.]com/a` (scheme broken, separators bracketed, every
 * dot of the host bracketed). Only URLs with a scheme or a `www.` prefix are
 * recognised: those are what clients auto-link; bare domains in prose are left
 * alone (too many false matches in ordinary text).
 *
 * SECURITY: the text is sender-controlled; the regex is linear (one character
 * class, no nesting). Pure.
 */
import type { LinkMode } from "../config/schema.ts";
import type { BodyBlock } from "./sanitize-types.ts";

/** a scheme (2–20 chars) and "://", or "www.", followed by URL characters; stops at non-ASCII (Japanese prose after a URL) */
const URL_RE = /\b(?:[A-Za-z][A-Za-z0-9+.-]{1,19}:\/\/|www\.)[!#-;=?-~]+/gi;
const TRAILING_CHARS = ".,;:!?'\")]}>";

export interface LinkResult {
  text: string;
  found: number;
  disarmed: number;
  /** the URLs as written (the first MAX_RECORDED_URLS, each cut to MAX_RECORDED_URL_CHARS): for the audit trail's link search */
  urls: string[];
}

/** URLs of one message kept for the audit trail; a message with more still counts them all in `found`. */
export const MAX_RECORDED_URLS = 200;
export const MAX_RECORDED_URL_CHARS = 2048;

/** Notes a URL for the audit trail, within the caps; distinct URLs only. */
export function noteUrl(urls: string[], url: string): void {
  const cut = url.slice(0, MAX_RECORDED_URL_CHARS);
  if (urls.length < MAX_RECORDED_URLS && !urls.includes(cut)) urls.push(cut);
}

function defangScheme(scheme: string): string {
  return scheme.replace(/^http/i, (s) => (s[0] === "H" ? "HXXP" : "hxxp")).replace(/^ftp/i, "fxp");
}

/**
 * URLs inside a URL's path or query (redirectors: `?forward=http://…`) are
 * defanged too — in one pass, not recursively (a URL nesting thousands of
 * URLs must not exhaust the stack).
 */
function defangNested(rest: string): string {
  return rest
    .replace(/([A-Za-z][A-Za-z0-9+.-]{1,19}):\/\/([^/?#&\s]*)/g, (_m, scheme: string, host: string) => `${defangScheme(scheme)}[://]${host.replace(/\./g, "[.]")}`)
    .replace(/\bwww\.([^/?#&\s]*)/gi, (m: string) => m.replace(/\./g, "[.]"));
}

export function defangUrl(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url);
  if (m) {
    const host = (m[2] ?? "").replace(/\./g, "[.]");
    return `${defangScheme(m[1] ?? "")}[://]${host}${defangNested(m[3] ?? "")}`;
  }
  const w = /^([^/?#]*)(.*)$/s.exec(url);
  return `${(w?.[1] ?? "").replace(/\./g, "[.]")}${defangNested(w?.[2] ?? "")}`;
}

/** Length of the run of closing punctuation at the end (a loop: an anchored-at-end regex is quadratic on long runs). */
function trailingLength(match: string): number {
  let n = 0;
  while (n < match.length && TRAILING_CHARS.includes(match[match.length - 1 - n]!)) n++;
  return n;
}

/**
 * UNC paths (\\server\share\…): Outlook makes them clickable, and opening one
 * sends Windows credentials to the server over SMB. Defanged as [\\]server[.]name\…
 */
const UNC_RE = /\\\\[A-Za-z0-9_.$-]{1,253}\\[^\s<>"]*/g;

export function processLinks(text: string, mode: LinkMode, removedLabel: string): LinkResult {
  let found = 0;
  const urls: string[] = [];
  const unc = text.replace(UNC_RE, (match) => {
    found++;
    noteUrl(urls, match);
    if (mode === "keep") return match;
    if (mode === "remove") return removedLabel;
    const server = /^\\\\([^\\]*)(.*)$/s.exec(match);
    return `[\\\\]${(server?.[1] ?? "").replace(/\./g, "[.]")}${server?.[2] ?? ""}`;
  });
  const out = unc.replace(URL_RE, (match) => {
    const trail = match.slice(match.length - trailingLength(match));
    const url = match.slice(0, match.length - trail.length);
    if (url.length < 5 || /^www\.?$/i.test(url)) return match;
    found++;
    noteUrl(urls, url);
    if (mode === "keep") return match;
    if (mode === "remove") return `${removedLabel}${trail}`;
    return `${defangUrl(url)}${trail}`;
  });
  return { text: out, found, disarmed: mode === "keep" ? 0 : found, urls };
}

/**
 * Distinct link hosts a message would show, for rules (`link_domain:`): every
 * URL found as processLinks finds it (HTML targets included: the converter
 * writes them as ` <href>`), the URLs nested in its path or query
 * (redirectors), and UNC servers. Hosts are parsed as a browser would (WHATWG
 * URL: percent-decoding, IDN to punycode, userinfo dropped), lower case,
 * without a trailing dot. At most MAX_LINK_DOMAINS per message.
 */
export const MAX_LINK_DOMAINS = 500;
const NESTED_RE = /[A-Za-z][A-Za-z0-9+.-]{1,19}:\/\/[^\s/?#&"'<>]+/g;

function hostOf(url: string): string | undefined {
  try {
    const host = new URL(/^www\./i.test(url) ? `http://${url}` : url).hostname.toLowerCase().replace(/\.$/, "");
    return host === "" ? undefined : host.replace(/^\[|\]$/g, "");
  } catch {
    return undefined;
  }
}

export function linkDomains(texts: Iterable<string>): string[] {
  const out = new Set<string>();
  const add = (host: string | undefined) => {
    if (host !== undefined && out.size < MAX_LINK_DOMAINS) out.add(host);
  };
  for (const text of texts) {
    for (const m of text.matchAll(UNC_RE)) add(/^\\\\([^\\]*)/.exec(m[0])?.[1]?.toLowerCase().replace(/\.$/, ""));
    for (const m of text.matchAll(URL_RE)) {
      const url = m[0].slice(0, m[0].length - trailingLength(m[0]));
      if (url.length < 5 || /^www\.?$/i.test(url)) continue;
      add(hostOf(url));
      const rest = url.slice(url.indexOf("//") + 2 || 0);
      let decoded = rest;
      try {
        decoded = decodeURIComponent(rest);
      } catch {
        // a malformed %-sequence: look at the text as written
      }
      for (const n of decoded.matchAll(NESTED_RE)) add(hostOf(n[0]));
      if (out.size >= MAX_LINK_DOMAINS) return [...out];
    }
  }
  return [...out];
}

/** Every text of the body blocks (alternatives, forwarded messages and text attachments included), without recursion. */
export function* blockTexts(blocks: readonly BodyBlock[]): Generator<string> {
  const stack: BodyBlock[] = [...blocks].reverse();
  while (stack.length > 0) {
    const b = stack.pop()!;
    if (b.kind === "text" || b.kind === "html" || b.kind === "attachmentText") yield b.text;
    else if (b.kind === "alternative") for (let i = b.options.length - 1; i >= 0; i--) stack.push(...[...b.options[i]!.blocks].reverse());
    else if (b.kind === "forwarded") stack.push(...[...b.blocks].reverse());
  }
}
