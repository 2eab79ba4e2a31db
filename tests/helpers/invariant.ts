/**
 * The safety invariant of DESIGN.md, checked on the OUTPUT BYTES.
 *
 * The sanitized message is parsed again here, independently of the core: a
 * strict hand check of the header block (allow-list, counts, ASCII, folding,
 * RFC 2047 words decoded with fatal decoders), the transfer encoding and the
 * charset of the body, then a second opinion from mailparser (one part, no
 * attachment, no HTML). Nothing of the core's code is imported, so a bug in
 * the core's encoder cannot hide the same bug in the check.
 *
 * SECURITY: reads sanitizer output (untrusted input made safe) and, when given,
 * the raw input (hostile) — only to learn which `<tag>`-looking strings the
 * sender legitimately wrote as plain text.
 */
import { createHash } from "node:crypto";
import { convert } from "html-to-text";
import { simpleParser } from "mailparser";
import type { SanitizeResult } from "../../src/sanitize/sanitize-types.ts";

/** What a mail client could open: a scheme and two slashes either way round, "www." in either width with any full stop, two backslashes before a name. */
export const LIVE_LINK = /[A-Za-z][A-Za-z0-9+.-]*:[/\\]{2}|(?:www|ｗｗｗ)[.．。｡]|(?<!\[)\\\\[^\s\\]/iu;

/** RFC 5322 §2.1.1: a line is at most 998 octets, CRLF excluded. */
export const MAX_LINE_OCTETS = 998;
/** RFC 2047 §2: an encoded-word is at most 75 characters. */
const MAX_ENCODED_WORD = 75;
/** Inputs larger than this are not re-parsed for the markup allowance (mailparser holds them whole). */
const MAX_ALLOWANCE_INPUT = 20 * 1024 * 1024;

/** Header names the output may carry (lower case), and how often (RFC 5322 §3.6 where it speaks). */
const HEADER_COUNTS: Record<string, { min: number; max: number }> = {
  from: { min: 1, max: 1 },
  to: { min: 0, max: 1 },
  cc: { min: 0, max: 1 },
  "reply-to": { min: 0, max: 1 },
  subject: { min: 0, max: 1 },
  date: { min: 1, max: 1 },
  "message-id": { min: 0, max: 1 },
  "in-reply-to": { min: 0, max: 1 },
  references: { min: 0, max: 1 },
  "mime-version": { min: 1, max: 1 },
  "content-type": { min: 1, max: 1 },
  "content-transfer-encoding": { min: 0, max: 1 },
  received: { min: 0, max: Infinity },
  "authentication-results": { min: 0, max: Infinity },
};
/** mumuka's own headers that must be unique. */
const UNIQUE_MUMUKA = new Set(["x-mumuka-id"]);

/**
 * Markup that html-to-text always removes: if one of these is in the output and
 * the sender did not write it as text, HTML leaked through.
 */
const MARKUP =
  /<\s*\/?\s*(script|style|iframe|object|embed|form|input|meta|link|html|head|body|table|tr|td|div|span|font|img|a|p|br|center|svg|base|frame|frameset|applet)(?=[\s>/])[^<>]{0,200}>/gi;

export interface SanitizedView {
  /** header fields in order, names as written, values unfolded and RFC 2047-decoded */
  headers: Array<{ name: string; value: string; raw: string }>;
  /** charset declared in Content-Type, lower case */
  charset: string;
  transferEncoding: string;
  /** the body decoded to text as a reader sees it (CRLF kept; format=flowed soft breaks joined) */
  text: string;
  /** the decoded body before any format=flowed joining */
  rawText: string;
  /** first value of a header, decoded; undefined when absent */
  get(name: string): string | undefined;
}

export interface InvariantOptions {
  /** the raw input: lets `<b>`-like text the sender wrote in text/plain pass */
  input?: Buffer;
  /** the audit id the caller passed in the options */
  auditId?: string;
}

/** Checks the invariant; returns the violations (empty when the output is safe) and the parsed view. */
export async function checkSanitized(
  result: SanitizeResult,
  options: InvariantOptions = {},
): Promise<{ violations: string[]; view?: SanitizedView }> {
  const violations: string[] = [];
  const bad = (what: string) => violations.push(what);
  const message = result.message;
  if (!Buffer.isBuffer(message)) return { violations: ["result.message is not a Buffer"] };

  // --- line structure: CRLF only, ≤ 998 octets ---------------------------
  let lineStart = 0;
  let lineNo = 1;
  for (let i = 0; i < message.length; i++) {
    const byte = message[i];
    if (byte === 0x0d) {
      if (message[i + 1] !== 0x0a) {
        bad(`bare CR at byte ${i} (line ${lineNo})`);
        break;
      }
    } else if (byte === 0x0a) {
      if (message[i - 1] !== 0x0d) {
        bad(`bare LF at byte ${i} (line ${lineNo})`);
        break;
      }
      const len = i - 1 - lineStart;
      if (len > MAX_LINE_OCTETS) bad(`line ${lineNo} is ${len} octets (> ${MAX_LINE_OCTETS})`);
      lineStart = i + 1;
      lineNo++;
    } else if (byte === 0x00) {
      bad(`NUL byte at ${i}`);
      break;
    }
  }
  if (message.length - lineStart > MAX_LINE_OCTETS) bad(`last line is ${message.length - lineStart} octets`);

  // --- header block -------------------------------------------------------
  const sep = message.indexOf("\r\n\r\n");
  if (sep < 0) return { violations: [...violations, "no blank line between header and body"] };
  const headerBytes = message.subarray(0, sep + 2);
  for (let i = 0; i < headerBytes.length; i++) {
    const b = headerBytes[i]!;
    if (b > 0x7e || (b < 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a)) {
      bad(`header block has non-ASCII or control byte 0x${b.toString(16)} at ${i}`);
      break;
    }
  }
  const headerText = headerBytes.toString("latin1");
  const fields: Array<{ name: string; raw: string }> = [];
  for (const line of headerText.split("\r\n").slice(0, -1)) {
    if (/^[ \t]/.test(line)) {
      const last = fields.at(-1);
      if (!last) {
        bad("header block starts with a continuation line");
        continue;
      }
      if (line.trim() === "") bad(`header ${last.name} has a whitespace-only continuation line`);
      last.raw += `\r\n${line}`;
      continue;
    }
    const m = /^([!-9;-~]+):/.exec(line);
    if (!m) {
      bad(`not a header field: ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    fields.push({ name: m[1]!, raw: line.slice(m[0].length) });
  }
  const counts = new Map<string, number>();
  const headers: SanitizedView["headers"] = [];
  for (const field of fields) {
    const lower = field.name.toLowerCase();
    counts.set(lower, (counts.get(lower) ?? 0) + 1);
    if (!(lower in HEADER_COUNTS) && !lower.startsWith("x-mumuka-")) bad(`header not allow-listed: ${field.name}`);
    const unfolded = field.raw.replace(/\r\n(?=[ \t])/g, "").trim();
    const decoded = decodeWords(unfolded, lower, bad);
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(decoded)) {
      bad(`header ${field.name} decodes to a control character: ${JSON.stringify(decoded.slice(0, 120))}`);
    }
    headers.push({ name: field.name, value: decoded, raw: field.raw });
  }
  for (const [name, { min, max }] of Object.entries(HEADER_COUNTS)) {
    const n = counts.get(name) ?? 0;
    if (n < min || n > max) bad(`header ${name} appears ${n} times (allowed ${min}..${max})`);
  }
  for (const name of UNIQUE_MUMUKA) {
    const n = counts.get(name) ?? 0;
    if (n !== 1) bad(`header ${name} appears ${n} times (exactly once expected)`);
  }
  const get = (name: string) => headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

  const mumukaId = get("X-Mumuka-Id");
  if (mumukaId !== undefined && mumukaId !== result.report?.auditId) {
    bad(`X-Mumuka-Id ${mumukaId} differs from report.auditId ${result.report?.auditId}`);
  }
  if (options.auditId !== undefined && mumukaId !== options.auditId) {
    bad(`X-Mumuka-Id ${mumukaId} differs from the audit id given ${options.auditId}`);
  }
  if (get("MIME-Version") !== undefined && get("MIME-Version") !== "1.0") bad(`MIME-Version is ${get("MIME-Version")}`);
  // the structured headers mumuka writes must parse for the downstream MTA and mail clients
  const date = get("Date");
  if (date !== undefined && !/^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}(?::\d{2})? [+-]\d{4}$/.test(date)) {
    bad(`Date is not an RFC 5322 date-time: ${JSON.stringify(date)}`);
  }
  const msgId = /^<[^<>\s@]+@[^<>\s@]+>$/;
  const messageId = get("Message-ID");
  if (messageId !== undefined && !msgId.test(messageId)) bad(`Message-ID is not a msg-id: ${JSON.stringify(messageId.slice(0, 120))}`);
  for (const name of ["In-Reply-To", "References"]) {
    const value = get(name);
    if (value !== undefined && !value.split(/\s+/).every((id) => msgId.test(id))) bad(`${name} is not a list of msg-ids: ${JSON.stringify(value.slice(0, 120))}`);
  }
  const from = get("From");
  if (from !== undefined && !/[^\s<>@]+@[^\s<>@]+/.test(from)) bad(`From has no address: ${JSON.stringify(from.slice(0, 120))}`);

  // --- Content-Type and transfer encoding ---------------------------------
  const contentType = (get("Content-Type") ?? "").toLowerCase();
  const ct = /^text\/plain\s*(;.*)?$/.exec(contentType);
  if (!ct) bad(`Content-Type is not text/plain: ${contentType}`);
  const params = parseParams(ct?.[1] ?? "");
  const charset = params.get("charset") ?? "";
  if (charset !== "utf-8" && charset !== "iso-2022-jp") bad(`charset is ${JSON.stringify(charset)}, not utf-8 or iso-2022-jp`);
  for (const key of params.keys()) {
    if (!["charset", "format", "delsp"].includes(key)) bad(`Content-Type has parameter ${key}`);
  }
  const transferEncoding = (get("Content-Transfer-Encoding") ?? "7bit").toLowerCase();
  const body = message.subarray(sep + 4);
  let decodedBody: Buffer | undefined;
  switch (transferEncoding) {
    case "7bit":
      if (body.some((b) => b > 0x7f)) bad("7bit body has 8-bit bytes");
      decodedBody = body;
      break;
    case "8bit":
      decodedBody = body;
      break;
    case "base64": {
      const compact = body.toString("latin1").replace(/\r\n/g, "");
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) bad("base64 body is not clean base64");
      decodedBody = Buffer.from(compact, "base64");
      break;
    }
    case "quoted-printable":
      decodedBody = decodeQuotedPrintable(body.toString("latin1"), bad);
      break;
    default:
      bad(`Content-Transfer-Encoding ${transferEncoding} is not allowed`);
  }
  let text = "";
  if (decodedBody) {
    if (charset === "iso-2022-jp") {
      if (decodedBody.some((b) => b > 0x7f)) bad("iso-2022-jp body has 8-bit bytes");
      // RFC 1468 allows only ASCII, JIS X 0201 Roman and JIS X 0208; half-width kana (ESC ( I)
      // or JIS X 0212 would be ISO-2022-JP-1/CP50221, which many Japanese mail clients misread
      const escapes = decodedBody.toString("latin1").match(/\x1b[^\x1b]{0,3}/g) ?? [];
      for (const esc of escapes) {
        if (!/^\x1b(\(B|\(J|\$@|\$B)/.test(esc)) {
          bad(`iso-2022-jp body has an escape sequence outside RFC 1468: ${JSON.stringify(esc)}`);
          break;
        }
      }
    }
    try {
      text = new TextDecoder(charset === "iso-2022-jp" ? "iso-2022-jp" : "utf-8", { fatal: true }).decode(decodedBody);
    } catch {
      bad(`body does not decode as ${charset}`);
      text = new TextDecoder("utf-8").decode(decodedBody);
    }
    if (/\r(?!\n)|(?<!\r)\n/.test(text)) bad("decoded body has bare CR or LF line breaks");
    if (text.includes("\u0000")) bad("decoded body contains NUL");
  }

  // --- no attachment in disguise -------------------------------------------
  // Thunderbird (libmime MimeUntypedText) and Outlook turn these blocks inside text/plain back
  // into attachments: a uuencoded, yEnc or BinHex file in the text is an attachment delivered.
  const uu = /^begin(?:-base64)? [0-7]{3,4} \S[^\r\n]*\r\n(?:[!-`]{1,62}\r\n){2}/m.exec(text);
  if (uu) bad(`text carries a uuencoded file (mail clients show it as an attachment): ${JSON.stringify(uu[0].slice(0, 60))}`);
  // named or not: a =ybegin line and a =yend line frame a file any yEnc decoder writes back
  if (/^=ybegin .*name=/m.test(text) || (/^=ybegin(?: |$)/m.test(text) && /^=yend(?: |$)/m.test(text))) {
    bad("text carries a yEnc-encoded file (mail clients show it as an attachment)");
  }
  if (/^\(This file must be converted with BinHex/m.test(text)) bad("text carries a BinHex file (mail clients show it as an attachment)");
  // a file's bytes written as text (base64, hex, quoted-printable, bare uuencode or BinHex lines, a
  // MIME part's header and body): anyone can decode them back into the file
  for (const found of encodedBlocks(text).slice(0, 3)) bad(`text carries ${found}`);

  // --- report consistency -------------------------------------------------
  const report = result.report;
  if (!report) bad("no report");
  else {
    if (report.output?.sha256 !== createHash("sha256").update(message).digest("hex")) bad("report.output.sha256 is not the SHA-256 of the message");
    if (report.output?.size !== message.length) bad(`report.output.size ${report.output?.size} != ${message.length}`);
    if ((report.output?.charset ?? "").toLowerCase() !== charset) bad(`report.output.charset ${report.output?.charset} != ${charset}`);
    // the audit trail identifies the original by these two: they must be the input's
    if (options.input) {
      if (report.input?.size !== options.input.length) bad(`report.input.size ${report.input?.size} != ${options.input.length}`);
      if (report.input?.sha256 !== createHash("sha256").update(options.input).digest("hex")) bad("report.input.sha256 is not the SHA-256 of the input");
    }
    if (!Array.isArray(report.attachments)) bad("report.attachments is not an array");
    else if (!report.withheld) {
      // a withheld message carries no sender text at all, file names included
      const flat = text.replace(/\s+/g, "");
      // a file name is listed disarmed when it holds a link ("hxxps[://]evil[.]example"): compared without the brackets
      const undefanged = (s: string) => s.toLowerCase().replace(/\s+|[[\]]/g, "").replace(/hxxp/g, "http").replace(/fxp/g, "ftp");
      const flatUndefanged = undefanged(flat);
      for (const part of report.attachments) {
        if (!/^[0-9a-f]{64}$/.test(part.sha256)) bad(`attachment ${part.path} sha256 is not lower-case hex: ${part.sha256}`);
        else if (!flat.includes(part.sha256)) bad(`notice does not list the SHA-256 of removed part ${part.path} (${part.filename})`);
        if (part.filename && part.filename.length <= 200 && !flatUndefanged.includes(undefanged(part.filename))) {
          bad(`notice does not list the file name of removed part ${part.path}: ${JSON.stringify(part.filename)}`);
        }
        if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u0000-\u001f\u007f]/.test(part.filename)) {
          bad(`report file name keeps a control/bidi character: ${JSON.stringify(part.filename)}`);
        }
      }
    }
    // the built-in notice (between its two rules) is mumuka's voice: sender text in it (file names, types) is never a live link
    const rule = "━".repeat(40);
    const first = text.indexOf(rule);
    const second = first < 0 ? -1 : text.indexOf(rule, first + rule.length);
    const live = second < 0 ? null : LIVE_LINK.exec(text.slice(first, second));
    if (live) bad(`notice shows a live link: ${JSON.stringify(live[0])}`);
  }

  // --- second opinion: mailparser -----------------------------------------
  try {
    const parsed = await simpleParser(message, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    if (parsed.attachments.length > 0) bad(`mailparser finds ${parsed.attachments.length} attachment(s) in the output`);
    if (parsed.html !== false && parsed.html !== undefined) bad("mailparser finds an HTML body in the output");
  } catch (error) {
    bad(`mailparser cannot parse the output: ${(error as Error).message}`);
  }

  // --- no markup from the input -------------------------------------------
  const tags = [...new Set([...text.matchAll(MARKUP)].map((m) => m[0].toLowerCase().replace(/\s+/g, " ")))];
  if (tags.length > 0) {
    // sender-written names the notice shows (file names, subject, display names) are text too
    const named = report
      ? [
          ...(report.attachments ?? []).map((a) => a.filename),
          report.headers?.subject ?? "",
          ...[...(report.headers?.from ?? []), ...(report.headers?.to ?? []), ...(report.headers?.cc ?? [])].map((a) => a.name),
        ].join("\n")
      : "";
    const fromInput = options.input && options.input.length <= MAX_ALLOWANCE_INPUT ? await plainTextOf(options.input) : "";
    const allowance = `${fromInput}\n${named.toLowerCase()}`;
    // compare by tag name: the core may have rewritten the attributes (a defanged href), so
    // `<a href="hxxp[://]…">` in the output is allowed when the sender wrote `<a ` as text
    const leaked = tags.filter((tag) => {
      const name = /^<\s*\/?\s*([a-z]+)/.exec(tag)?.[1] ?? "";
      return !new RegExp(`<\\s*/?\\s*${name}[\\s>/]`).test(allowance);
    });
    if (leaked.length > 0) bad(`markup in the output that the sender did not write as text: ${leaked.slice(0, 5).join(" ")}`);
  }

  const flowed = params.get("format") === "flowed";
  const shown = flowed ? unflow(text, params.get("delsp") === "yes") : text;
  const view: SanitizedView = { headers, charset, transferEncoding, text: shown, rawText: text, get };
  return { violations, view };
}

/** Throws one error listing every violation; returns the parsed output for assertions on meaning. */
export async function assertSanitized(result: SanitizeResult, input?: Buffer, expect: { auditId?: string } = {}): Promise<SanitizedView> {
  const { violations, view } = await checkSanitized(result, { input, ...expect });
  if (violations.length > 0 || !view) {
    const head = result.message?.subarray(0, 1500).toString("latin1") ?? "";
    throw new Error(`sanitized output breaks the invariant:\n - ${violations.join("\n - ")}\n--- output starts ---\n${head}`);
  }
  return view;
}

/** Encoded data decoding to at least this many bytes is a file, not a token (docs/sanitize.md). */
const MIN_FILE_BYTES = 128;
/** Inside a URL, a tracking token may be this long before it counts as a file whatever it holds. */
const MAX_URL_TOKEN = 4096;
/** File signatures: a run in a URL that decodes to one of these is a file however short. */
const FILE_HEADS = ["4d5a", "7f454c46", "504b0304", "255044462d", "d0cf11e0a1b11ae1"];

function looksLikeData(run: string, hex: boolean): boolean {
  return hex ? /[0-9]/.test(run) && /[a-f]/i.test(run) : /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run);
}

/**
 * Blocks of encoded data in the output text, described for a violation message. Written
 * apart from the core's detector (src/sanitize/embedded.ts) on purpose: lines joined when
 * they hold nothing but data, runs found with plain regular expressions.
 */
export function encodedBlocks(text: string): string[] {
  const found: string[] = [];
  const lines = text.split("\r\n").map((l) => l.replace(/^[ \t>]*/, "").trimEnd());
  const report = (kind: string, bytes: number, sample: string) => found.push(`a ${kind} block of ${bytes} bytes (a file staff could decode): ${JSON.stringify(sample.slice(0, 40))}`);
  // base64 / hex: lines of data alone joined, and runs inside any line
  let block = "";
  const flush = () => {
    const hex = /^[0-9a-f]+$/i.test(block);
    const bytes = hex ? block.length / 2 : Math.floor((block.replace(/=+$/, "").length * 3) / 4);
    if (bytes >= MIN_FILE_BYTES && looksLikeData(block, hex)) report(hex ? "hex" : "base64", bytes, block);
    block = "";
  };
  for (const line of lines) {
    if (/^[A-Za-z0-9+/_-]{16,}={0,2}$/.test(line)) {
      block += line;
      if (line.endsWith("=")) flush();
      continue;
    }
    if (block) flush();
    for (const m of line.matchAll(/[A-Za-z0-9+/_-]{171,}/g)) {
      const run = m[0];
      const token = line.slice(Math.max(line.lastIndexOf(" ", m.index), line.lastIndexOf("\t", m.index)) + 1, m.index);
      const hex = /^[0-9a-f]+$/i.test(run);
      const bytes = hex ? run.length / 2 : Math.floor((run.length * 3) / 4);
      if (bytes < MIN_FILE_BYTES || !looksLikeData(run, hex)) continue;
      const head = (hex ? Buffer.from(run.slice(0, 32), "hex") : Buffer.from(run.slice(0, 32), "base64")).toString("hex");
      const inUrl = /:\/\/|\[:\/\/\]|www/i.test(token);
      if (inUrl && run.length <= MAX_URL_TOKEN && !FILE_HEADS.some((sig) => head.startsWith(sig))) continue;
      report(hex ? "hex" : "base64", bytes, run);
    }
  }
  if (block) flush();
  // quoted-printable of binary bytes: lines dense with =XX escapes that decode to NUL bytes
  let qp: number[] = [];
  const flushQp = () => {
    const controls = qp.filter((b) => b < 0x20 && ![0x09, 0x0a, 0x0d, 0x0c, 0x1b].includes(b)).length;
    if (qp.length >= MIN_FILE_BYTES && (qp.includes(0) || controls * 20 > qp.length)) report("quoted-printable", qp.length, Buffer.from(qp).toString("hex"));
    qp = [];
  };
  for (const line of lines) {
    const escapes = line.match(/=[0-9A-F]{2}/g)?.length ?? 0;
    if (escapes >= 4 && escapes * 9 >= line.length) {
      const decoded = line.replace(/=$/, "").replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      qp.push(...Buffer.from(decoded, "latin1"));
    } else flushQp();
  }
  flushQp();
  // line-shaped encodings: bare uuencode lines, BinHex lines, hex dumps, a MIME part's header
  const joined = lines.join("\n");
  if (/^M[ -`]{60}\nM[ -`]{60}\nM[ -`]{60}$/m.test(joined)) report("uuencode", 135, /^M[ -`]{60}$/m.exec(joined)![0]);
  const binhex = /^:[!-,\-0-689@A-NP-VX-\[`a-fh-mp-r]{63}\n[!-,\-0-689@A-NP-VX-\[`a-fh-mp-r]{64}\n/m.exec(joined);
  if (binhex) report("BinHex", 96, binhex[0]);
  const dump = /^(?:(?:[0-9A-Fa-f]{4,16}:?[ \t]+)?(?:[0-9A-Fa-f]{2,4} {1,2}){8}[^\n]*\n){8}/m.exec(`${joined}\n`);
  if (dump) report("hex dump", 128, dump[0]);
  const mimePart = /^--[!-~]{1,200}\nContent-(?:Type|Transfer-Encoding|Disposition):.*\n(?:[!-9;-~]+:.*\n|[ \t].*\n)*\n?[A-Za-z0-9+/]{40,}/im.exec(joined);
  if (mimePart) found.push(`a MIME part (delimiter, header and encoded body) shown as text: ${JSON.stringify(mimePart[0].slice(0, 60))}`);
  found.push(...otherSpellings(lines));
  return found;
}

/** control bytes other than the ones text uses (tab, LF, CR, FF, ESC) */
const controlCount = (bytes: number[]): number => bytes.filter((b) => b < 0x20 && ![0x09, 0x0a, 0x0d, 0x0c, 0x1b].includes(b)).length;
/** bytes no text is made of: a NUL, a file signature, one control byte in twenty */
function binary(bytes: number[]): boolean {
  const head = Buffer.from(bytes.slice(0, 8)).toString("hex");
  return bytes.includes(0) || FILE_HEADS.some((sig) => head.startsWith(sig)) || controlCount(bytes) * 20 > bytes.length;
}

/**
 * The other spellings of a file (docs/sanitize.md): byte lists in any notation, escape-dense
 * lines, base64 / base32 in separated pieces, Ascii85 and Z85. Written apart from the core's
 * byte-spellings.ts on purpose, with regular expressions over the whole text: what a reviewer
 * with a script would look for. Only what is a file for certain is flagged (decimal numbers
 * must reach above 127 and below 32, escapes must spell binary bytes), so ordinary mail passes.
 */
function otherSpellings(lines: string[]): string[] {
  const found: string[] = [];
  const report = (kind: string, bytes: number, sample: string) => found.push(`a ${kind} block of ${bytes} bytes (a file staff could decode): ${JSON.stringify(sample.slice(0, 40))}`);
  const text = lines.join("\n");

  // byte lists: a number per byte with only punctuation between (casts and Chr( calls aside)
  let run: Array<{ token: string; before: string }> = [];
  let runStart = 0;
  const flushRun = (): void => {
    if (run.length >= MIN_FILE_BYTES) {
      const tokens = run.map((r) => r.token);
      const escaped = run.some((r) => /[%=\\]$/.test(r.before) || /&#$/.test(r.before));
      const explicit = tokens.some((t) => /^0x|^x|h$/i.test(t)) || /chr|byte/i.test(text.slice(runStart, runStart + 40));
      let bytes: number[] | undefined;
      if (tokens.every((t) => /^[01]{8}$/.test(t))) bytes = tokens.map((t) => parseInt(t, 2));
      else if (tokens.every((t) => /^[0-7]{3}$/.test(t)) && (tokens.some((t) => Number(t) > 255) || run.every((r) => /\\$/.test(r.before)) || /^\d{7} /m.test(text.slice(runStart - 8, runStart))))
        bytes = tokens.map((t) => parseInt(t, 8) & 255);
      else if (tokens.every((t) => /^(?:0x|x)?[0-9a-f]{2}h?$/i.test(t)) && tokens.some((t) => /[a-f]/i.test(t.replace(/^0?x/i, "").replace(/h$/i, ""))))
        bytes = tokens.map((t) => parseInt(t.replace(/^0?x/i, "").replace(/h$/i, ""), 16));
      else if (tokens.every((t) => /^\d{1,3}$/.test(t) && Number(t) <= 255)) bytes = run.map((r) => (/(?:^|[\s,({[])-$/.test(r.before) ? 256 - Number(r.token) : Number(r.token)) & 255);
      if (bytes) {
        const hexish = tokens.some((t) => /[a-f]/i.test(t));
        const wide = bytes.some((b) => b >= 128) && bytes.some((b) => b < 32);
        if (escaped ? binary(bytes) : hexish || explicit || wide || tokens.every((t) => /^[01]{8}$/.test(t))) report("byte list", bytes.length, text.slice(runStart, runStart + 40));
      }
    }
    run = [];
  };
  let last = 0;
  for (const m of text.matchAll(/[0-9A-Za-z]+/g)) {
    const token = m[0];
    const gap = text.slice(last, m.index);
    const lineStart = gap.includes("\n") || m.index === 0;
    last = m.index + token.length;
    if (/^(?:chr[wb]?|char|s?byte|u?int8(?:_t)?)$/i.test(token)) continue;
    // an offset column (hexdump, xxd, od) at the start of a line
    if (lineStart && /^[0-9a-f]{6,16}$/i.test(token) && /^[:\s]/.test(text.slice(last, last + 1) || " ")) continue;
    const byteish = /^(?:0x[0-9a-f]{1,2}|x[0-9a-f]{2}|[0-9a-f]{2}h?|\d{1,3}|[01]{8})$/i.test(token);
    const gapOk = gap.length <= 24 && gap !== "." && /^[\x00-\x7f]*$/.test(gap) && (gap.match(/\n/g)?.length ?? 0) <= 2;
    if (!byteish || !gapOk) flushRun();
    if (byteish) {
      if (run.length === 0) runStart = m.index;
      run.push({ token, before: gap });
    }
  }
  flushRun();

  // escape-dense lines (%4D, \x4d, \115 among literal characters) spelling binary bytes
  let escaped: number[] = [];
  const flushEscaped = (): void => {
    if (escaped.length >= MIN_FILE_BYTES && binary(escaped)) report("escaped", escaped.length, Buffer.from(escaped.slice(0, 20)).toString("hex"));
    escaped = [];
  };
  for (const line of lines) {
    const escapes = line.match(/%[0-9a-f]{2}|\\x[0-9a-f]{2}|\\[0-7]{3}/gi) ?? [];
    if (escapes.length >= 4 && escapes.length * 9 >= line.length && !/:\/\//.test(line)) {
      const decoded = line.replace(/%([0-9a-f]{2})|\\x([0-9a-f]{2})|\\([0-7]{3})/gi, (_m, p?: string, x?: string, o?: string) => String.fromCharCode(p ? parseInt(p, 16) : x ? parseInt(x, 16) : parseInt(o!, 8) & 255));
      escaped.push(...Buffer.from(decoded, "latin1"));
    } else flushEscaped();
  }
  flushEscaped();

  // base64 / base32 in pieces: stretches of the alphabet and separators, separated the same way throughout
  for (const m of text.matchAll(/[A-Za-z0-9+/=_\-\s"'`&.,;()[\]{}|<>\\]{171,}/g)) {
    // "\n" written inside a string, and armour lines (-----BEGIN PGP SIGNATURE-----), are not data
    const region = m[0].replace(/\\[nrt]/g, " ").replace(/-{3,}[A-Z0-9 ]*-{3,}/g, " ");
    const pieces = region.split(/[^A-Za-z0-9+/_-]+/).filter((p) => /[A-Za-z0-9]/.test(p));
    const seps = region.match(/[^A-Za-z0-9+/_-]+/g)?.map((sep) => sep.replace(/\s+/g, "")) ?? [];
    if (pieces.length < 2) continue;
    const counts = new Map<string, number>();
    for (const sep of seps) counts.set(sep, (counts.get(sep) ?? 0) + 1);
    if (Math.max(...counts.values()) * 5 < seps.length * 4) continue;
    // the data's own pieces, words before and after it aside
    const inner = pieces.filter((p) => !/^(?:[A-Z]?[a-z]+|[A-Z]{2,12}|[0-9]+)$/.test(p));
    const compact = inner.join("");
    const changing = [...compact].filter((c, i) => i > 0 && c !== compact[i - 1]);
    const share = (re: RegExp) => changing.filter((c) => re.test(c)).length / Math.max(1, changing.length);
    let classChanges = 0;
    for (let i = 1; i < compact.length; i++) {
      const cls = (c: string) => (/[A-Z]/.test(c) ? 1 : /[a-z]/.test(c) ? 2 : /[0-9]/.test(c) ? 3 : 4);
      if (compact[i] !== compact[i - 1] && cls(compact[i]!) !== cls(compact[i - 1]!)) classChanges++;
    }
    const base32 = /^[A-Z2-7]+$/.test(compact);
    if (base32 ? compact.length >= 205 && share(/[2-7]/) >= 0.05 && classChanges * 12 >= changing.length : compact.length >= 171 && share(/[A-Z]/) >= 0.2 && share(/[a-z]/) >= 0.2 && share(/[0-9]/) >= 0.05 && classChanges * 6 >= changing.length) {
      report(base32 ? "base32" : "base64 (in pieces)", Math.floor((compact.length * (base32 ? 5 : 6)) / 8), compact);
    }
  }

  // Ascii85 between <~ and ~>; Z85 / RFC 1924 runs that mix classes and punctuation like data
  const a85 = /<~[!-uz\s]{160,}?~>/.exec(text);
  if (a85) report("Ascii85", Math.floor((a85[0].length * 4) / 5), a85[0]);
  for (const m of text.matchAll(/[!#-&(-+\--[\]-~]{160,}/g)) {
    const r = m[0];
    if (/:\/\/|^www\./i.test(r) || !/[A-Z]/.test(r) || !/[a-z]/.test(r) || !/[0-9]/.test(r)) continue;
    const marks = r.replace(/[A-Za-z0-9]/g, "");
    const perMark = new Map<string, number>();
    for (const c of marks) perMark.set(c, (perMark.get(c) ?? 0) + 1);
    if (marks.length * 10 >= r.length && marks.length * 100 <= r.length * 45 && perMark.size >= 10 && Math.max(...perMark.values()) * 6 <= r.length) report("base85", Math.floor((r.length * 4) / 5), r);
  }
  return found;
}

/**
 * What the sender wrote as text (text parts, text attachments, HTML converted):
 * `<div>` found here may legitimately appear in the output.
 */
async function plainTextOf(input: Buffer, depth = 0): Promise<string> {
  // mailparser keeps a lone CR or LF inside a line where mumuka (like most mail clients)
  // breaks the line: read a CRLF-normalised copy too, so both readings count as sender text
  const normalised = Buffer.from(input.toString("latin1").replace(/\r\n|\r|\n/g, "\r\n"), "latin1");
  if (depth === 0 && !normalised.equals(input)) return `${await plainTextOf(input, 1)}\n${await plainTextOf(normalised, 1)}`;
  try {
    const parsed = await simpleParser(input, { skipImageLinks: true, skipTextToHtml: true });
    const pieces = [parsed.text ?? ""];
    if (typeof parsed.html === "string") pieces.push(convert(parsed.html, { wordwrap: false }));
    for (const att of parsed.attachments) {
      if (att.contentType === "message/rfc822" && depth < 3) pieces.push(await plainTextOf(att.content, depth + 1));
      else if (att.contentType === "text/html") pieces.push(convert(att.content.toString("utf8"), { wordwrap: false }));
      else if (att.contentType.startsWith("text/")) pieces.push(att.content.toString("utf8"), att.content.toString("latin1"));
    }
    // no part of the input declares text/html: whatever markup it holds was sent as text
    // (e.g. a raw TNEF or a text/plain bounce quoting HTML source)
    const raw = input.toString("latin1");
    if (!/^content-type:\s*text\/html/im.test(raw)) pieces.push(raw);
    return pieces.join("\n").toLowerCase().replace(/\s+/g, " ");
  } catch {
    return "";
  }
}

/**
 * What a format=flowed reader shows (RFC 3676 §4): a line ending in a space is
 * joined to the next one of the same quote depth (the space dropped with
 * delsp=yes); a stuffed leading space is removed; "-- " stays a hard break.
 */
function unflow(text: string, delsp: boolean): string {
  const out: string[] = [];
  let pending: { depth: number; content: string } | undefined;
  for (const line of text.split("\r\n")) {
    const depth = /^>*/.exec(line)![0].length;
    let content = line.slice(depth);
    if (content.startsWith(" ")) content = content.slice(1);
    const soft = content.endsWith(" ") && content !== "-- ";
    if (pending && pending.depth === depth) pending.content += content;
    else {
      if (pending) out.push(">".repeat(pending.depth) + (pending.depth ? " " : "") + pending.content);
      pending = { depth, content };
    }
    if (soft) {
      if (delsp) pending.content = pending.content.slice(0, -1);
      continue;
    }
    out.push(">".repeat(pending.depth) + (pending.depth ? " " : "") + pending.content);
    pending = undefined;
  }
  if (pending) out.push(">".repeat(pending.depth) + (pending.depth ? " " : "") + pending.content);
  return out.join("\r\n");
}

function parseParams(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/;\s*([!#-'*+.0-9A-Z^-~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)/gi)) {
    out.set(m[1]!.toLowerCase(), m[2]!.replace(/^"|"$/g, "").toLowerCase());
  }
  return out;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

/** RFC 2047 decoding with fatal decoders: a malformed word mumuka wrote is a violation. */
function decodeWords(value: string, header: string, bad: (what: string) => void): string {
  // whitespace between two adjacent encoded words is not displayed (RFC 2047 §6.2)
  const joined = value.replace(/(\?=)\s+(?==\?)/g, "$1");
  return joined.replace(ENCODED_WORD, (word, cs: string, enc: string, data: string) => {
    if (word.length > MAX_ENCODED_WORD) bad(`header ${header}: encoded-word longer than ${MAX_ENCODED_WORD}: ${word.slice(0, 40)}…`);
    const label = cs.toLowerCase().replace(/\*.*$/, "");
    if (!["utf-8", "iso-2022-jp", "us-ascii"].includes(label)) bad(`header ${header}: encoded-word charset ${cs}`);
    let bytes: Buffer;
    if (enc.toLowerCase() === "b") {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) bad(`header ${header}: bad base64 in encoded-word`);
      bytes = Buffer.from(data, "base64");
    } else {
      if (/[^!-~]|[?]/.test(data)) bad(`header ${header}: bad Q encoded-word`);
      bytes = Buffer.from(
        data.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
        "latin1",
      );
    }
    try {
      return new TextDecoder(label === "iso-2022-jp" ? "iso-2022-jp" : "utf-8", { fatal: true }).decode(bytes);
    } catch {
      bad(`header ${header}: encoded-word does not decode as ${cs} (split inside a character?)`);
      return "\ufffd";
    }
  });
}

function decodeQuotedPrintable(text: string, bad: (what: string) => void): Buffer {
  const out: number[] = [];
  const lines = text.split("\r\n");
  lines.forEach((line, index) => {
    if (/[ \t]$/.test(line)) bad("quoted-printable line ends in whitespace");
    let soft = false;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      if (c === 0x3d) {
        if (i === line.length - 1) {
          soft = true;
          break;
        }
        const hex = line.slice(i + 1, i + 3);
        if (!/^[0-9A-F]{2}$/.test(hex)) {
          bad(`bad quoted-printable escape =${hex}`);
          out.push(c);
          continue;
        }
        out.push(parseInt(hex, 16));
        i += 2;
      } else {
        if (c > 0x7e || (c < 0x20 && c !== 0x09)) bad("quoted-printable body has a raw control or 8-bit byte");
        out.push(c);
      }
    }
    if (!soft && index < lines.length - 1) out.push(0x0d, 0x0a);
  });
  return Buffer.from(out);
}
