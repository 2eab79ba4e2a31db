/**
 * Links in text: found, counted, and kept, defanged or removed.
 *
 * Defanging keeps a URL readable while no mail client can turn it into a
 * clickable link: `https://www.example.com/a` becomes
 * `hxxps[://]www[.]example[.]com/a` (scheme broken, separators bracketed, every
 * dot of the host bracketed, full-width and ideographic ones too). Only URLs
 * with a scheme or a `www.` prefix are recognised: those are what clients
 * auto-link; bare domains in prose are left alone (too many false matches in
 * ordinary text). A scheme is found wherever it starts (`_https://`,
 * `xhttps://`); its host may be non-ASCII (`https://例え.jp`,
 * `http://ｗｗｗ.evil.com`, an invisible character a browser drops); its path
 * is ASCII, so Japanese prose after a URL stays prose. Whatever a client could
 * still link after that (a bare `\\server`, `https:/\`, `www.` alone) is
 * broken too, uncounted.
 *
 * SECURITY: the text is sender-controlled; every scan is linear (a prefix
 * regex with bounded repetition, then character loops that never go back
 * further than the URL they read). Pure.
 */
import type { LinkMode } from "../config/schema.ts";
import type { BodyBlock } from "./sanitize-types.ts";

/** "www." in either width, any case, with any full stop */
const WWW_RE = /[wｗＷ]{3}[.．。｡]/gi;
/** a scheme is 2–20 of these, the first a letter */
const SCHEME_CHAR = asciiTable(/[A-Za-z0-9+.-]/);
const LETTER = asciiTable(/[A-Za-z]/);
const MAX_SCHEME_CHARS = 20;
/** the characters a path may hold: printable ASCII but space, quote and angle brackets (Japanese prose after a URL is not swallowed) */
const PATH_CHAR = asciiTable(/[!#-;=?-~]/);
/** ASCII characters of a host part: the path's but the separators that end it */
const ASCII_HOST_CHAR = asciiTable(/[!$-.0-;=@-\[\]-~]/);
/** a run of the other characters a browser takes into a host: letters and digits of any script, full-width forms, invisibles it drops (full stops are read one by one) */
const WIDE_HOST_RUN = /[\p{L}\p{M}\p{N}\p{Cf}\p{Default_Ignorable_Code_Point}－＠：]+/uy;

/** A class of ASCII characters as a table: the scans below read one entry per character. */
function asciiTable(re: RegExp): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 0; c < 128; c++) table[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return table;
}
const DOTS_RE = /[.．。｡]/g;
const LABEL_START = /[A-Za-z0-9Ａ-Ｚａ-ｚ０-９]/;
const TRAILING_CHARS = ".,;:!?'\")]}>．。｡";

/** One URL of a text: [start, end) in all, its host [hostStart, hostEnd) ("www…" included for a www form). */
interface UrlSpan {
  start: number;
  end: number;
  hostStart: number;
  hostEnd: number;
  scheme: string | undefined;
}

/**
 * Where the host that starts at `from` ends. Non-ASCII characters are taken
 * (an IDN host, full-width letters, an invisible character a browser drops)
 * but Japanese prose right after an ASCII host is not: in the last label, a
 * switch from ASCII (or its full-width forms) to anything else ends the host
 * ("example.jpをご覧" → example.jp, "ｅｘａｍｐｌｅ．ｊｐをご覧" → ｅｘａｍｐｌｅ．ｊｐ).
 */
function hostEndAt(text: string, from: number): number {
  let i = from;
  let lastDot = -1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if (ASCII_HOST_CHAR[c] === 0) break;
      if (c === 0x2e) lastDot = i;
      i++;
    } else if (c === 0x3002 || c === 0xff61) {
      // an ideographic full stop separates labels only before one ("evil。com"); else it ends a sentence
      if (!LABEL_START.test(text[i + 1] ?? "")) break;
      lastDot = i++;
    } else if (c === 0xff0e) {
      lastDot = i++;
    } else {
      WIDE_HOST_RUN.lastIndex = i;
      const run = WIDE_HOST_RUN.exec(text);
      if (!run) break;
      i += run[0].length;
    }
  }
  const labelStart = lastDot >= 0 ? lastDot + 1 : from;
  if (labelStart < i && latinLike(text.charCodeAt(labelStart))) {
    for (let j = labelStart; j < i; j++) if (!latinLike(text.charCodeAt(j))) return j;
  }
  return i;
}

/**
 * The next "scheme://" or "www." at or after `from`. The scheme is the
 * longest run of scheme characters (at most 20, from a letter) before the
 * "://", so one glued to a word (`_https://`, `3D%22http://`) is found. Both
 * searches only move forward: the next "://" and the next "www." are
 * remembered until the scan passes them.
 */
function prefixFinder(text: string): (from: number) => { start: number; end: number; scheme: string | undefined } | undefined {
  let colon = -2;
  let www: RegExpExecArray | null | undefined;
  const www_ = new RegExp(WWW_RE.source, WWW_RE.flags);
  return (from) => {
    let scheme: { start: number; end: number; scheme: string } | undefined;
    for (let at = from; ; at = colon + 1) {
      if (colon !== -1 && colon < at) colon = text.indexOf("://", at);
      if (colon < 0) break;
      let p = colon;
      while (p > from && colon - p < MAX_SCHEME_CHARS && SCHEME_CHAR[text.charCodeAt(p - 1)] === 1) p--;
      while (p < colon && LETTER[text.charCodeAt(p)] !== 1) p++;
      if (colon - p >= 2) {
        scheme = { start: p, end: colon + 3, scheme: text.slice(p, colon) };
        break;
      }
    }
    if (www !== null && (www === undefined || www.index < from)) {
      www_.lastIndex = from;
      www = www_.exec(text);
    }
    if (www && (!scheme || www.index < scheme.start)) return { start: www.index, end: www.index + www[0].length, scheme: undefined };
    return scheme;
  };
}

/** ASCII, or its full-width form (U+FF01–FF5E) */
function latinLike(c: number): boolean {
  return c < 0x80 || (c >= 0xff01 && c <= 0xff5e);
}

/** Every URL of the text, left to right, by one linear scan (each character is read a bounded number of times). */
function* urlSpans(text: string): Generator<UrlSpan> {
  const next = prefixFinder(text);
  for (let m = next(0); m; ) {
    const { start, end: afterPrefix, scheme } = m;
    const hostStart = scheme === undefined ? start : afterPrefix;
    const hostEnd = Math.max(hostEndAt(text, afterPrefix), afterPrefix);
    let end = hostEnd;
    while (end < text.length && PATH_CHAR[text.charCodeAt(end)] === 1) end++;
    while (end > afterPrefix && TRAILING_CHARS.includes(text[end - 1]!)) end--;
    m = next(Math.max(end, afterPrefix));
    if (end <= afterPrefix || end - start < 5) continue; // "https://" or "www." alone: nothing to open
    yield { start, end, hostStart, hostEnd: Math.min(hostEnd, end), scheme };
  }
}

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

/** every full stop of a host bracketed, the full-width and ideographic ones too (a browser reads them as dots) */
function bracketDots(host: string): string {
  return host.replaceAll(".", "[.]").replaceAll("．", "[．]").replaceAll("。", "[。]").replaceAll("｡", "[｡]");
}

/**
 * URLs inside a URL's path or query (redirectors: `?forward=http://…`) are
 * defanged too — in one pass, not recursively (a URL nesting thousands of
 * URLs must not exhaust the stack).
 */
function defangNested(rest: string): string {
  return rest
    .replace(/([A-Za-z][A-Za-z0-9+.-]{1,19}):\/\/([^/?#&\s]*)/g, (_m, scheme: string, host: string) => `${defangScheme(scheme)}[://]${bracketDots(host)}`)
    .replace(/www\.([^/?#&\s]*)/gi, (m: string) => m.replace(/\./g, "[.]"));
}

export function defangUrl(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url);
  if (m) return `${defangScheme(m[1] ?? "")}[://]${bracketDots(m[2] ?? "")}${defangNested(m[3] ?? "")}`;
  const w = /^([^/?#]*)(.*)$/s.exec(url);
  return `${bracketDots(w?.[1] ?? "")}${defangNested(w?.[2] ?? "")}`;
}

/**
 * UNC paths (\\server\share\…): Outlook makes them clickable, and opening one
 * sends Windows credentials to the server over SMB — or over HTTP for the
 * WebDAV forms (\\host@SSL\DavWWWRoot\…, \\host@8080\…). The server is
 * whatever stands between the two backslashes and the next one (an IDN, a
 * port, "?" of \\?\UNC\…). Defanged as [\\]server[.]name\…
 */
const UNC_RE = /\\\\[^\s\\/<>"|]{1,253}\\[^\s<>"]*/g;

/**
 * What is left that a client could still make a link of, broken in defang
 * and remove modes: two backslashes before anything but a space (a UNC
 * server without a share), a "://" the URL scan did not take ("https:// "
 * with nothing after it; ":/\\" and ":\\\\" too, which browsers read as
 * "://"), a "www." with nothing after it. Not counted: no target is shown.
 */
function breakLeftovers(text: string): string {
  return text
    .replace(/(?<!\[)\\\\(?=\S)/g, "[\\\\]")
    .replace(/(?<!\[):([/\\]{2})/g, "[:$1]")
    .replace(/(www|ｗｗｗ)([.．。｡])/giu, "$1[$2]");
}

export function processLinks(text: string, mode: LinkMode, removedLabel: string): LinkResult {
  let found = 0;
  const urls: string[] = [];
  const unc = text.replace(UNC_RE, (match) => {
    found++;
    noteUrl(urls, match);
    if (mode === "keep") return match;
    if (mode === "remove") return removedLabel;
    const server = /^\\\\([^\\]*)(.*)$/s.exec(match);
    return `[\\\\]${bracketDots(server?.[1] ?? "")}${server?.[2] ?? ""}`;
  });
  let out = "";
  let at = 0;
  for (const span of urlSpans(unc)) {
    const url = unc.slice(span.start, span.end);
    found++;
    noteUrl(urls, url);
    if (mode === "keep") continue;
    out += unc.slice(at, span.start) + (mode === "remove" ? removedLabel : defangSpan(unc, span));
    at = span.end;
  }
  out += unc.slice(at);
  return { text: mode === "keep" ? out : breakLeftovers(out), found, disarmed: mode === "keep" ? 0 : found, urls };
}

/** A URL as the scan found it, defanged: the scheme broken, every dot of the host bracketed, URLs nested in the rest too. */
function defangSpan(text: string, span: UrlSpan): string {
  const head = span.scheme === undefined ? "" : `${defangScheme(span.scheme)}[://]`;
  return `${head}${bracketDots(text.slice(span.hostStart, span.hostEnd))}${defangNested(text.slice(span.hostEnd, span.end))}`;
}

/**
 * Distinct link hosts a message would show, for rules (`link_domain:`): every
 * URL found as processLinks finds it (HTML targets included: the converter
 * writes them as ` <href>`), the URLs nested in its path or query
 * (redirectors), and UNC servers. Hosts are normalised as a browser reads
 * them: invisible characters dropped, NFKC (full-width letters), every full
 * stop a dot, then parsed by WHATWG URL (percent-decoding, IDN to punycode,
 * userinfo and port dropped); lower case, without a trailing dot. At most
 * MAX_LINK_DOMAINS per message.
 */
export const MAX_LINK_DOMAINS = 500;
const NESTED_RE = /[A-Za-z][A-Za-z0-9+.-]{1,19}:\/\/[^\s/?#&"'<>]+/g;
const INVISIBLE_RE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/** A host as written (userinfo, port, IDN, full-width, invisible characters and all) → its ASCII form as a browser would open it. */
export function normaliseHost(written: string): string | undefined {
  const host = written.replace(INVISIBLE_RE, "").normalize("NFKC").replace(DOTS_RE, ".");
  try {
    const name = new URL(`http://${host}/`).hostname.toLowerCase().replace(/\.$/, "");
    return name === "" ? undefined : name.replace(/^\[|\]$/g, "");
  } catch {
    return undefined;
  }
}

/** The server of a UNC path as written: "\\\\host@SSL@443\\…" → host; "\\\\?\\UNC\\host\\…" → host. */
function uncServer(path: string): string | undefined {
  const parts = path.slice(2).split("\\", 3);
  const server = (parts[0] === "?" || parts[0] === ".") && parts[1]?.toUpperCase() === "UNC" ? parts[2] : parts[0];
  return server ? server.split("@")[0] : undefined;
}

/** a last label of no Latin letter after a dot that ends a Latin label */
const AFTER_LAST_DOT_RE = /(?<=[A-Za-z0-9Ａ-Ｚａ-ｚ０-９])[.．][^\x00-\x7f\uff01-\uff5e.．。｡]+$/u;

/** written hosts already normalised in one call, so 100,000 copies of one redirector cost one URL parse */
const MAX_HOSTS_REMEMBERED = 10_000;

export function linkDomains(texts: Iterable<string>): string[] {
  const out = new Set<string>();
  const written = new Set<string>();
  const add = (host: string) => {
    if (out.size >= MAX_LINK_DOMAINS || written.has(host)) return;
    if (written.size < MAX_HOSTS_REMEMBERED) written.add(host);
    const name = normaliseHost(host);
    if (name !== undefined) out.add(name);
  };
  for (const text of texts) {
    for (const m of text.matchAll(UNC_RE)) {
      const server = uncServer(m[0]);
      if (server !== undefined) add(server);
    }
    for (const span of urlSpans(text)) {
      const host = text.slice(span.hostStart, span.hostEnd);
      add(host);
      // "example.jp.をご覧" is prose after a full stop or an IDN top-level label ("example.みんな"): both are taken
      const prose = AFTER_LAST_DOT_RE.exec(host);
      if (prose) add(host.slice(0, prose.index));
      const rest = text.slice(span.hostEnd, span.end);
      let decoded = rest;
      try {
        decoded = decodeURIComponent(rest);
      } catch {
        // a malformed %-sequence: look at the text as written
      }
      for (const n of decoded.matchAll(NESTED_RE)) add(n[0].slice(n[0].indexOf("//") + 2));
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
