/**
 * HTML → plain text with html-to-text, configured for a sanitizing gateway:
 * no script, style or head content; images as their alt text; table cells
 * kept on one line per row; no word-wrapping (it would break Japanese); and
 * every link shown with its REAL target. When the link text itself looks like
 * an address on another host than the target, a marker (a private-use
 * sentinel, turned into words in the notice language by render) follows it.
 *
 * SECURITY: the HTML is sender-controlled. Input is bounded by maxHtmlBytes
 * (and html-to-text's own depth / child limits, which keep its recursive walk
 * from overflowing the stack); sentinels are stripped from the input first so
 * the sender cannot forge a marker, and NULs and invisible characters inside
 * markup are removed before parsing (normaliseHtml), so a tag cannot hide from
 * the converter and reappear in the text. The output is text only; nothing is
 * fetched, executed or kept from the HTML.
 */
import { compile } from "html-to-text";
import type { FormatCallback } from "html-to-text";
import { stripSentinels } from "./display-safe.ts";

/**
 * Marks a link whose text names another host than its real target:
 * U+E001 shown-host U+E002 real-host U+E003, dots as U+E004 (so the link
 * finder never takes the hosts for URLs). render() turns it into words in the
 * notice language, spelling the hosts per link mode.
 */
export const DECEPTIVE_RE = /\uE001([^\uE002]*)\uE002([^\uE003]*)\uE003/g;
const DOT = "\uE004";
export const SENTINEL_DOT_RE = /\uE004/g;

function deceptiveMark(shown: string, real: string): string {
  const clean = (h: string): string => h.replace(/[^\p{L}\p{N}.\-_:[\]]/gu, "").slice(0, 253).replaceAll(".", DOT);
  return `\uE001${clean(shown)}\uE002${clean(real)}\uE003`;
}

/** html-to-text walks the DOM recursively: deeper nesting than this is flattened, never a stack overflow */
const MAX_HTML_DEPTH = 200;
/**
 * children per element read by the converter: the input is already bounded by
 * maxHtmlBytes, so this only has to be out of reach of real mail — html-to-text
 * drops the rest silently, and a long newsletter body is one element with many
 * thousand paragraphs
 */
const MAX_CHILD_NODES = 10_000_000;
/** a link target longer than this is cut: no legitimate URL needs it and staff cannot read it */
const MAX_HREF_CHARS = 2048;

interface DomNode {
  type: string;
  data?: string;
  name?: string;
  attribs?: Record<string, string>;
  children?: DomNode[];
}

function textOf(node: DomNode, budget = { left: 4096 }): string {
  if (budget.left <= 0) return "";
  if (node.type === "text") {
    const data = (node.data ?? "").slice(0, budget.left);
    budget.left -= data.length;
    return data;
  }
  if (node.name === "img") return node.attribs?.alt ?? "";
  return (node.children ?? []).map((c) => textOf(c, budget)).join("");
}

/** The target as it may be shown: no whitespace or controls, no angle brackets, bounded. */
export function cleanHref(href: string): string {
  let out = href.trim().replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, "");
  out = out.replace(/[<>"`]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (out.length > MAX_HREF_CHARS) out = `${out.slice(0, MAX_HREF_CHARS)}…`;
  return out;
}

/**
 * A host named in link text. Every repetition that can start at many places
 * is bounded (scheme 20, userinfo 64, label 63 characters): an unbounded
 * userinfo run tried from each "(" of a 4,096-character text was quadratic.
 * Labels end at a dot their own class excludes, so the label loop cannot
 * backtrack into itself.
 */
const HOST_IN_TEXT = /(?:^|[\s(<\["'])(?:[a-z][a-z0-9+.-]{0,19}:\/\/)?(?:[^\s/@]{1,64}@)?((?:[a-z0-9\u00a1-\uffff](?:[a-z0-9\u00a1-\uffff-]{0,62})\.)+[a-z\u00a1-\uffff]{2,63})(?=$|[\s/:?#)>\]"',.])/i;

function hostOfText(text: string): string | undefined {
  const m = HOST_IN_TEXT.exec(text.trim().toLowerCase());
  return m?.[1];
}

function hostOfHref(href: string): string | undefined {
  try {
    const url = new URL(href);
    if (url.protocol === "mailto:") return url.pathname.split("@")[1]?.toLowerCase();
    return url.hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

function sameSite(a: string, b: string): boolean {
  const strip = (h: string): string => h.replace(/^www\./, "").replace(/\.$/, "");
  const x = strip(a);
  const y = strip(b);
  return x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`);
}

/** When the link text names a host and the real target is on another one: both hosts; else undefined. */
export function deceptiveHosts(text: string, href: string): { shown: string; real: string } | undefined {
  const shown = hostOfText(text);
  if (!shown) return undefined;
  const real = hostOfHref(href);
  if (!real) return { shown, real: href.slice(0, 100) }; // text claims an address, the target is not even a URL with a host
  // IDN: the target may be in punycode while the text is in Unicode
  let realUnicode = real;
  try {
    realUnicode = new URL(`http://${real}`).hostname;
  } catch {
    /* keep */
  }
  let shownAscii = shown;
  try {
    shownAscii = new URL(`http://${shown}`).hostname;
  } catch {
    /* keep */
  }
  return !sameSite(shownAscii, realUnicode) && !sameSite(shown, real) ? { shown, real } : undefined;
}

export function isDeceptiveLink(text: string, href: string): boolean {
  return deceptiveHosts(text, href) !== undefined;
}

function normaliseForCompare(s: string): string {
  return s.trim().toLowerCase().replace(/^mailto:/, "").slice(0, 4096).replace(/\/+$/, "");
}

/** schemes a link may keep: the web and mail; every other one is an application launcher or a file share */
const WEB_SCHEMES = new Set(["http:", "https:", "ftp:"]);

/**
 * The target as staff see it. A web target not written plainly is
 * normalised as a browser reads it (`https:evil.com`, `HTTPS:/\\evil.com`,
 * full-width, IDN or percent-encoded hosts) so the link finder sees, counts
 * and disarms what would really be opened; `mailto:` stays;
 * a target without a scheme (relative) stays as written; any other scheme
 * (`ms-msdt:`, `search-ms:`, `file:`, `javascript:`) has its colon broken,
 * whatever the link mode: no client may launch it from the text.
 */
export function shownHref(href: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]{0,30}):/.exec(href);
  if (!scheme) return href;
  const name = `${(scheme[1] ?? "").toLowerCase()}:`;
  if (name === "mailto:") return href;
  if (WEB_SCHEMES.has(name)) {
    // written plainly (scheme, "//", a printable ASCII host): shown as written, the text pass finds it as a browser would
    if (/^[A-Za-z]+:\/\/[!$&-.0-9;=@-Z_a-z~:[\]]*(?:[/?#]|$)/.test(href)) return href;
    try {
      return cleanHref(new URL(href).href);
    } catch {
      return href; // no browser opens it (a bad port, an empty host): shown as written, defanged by the text pass
    }
  }
  return `${scheme[1]}[:]${href.slice(scheme[0].length)}`;
}

const anchor: FormatCallback = (elem, walk, builder) => {
  const node = elem as unknown as DomNode;
  const rawHref = node.attribs?.href ?? "";
  const href = cleanHref(rawHref);
  walk(elem.children, builder);
  if (!href || href.startsWith("#")) return;
  const text = textOf(node);
  if (normaliseForCompare(text) === normaliseForCompare(href)) return; // the text already is the target
  const shown = shownHref(href);
  if (shown !== href && normaliseForCompare(text) === normaliseForCompare(shown)) return;
  builder.addInline(` <${shown}>`, { noWordTransform: true });
  const hosts = deceptiveHosts(text, href);
  if (hosts) builder.addInline(` ${deceptiveMark(hosts.shown, hosts.real)}`, { noWordTransform: true });
};

const image: FormatCallback = (elem, _walk, builder) => {
  const alt = ((elem as unknown as DomNode).attribs?.alt ?? "").trim();
  if (alt) builder.addInline(`[${alt}]`);
};

const cell: FormatCallback = (elem, walk, builder) => {
  walk(elem.children, builder);
  builder.addInline("  ");
};

/** bytes sampled to recognise UTF-16 by its NUL bytes (markup is ASCII: every other byte is 0) */
const UTF16_SAMPLE = 4096;

/** UTF-16 without a BOM, by where the NUL bytes sit in ASCII-heavy markup; undefined when it does not look like it. */
function utf16ByContent(bytes: Buffer): "utf-16le" | "utf-16be" | undefined {
  const n = Math.min(bytes.length, UTF16_SAMPLE) & ~1;
  if (n < 8) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) evenZeros++;
    if (bytes[i + 1] === 0) oddZeros++;
  }
  const pairs = n / 2;
  // a quarter of the characters ASCII, and the NULs almost all on one side (CJK text has few 0x00 bytes)
  if (oddZeros >= pairs / 4 && evenZeros <= oddZeros / 8) return "utf-16le";
  if (evenZeros >= pairs / 4 && oddZeros <= evenZeros / 8) return "utf-16be";
  return undefined;
}

/**
 * The charset to decode an HTML part with, as browsers decide it: a byte order
 * mark wins over any label (WHATWG encoding sniffing), then UTF-16 recognised
 * by its NUL bytes, then the declared label, then <meta>. A sender who labels
 * UTF-16 HTML as iso-8859-1 or utf-8 would otherwise have "<\0s\0c\0r…" read
 * as text, not as tags, and the markup survive conversion.
 */
export function htmlCharset(bytes: Buffer, declared: string | undefined): { label: string | undefined; warning?: string } {
  let sniffed: string | undefined;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) sniffed = "utf-8";
  else if (bytes[0] === 0xff && bytes[1] === 0xfe && bytes[2] === 0 && bytes[3] === 0) sniffed = "utf-32le";
  else if (bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0xfe && bytes[3] === 0xff) sniffed = "utf-32be";
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) sniffed = "utf-16le";
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) sniffed = "utf-16be";
  else sniffed = utf16ByContent(bytes);
  if (!sniffed) return { label: declared || metaCharset(bytes) };
  const norm = (declared ?? "").trim().replace(/^["']|["']$/g, "").toLowerCase();
  if (norm === sniffed || (sniffed.startsWith("utf-16") && norm === "utf-16")) return { label: sniffed };
  return { label: sniffed, warning: `HTML labelled ${norm || "(none)"} is ${sniffed.toUpperCase()} by its content: decoded as ${sniffed}` };
}

/**
 * Control, invisible and unpaired characters inside markup (from "<" to ">"):
 * browsers and the converter would read "<scr\u200Bipt>" or "<scr\0ipt>" as an
 * unknown element and show its script as text; without them it is the
 * element it pretends not to be, and is skipped. TAB, LF, CR and FF separate
 * attributes and stay.
 */
const INVISIBLE_IN_MARKUP = /(?![\t\n\f\r])[\p{Cc}\p{Cf}\p{Cs}\p{Default_Ignorable_Code_Point}\uFFFD]/gu;

/**
 * HTML made fit for conversion: NUL removed everywhere (it means nothing in
 * text, and "<\0script>" is not a tag to a parser but a "<script>" to a
 * reader once the NUL is gone), invisible and control characters removed
 * inside markup. Linear: each "<" opens one span that ends at the next "<" or ">".
 */
export function normaliseHtml(html: string): string {
  return html.replace(/\u0000/g, "").replace(/<[^<>]*>?/g, (markup) => markup.replace(INVISIBLE_IN_MARKUP, ""));
}

/** Looks for a charset in <meta> when the MIME header declared none. */
export function metaCharset(head: Buffer): string | undefined {
  const text = head.subarray(0, 4096).toString("latin1");
  const m = /<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})/i.exec(text);
  return m?.[1]?.toLowerCase();
}

const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]);
const BLOCK = /^(?:p|div|br|tr|li|ul|ol|table|h[1-6]|blockquote|pre|section|article|header|footer|center|dd|dt|dl|form|hr)$/;
const TAG = /<(\/?)([a-zA-Z][a-zA-Z0-9]{0,30})\b[^<>]*?(\/?)>/g;

/** An upper bound of the element nesting, by a linear scan (no DOM, no recursion). */
export function estimateDepth(html: string): number {
  let depth = 0;
  let max = 0;
  for (const m of html.matchAll(TAG)) {
    const name = (m[2] ?? "").toLowerCase();
    if (VOID.has(name) || m[3]) continue;
    depth = m[1] ? Math.max(0, depth - 1) : depth + 1;
    if (depth > max) max = depth;
  }
  return max;
}

/**
 * HTML nested deeper than the converter walks: drop every element except
 * links and images (kept for their targets and alt text), turning block
 * elements into line breaks. Nothing nests any more, no word is lost.
 */
/** Drops script/style/head/template/noscript elements in one forward pass (an unclosed one runs to the end). */
function dropHidden(html: string): string {
  const lower = html.toLowerCase();
  const open = /<(script|style|head|template|noscript)\b/g;
  let out = "";
  let from = 0;
  for (;;) {
    open.lastIndex = from;
    const m = open.exec(lower);
    if (!m) break;
    out += `${html.slice(from, m.index)} `;
    const close = lower.indexOf(`</${m[1]}`, m.index);
    if (close < 0) return out;
    const end = lower.indexOf(">", close);
    from = end < 0 ? html.length : end + 1;
  }
  return out + html.slice(from);
}

export function flattenHtml(html: string): string {
  return dropHidden(html)
    .replace(TAG, (tag, _close: string, name: string) => {
      const n = name.toLowerCase();
      if (n === "a" || n === "img") return tag;
      return BLOCK.test(n) ? "<br>" : "";
    });
}

/**
 * Compiling the options (selectors) costs more than converting a small part:
 * compiled once per input limit and reused. A cache of pure functions, so
 * results stay deterministic.
 */
const converters = new Map<number, (html: string) => string>();

function converterFor(maxInputLength: number): (html: string) => string {
  let converter = converters.get(maxInputLength);
  if (!converter) {
    converter = compile({
      wordwrap: false,
      preserveNewlines: false,
      decodeEntities: true,
      limits: { maxInputLength, maxDepth: MAX_HTML_DEPTH, maxChildNodes: MAX_CHILD_NODES, ellipsis: "…" },
      formatters: { mumukaAnchor: anchor, mumukaImage: image, mumukaCell: cell },
      selectors: [
        { selector: "head", format: "skip" },
        { selector: "script", format: "skip" },
        { selector: "style", format: "skip" },
        { selector: "noscript", format: "skip" },
        { selector: "template", format: "skip" },
        { selector: "title", format: "skip" },
        { selector: "object", format: "skip" },
        { selector: "iframe", format: "skip" },
        { selector: "a", format: "mumukaAnchor" },
        { selector: "img", format: "mumukaImage" },
        { selector: "table", format: "block" },
        { selector: "tr", format: "block" },
        { selector: "td", format: "mumukaCell" },
        { selector: "th", format: "mumukaCell" },
        { selector: "h1", options: { uppercase: false } },
        { selector: "h2", options: { uppercase: false } },
        { selector: "h3", options: { uppercase: false } },
        { selector: "h4", options: { uppercase: false } },
        { selector: "h5", options: { uppercase: false } },
        { selector: "h6", options: { uppercase: false } },
      ],
    });
    if (converters.size > 8) converters.clear();
    converters.set(maxInputLength, converter);
  }
  return converter;
}

export function htmlToText(html: string, maxInputLength: number, warnings?: string[]): string {
  let source = normaliseHtml(stripSentinels(html));
  if (estimateDepth(source) > MAX_HTML_DEPTH - 10) {
    warnings?.push(`HTML nested deeper than ${MAX_HTML_DEPTH - 10} elements: flattened before conversion`);
    source = flattenHtml(source);
  }
  const text = converterFor(maxInputLength)(source);
  // trailing blanks per line, without an end-anchored regex (quadratic on long runs of blanks)
  return text
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .replace(/\n{3,}/g, "\n\n");
}
