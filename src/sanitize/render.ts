/**
 * render(): AnalyzedMessage + RenderOptions → the one safe text/plain message
 * and its report. Pure and synchronous: no clock (`now` is an option), no
 * randomness, no I/O; the same inputs give the same bytes. It may be called
 * many times on one analysis (rules trying presentations).
 *
 * The message is built anew: headers from the allow-list of DESIGN.md, each
 * written by header-encode from decoded values; one text/plain body (notice,
 * calendar summary, text) in UTF-8 or ISO-2022-JP (UTF-8 when a character does
 * not fit), with a transfer encoding that keeps every line within 998 octets,
 * CRLF line endings.
 *
 * SECURITY: values from the sender were made display-safe in analyze; the
 * header encoder additionally replaces any control character, replaces any
 * address it cannot write in printable ASCII, and its headerBlock() is the
 * only way header lines become bytes here: it asserts printable ASCII and
 * ≤ 998 octets per line and throws otherwise (the message is then held, never
 * sent). Trace values (HELO, client address) come from the SMTP peer and are
 * reduced to a safe character set here.
 */
import { createHash } from "node:crypto";
import type { Address, AnalyzedMessage, BodyBlock, RenderOptions, SanitizeReport, SanitizeResult, AnalyzedContent } from "./sanitize-types.ts";
import { displaySafe } from "../lib/display-safe.ts";
import { encodeIso2022Jp } from "./charset.ts";
import { addressHeader, foldedTokens, headerBlock, tokenHeader, unstructuredHeader, type HeaderField } from "./header-encode.ts";
import { formatDate, isValidAddress } from "./header-decode.ts";
import { DECEPTIVE_RE, SENTINEL_DOT_RE } from "./html-text.ts";
import { noteUrl, processLinks } from "./links.ts";
import { EMBEDDED_RE } from "./embedded.ts";
import { builtinNotice, MANDATORY_EN, MANDATORY_JA, noticeScope, WORDS, type BodyWords } from "./notice.ts";
import { renderTemplate } from "./notice-template.ts";
import { authResultsTokens, authSummaryTokens } from "../authenticate/auth-header.ts";
import { senderUnverified } from "../authenticate/auth-types.ts";
import { extractedSections, extractionReport } from "../extract/section.ts";

/** RFC 5322 2.1.1: a line MUST be at most 998 octets (excluding CRLF) */
const MAX_LINE_OCTETS = 998;
/** RFC 2045 6.8: base64 lines at most 76 characters */
const BASE64_LINE = 76;
/** what the text of an alternative must reach, relative to the HTML's text, not to be a placeholder */
const PLACEHOLDER_RATIO = 0.2;
/** an HTML alternative with less text than this cannot make the text one look like a placeholder by length */
const PLACEHOLDER_MIN_HTML_CHARS = 200;
/** a text alternative this short that says "view in browser" is a stub */
const PLACEHOLDER_MAX_CHARS = 600;
const PLACEHOLDER_WORDS =
  /view (?:this|it|the) (?:e-?mail |message |newsletter )?(?:online|in (?:a |your )?(?:web )?browser)|(?:does not|doesn't|cannot|can't) (?:support|display|read) html|html[- ]?(?:capable|compatible)|ブラウザ(?:で|にて|から)|html(?:形式|メール)|htmlで(?:ご覧|表示)|html版/i;
/** used for an address header whose original held no valid address at all */
const INVALID_SENDER = "invalid-sender@mumuka.invalid";

interface BodyState {
  words: BodyWords;
  options: RenderOptions;
  htmlConverted: boolean;
  alternative: "text" | "html" | undefined;
  unreadable: boolean;
}

function visibleLength(blocks: BodyBlock[]): number {
  let n = 0;
  for (const b of blocks) {
    if (b.kind === "text" || b.kind === "html") n += b.text.replace(/\s+/g, "").length;
    else if (b.kind === "alternative") n += Math.max(0, ...b.options.map((o) => visibleLength(o.blocks)));
    else if (b.kind === "forwarded") n += visibleLength(b.blocks);
  }
  return n;
}

function blocksText(blocks: BodyBlock[]): string {
  return blocks.map((b) => (b.kind === "text" || b.kind === "html" ? b.text : "")).join("\n");
}

/**
 * multipart/alternative: `text` and `html` take that flavour when present;
 * `auto` takes the text unless it is empty, a "view in browser" stub, or much
 * shorter than the HTML's own text (newsletters often ship a placeholder).
 */
export function chooseAlternative(options: { flavor: string; blocks: BodyBlock[] }[], choice: RenderOptions["alternative"]): number {
  const text = options.findIndex((o) => o.flavor === "text");
  const html = options.findIndex((o) => o.flavor === "html");
  if (text < 0 && html < 0) {
    const any = options.findIndex((o) => visibleLength(o.blocks) > 0);
    return any >= 0 ? any : 0;
  }
  if (text < 0) return html;
  if (html < 0) return text;
  if (choice === "text") return text;
  if (choice === "html") return html;
  const textLength = visibleLength(options[text]!.blocks);
  const htmlLength = visibleLength(options[html]!.blocks);
  if (textLength === 0) return html;
  if (htmlLength >= PLACEHOLDER_MIN_HTML_CHARS && textLength < htmlLength * PLACEHOLDER_RATIO) return html;
  if (textLength <= PLACEHOLDER_MAX_CHARS && PLACEHOLDER_WORDS.test(blocksText(options[text]!.blocks))) return html;
  return text;
}

function renderBlocks(blocks: BodyBlock[], state: BodyState): string[] {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case "text":
        if (b.text.trim()) out.push(b.text.trimEnd());
        break;
      case "html":
        state.htmlConverted = true;
        if (b.text.trim()) out.push(b.text.trimEnd());
        break;
      case "alternative": {
        const index = chooseAlternative(b.options, state.options.alternative);
        const chosen = b.options[index];
        if (chosen && state.alternative === undefined && (chosen.flavor === "text" || chosen.flavor === "html")) state.alternative = chosen.flavor;
        if (chosen) out.push(...renderBlocks(chosen.blocks, state));
        break;
      }
      case "forwarded": {
        const head = [state.words.forwardedStart, `From: ${b.from}`, `Date: ${b.date}`, `Subject: ${b.subject}`, ""].join("\n");
        out.push([head, ...renderBlocks(b.blocks, state), state.words.forwardedEnd].join("\n"));
        break;
      }
      case "attachmentText":
        if (state.options.inlineText.includes(b.extension) && b.text.trim()) {
          out.push(`${state.words.attachmentText(b.filename)}\n${b.text.trimEnd()}`);
        }
        break;
      case "unreadable":
        state.unreadable = true;
        out.push(state.words.unreadable[b.what]);
        break;
    }
  }
  return out;
}

function calendarText(content: AnalyzedContent, words: BodyWords): string {
  if (content.calendar.length === 0) return "";
  const f = words.calendarFields;
  const lines = [words.calendarTitle];
  for (const e of content.calendar) {
    lines.push(`${f.summary}: ${e.summary}`);
    if (e.start) lines.push(`${f.start}: ${e.start.replace("T", " ").replace("+09:00", " (JST)")}`);
    if (e.end) lines.push(`${f.end}: ${e.end.replace("T", " ").replace("+09:00", " (JST)")}`);
    if (e.location) lines.push(`${f.location}: ${e.location}`);
    if (e.organizer) lines.push(`${f.organizer}: ${e.organizer}`);
    lines.push("");
  }
  return lines.join("\n").trimEnd();
}

/** Trace and identity values reduced to characters that are safe in any header. */
function token(value: string | undefined, fallback: string): string {
  const clean = (value ?? "").replace(/[^A-Za-z0-9.\-_:[\]]/g, "").slice(0, 255);
  return clean || fallback;
}

/** The addresses of a To/Cc/Reply-To header: every entry, names display-safe; the encoder replaces those it cannot write. */
function shownAddresses(list: Address[]): Address[] {
  return list.map((a) => ({ name: displaySafe(a.name), address: a.address }));
}

function validAddresses(list: Address[]): Address[] {
  return shownAddresses(list.filter((a) => isValidAddress(a.address)));
}

interface EncodedBody {
  bytes: Buffer;
  charset: string;
  transferEncoding: string;
}

function maxLineOctets(bytes: Buffer): number {
  let max = 0;
  let start = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, start)) {
    max = Math.max(max, i - start - (bytes[i - 1] === 0x0d ? 1 : 0));
    start = i + 1;
  }
  return Math.max(max, bytes.length - start);
}

function base64Lines(bytes: Buffer): Buffer {
  const b64 = bytes.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += BASE64_LINE) lines.push(b64.slice(i, i + BASE64_LINE));
  return Buffer.from(`${lines.join("\r\n")}\r\n`, "ascii");
}

/** Encodes the body: ISO-2022-JP when asked for and possible, 7bit when every line fits, else base64. */
function encodeBody(text: string, charset: RenderOptions["charset"], warnings: string[]): EncodedBody {
  const crlf = text.replace(/\r?\n/g, "\r\n");
  if (charset === "iso-2022-jp") {
    const jis = encodeIso2022Jp(crlf);
    if (jis) {
      if (maxLineOctets(jis) <= MAX_LINE_OCTETS) return { bytes: jis, charset: "ISO-2022-JP", transferEncoding: "7bit" };
      return { bytes: base64Lines(jis), charset: "ISO-2022-JP", transferEncoding: "base64" };
    }
    warnings.push("output charset: a character does not fit ISO-2022-JP, UTF-8 used");
  }
  const utf8 = Buffer.from(crlf, "utf8");
  const ascii = /^[\x00-\x7f]*$/.test(crlf);
  if (ascii && maxLineOctets(utf8) <= MAX_LINE_OCTETS) return { bytes: utf8, charset: "UTF-8", transferEncoding: "7bit" };
  return { bytes: base64Lines(utf8), charset: "UTF-8", transferEncoding: "base64" };
}

function emptyContent(message: AnalyzedMessage): AnalyzedContent {
  const f = message.facts;
  const headers: AnalyzedContent["headers"] = {
    from: f.from,
    to: f.to,
    cc: f.cc,
    replyTo: f.replyTo,
    subject: f.subject,
    inReplyTo: [],
    references: [],
  };
  if (f.date) headers.date = f.date;
  if (f.messageId) headers.messageId = f.messageId;
  return { headers, blocks: [], charsets: [], warnings: [], limitsHit: [], calendar: [], forwarded: 0, encrypted: { smime: false, pgp: false } };
}

function summaryHeader(report: SanitizeReport): string {
  const parts = [
    `html=${report.html.present ? (report.html.converted ? "converted" : "dropped") : "none"}`,
    `attachments=${report.attachments.length}`,
    `links=${report.links.disarmed}/${report.links.found} ${report.links.mode}`,
  ];
  if (report.encrypted.protectedFiles) parts.push(`protected=${report.encrypted.protectedFiles}`);
  if (report.limitsHit.length) parts.push(`limits=${report.limitsHit.join(",")}`);
  if (report.withheld !== undefined) parts.push("withheld");
  return parts.join("; ");
}

export function render(message: AnalyzedMessage, options: RenderOptions): SanitizeResult {
  const content = message.content ?? emptyContent(message);
  const words = WORDS[options.language] ?? WORDS.ja;
  const warnings = [...content.warnings];
  const state: BodyState = { words, options, htmlConverted: false, alternative: undefined, unreadable: content.encrypted.smime };

  // --- body text (none of it when withheld)
  let text = "";
  let found = 0;
  let disarmed = 0;
  let deceptive = 0;
  let urls: string[] = [];
  if (!options.withheld) {
    const pieces = [calendarText(content, words), ...renderBlocks(content.blocks, state)].filter((p) => p !== "");
    if (content.limitsHit.includes("maxTextChars") || content.limitsHit.includes("maxHtmlBytes")) pieces.push(words.truncated);
    pieces.push(...extractedSections(content.extracted, options.language));
    const links = processLinks(pieces.join("\n\n"), options.links, words.linkRemoved);
    found = links.found;
    disarmed = links.disarmed;
    urls = links.urls;
    const dot = options.links === "keep" ? "." : "[.]";
    text = links.text.replace(EMBEDDED_RE, (_m, kind: string, name: string) => words.embedded(kind, name || words.noFilename)).replace(DECEPTIVE_RE, (_m, shown: string, real: string) => {
      deceptive++;
      noteUrl(urls, real.replace(SENTINEL_DOT_RE, "."));
      const target = options.links === "remove" ? words.linkRemoved : real.replace(SENTINEL_DOT_RE, dot);
      return words.deceptive(shown.replace(SENTINEL_DOT_RE, dot), target);
    });
    // a marker cut in half by the text budget must not leave private-use characters behind
    text = text.replace(/[\uE000-\uE00F]/g, "");
  }
  const hasHtml = message.facts.hasHtml;
  const attachments = message.facts.attachments;
  const limitsHit = content.limitsHit;

  // --- notice
  const template = options.noticeTemplate ?? builtinNotice(options.language);
  const scope = noticeScope({
    auditId: displaySafe(options.auditId),
    language: options.language,
    ...(options.withheld ? { withheld: displaySafe(options.withheld.reason) } : {}),
    htmlConverted: state.htmlConverted,
    alternativeHtml: state.alternative === "html",
    linksDisarmed: disarmed,
    linksRemoved: options.links === "remove",
    deceptiveLinks: deceptive,
    calendar: content.calendar.length > 0 && !options.withheld,
    forwarded: options.withheld ? 0 : content.forwarded,
    unreadable: state.unreadable || content.encrypted.smime || (content.encrypted.pgp && state.unreadable),
    attachments,
    limitsHit,
    senderUnverified: options.authentication ? senderUnverified(options.authentication) : false,
  });
  // the template's own text is operator input: controls in it are shown, not obeyed, like any other
  let rendered: string;
  try {
    rendered = renderTemplate(template, scope);
  } catch (error) {
    // a broken operator template must not stop mail: the built-in one is used and the report says why
    warnings.push(`notice template: ${(error as Error).message}; built-in notice used`);
    rendered = renderTemplate(builtinNotice(options.language), scope);
  }
  let notice = rendered.replace(/\r\n?/g, "\n").replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
  const complete = notice.includes(String(scope.auditId)) && attachments.every((a) => notice.includes(a.sha256));
  if (!complete) {
    // an operator's template may reword everything but cannot drop what staff and auditors rely on
    notice = `${`${notice.trimEnd()}\n`}${renderTemplate(options.language === "en" ? MANDATORY_EN : MANDATORY_JA, scope)}`;
  }
  // nor the warning that the sender could not be verified
  if (scope.senderUnverified && !notice.includes(words.senderUnverified)) notice = `${words.senderUnverified}\n${notice}`;
  const body = `${`${notice.trimEnd()}\n`}${text ? `\n${text}\n` : ""}`;
  const encoded = encodeBody(body, options.charset, warnings);
  const outCharset = encoded.charset === "ISO-2022-JP" ? "iso-2022-jp" : "utf-8";

  // --- headers
  const h = content.headers;
  const hostname = token(options.hostname, "localhost");
  const auditToken = token(options.auditId, "unknown");
  const nowText = formatDate(options.now.getTime(), 0);
  const trace = options.trace;
  const received = [
    ...(trace ? ["from", token(trace.clientHelo, "unknown"), `(${token(trace.clientAddress, "unknown")})`] : []),
    "by",
    hostname,
    "(mumuka)",
    ...(trace ? ["with", token(trace.protocol, "ESMTP")] : []),
    "id",
    `${auditToken};`,
    nowText,
  ];
  const lines: HeaderField[] = [];
  // RFC 8601 5: above the trace fields of this hop; the original's own never reach the output (allow-list)
  if (options.authentication) lines.push(foldedTokens("Authentication-Results", authResultsTokens(options.authentication)));
  lines.push(foldedTokens("Received", received));
  const from = validAddresses(h.from);
  if (from.length === 0) {
    if (h.from.length === 0) warnings.push("no valid From address");
    from.push({ name: displaySafe(h.from.map((a) => a.name || a.address).join(", ")), address: INVALID_SENDER });
  }
  lines.push(addressHeader("From", from, outCharset, INVALID_SENDER));
  const to = shownAddresses(h.to);
  lines.push(to.length ? addressHeader("To", to, outCharset) : tokenHeader("To", "undisclosed-recipients:;"));
  const cc = shownAddresses(h.cc);
  if (cc.length) lines.push(addressHeader("Cc", cc, outCharset));
  const replyTo = shownAddresses(h.replyTo);
  if (replyTo.length) lines.push(addressHeader("Reply-To", replyTo, outCharset));
  // the Subject is the first thing staff see: a URL in it is disarmed like one in the body (not counted: the notice counts the body's)
  const subject = [...options.subjectTags.map(displaySafe), processLinks(displaySafe(h.subject), options.links, words.linkRemoved).text].filter((s) => s !== "").join(" ");
  lines.push(unstructuredHeader("Subject", subject, outCharset));
  lines.push(foldedTokens("Date", [h.date ?? nowText]));
  lines.push(tokenHeader("Message-ID", `<${h.messageId ?? `${auditToken}@${hostname}`}>`));
  if (h.inReplyTo.length) lines.push(tokenHeader("In-Reply-To", h.inReplyTo.map((id) => `<${id}>`).join(" ")));
  if (h.references.length) lines.push(tokenHeader("References", h.references.map((id) => `<${id}>`).join(" ")));
  lines.push(tokenHeader("MIME-Version", "1.0"));
  lines.push(tokenHeader("Content-Type", `text/plain; charset=${encoded.charset}`));
  lines.push(tokenHeader("Content-Transfer-Encoding", encoded.transferEncoding));
  lines.push(tokenHeader("X-Mumuka-Id", auditToken));

  const report: SanitizeReport = {
    auditId: options.auditId,
    input: { size: message.facts.size, sha256: message.facts.sha256 },
    output: { size: 0, sha256: "", charset: encoded.charset.toLowerCase(), transferEncoding: encoded.transferEncoding },
    headers: { from: h.from, to: h.to, cc: h.cc, subject: h.subject },
    html: { present: hasHtml, converted: state.htmlConverted },
    attachments,
    links: { found, disarmed, mode: options.links, urls },
    charsets: content.charsets,
    forwarded: content.forwarded,
    calendar: content.calendar,
    encrypted: { smime: content.encrypted.smime, pgp: content.encrypted.pgp, protectedFiles: attachments.filter((a) => a.encrypted).length },
    limitsHit,
    warnings: [...new Set(warnings)],
    rulesApplied: options.rulesApplied,
  };
  if (h.messageId) report.headers.messageId = h.messageId;
  if (h.date) report.headers.date = h.date;
  if (state.alternative) report.alternative = state.alternative;
  if (options.withheld) report.withheld = options.withheld.reason;
  const extraction = extractionReport(content.extracted);
  if (extraction) report.extraction = extraction;

  lines.push(tokenHeader("X-Mumuka-Sanitized", summaryHeader(report)));
  if (options.authentication) lines.push(foldedTokens("X-Mumuka-Auth", authSummaryTokens(options.authentication)));
  if (options.rulesApplied.length) lines.push(unstructuredHeader("X-Mumuka-Rules", options.rulesApplied.map(displaySafe).join(", "), "utf-8"));

  // headerBlock() asserts every line (printable ASCII, ≤ 998 octets) and throws on a violation: a bug, held by the pipeline
  const messageBytes = Buffer.concat([headerBlock(lines), Buffer.from("\r\n", "latin1"), encoded.bytes]);
  report.output.size = messageBytes.length;
  report.output.sha256 = createHash("sha256").update(messageBytes).digest("hex");
  return { message: messageBytes, report, text: body };
}
