/**
 * Files hidden inside text. A text part can carry a file's bytes as text:
 * a uuencode, yEnc or BinHex block (Thunderbird and Outlook turn these back
 * into attachments), a MIME part whose delimiter the splitter did not follow
 * (a boundary never used, or switched part-way, leaves the later parts in the
 * first part's body), or a long block of base64, hex or quoted-printable data
 * that anyone can decode back into the file. A text-only gateway that let
 * these through would deliver attachments after all. The other spellings a
 * program or a script reads back (byte lists in any notation, escapes, base64
 * and base32 in pieces, base85) are found by byte-spellings.ts, under the same
 * threshold, and cut here with the rest.
 *
 * Each block is cut out of the text (a marker stays in its place, turned into
 * words by render) and reported as a removed part with its decoded size and
 * SHA-256. A leaked MIME part that is plain text (or HTML) is not a file: its
 * words are shown, its headers and delimiter are not.
 *
 * What counts as "long" (see MIN_DATA_BYTES): a block must decode to at least
 * 128 bytes. Below that live the tokens ordinary mail carries in sentences —
 * a SHA-256 or SHA-512 in hex (32/64 bytes), a key fingerprint (20 bytes),
 * an API key or one-time code (≤ 64 bytes), an ed25519 public key (32 bytes);
 * above it begin files (the smallest PE header alone is 64 + 248 bytes).
 * Inside a URL a data-looking run is left to the link handling (tracking
 * links carry a few hundred characters of base64) unless its bytes start with
 * a known file signature or it is longer than any URL browsers accept.
 *
 * SECURITY: the text is sender-controlled and may be megabytes on one line.
 * Every scan is a single forward pass over characters or lines; the regular
 * expressions are anchored, run on one line at a time, and have no nested
 * quantifiers (no ReDoS). `work` counts the steps so a test can show the cost
 * is linear in the text. Decoding never throws; nothing decoded is kept
 * beyond the caller's hashing and sniffing. Pure: no I/O, no clock.
 */
import { decodeText } from "./charset.ts";
import { bodySafe } from "./display-safe.ts";
import { htmlToText } from "./html-text.ts";
import { firstField, parseHeaderBlock, parseStructured } from "./header-decode.ts";
import {
  binaryBytes,
  type Cut,
  decodeEscapedLines,
  escapedFile,
  escapedLine,
  findAscii85,
  findBase85,
  findByteLists,
  findSeparatedRuns,
  knownSignature,
  MAX_URL_DATA_CHARS,
  MAY_BASE85,
  MAY_LISTS,
  MAY_PIECES,
  MAY_RUNS,
  MIN_DATA_BYTES,
  MIN_WRAPPED_LINE,
  possibleSpellings,
} from "./byte-spellings.ts";
import { transferDecoder } from "./transfer-decode.ts";

export { MIN_DATA_BYTES } from "./byte-spellings.ts";

/** Marker left in the text: U+E005 kind U+E006 file name U+E007 (render puts words there). */
export const EMBEDDED_RE = /\uE005([^\uE006]*)\uE006([^\uE007]*)\uE007/g;

/** base64 characters that decode to MIN_DATA_BYTES */
const MIN_BASE64_CHARS = Math.ceil((MIN_DATA_BYTES * 4) / 3);
/** header lines read after a boundary-like line before giving up on it being a part */
const MAX_PART_HEADER_LINES = 64;
/** the longest MIME boundary (RFC 2046 §5.1.1: 70) with room for senders who exceed it */
const MAX_BOUNDARY = 200;

export type EmbeddedKind =
  | "uuencode"
  | "yenc"
  | "binhex"
  | "base64"
  | "hex"
  | "quoted-printable"
  | "mime-part"
  // the other spellings (byte-spellings.ts)
  | "base32"
  | "base85"
  | "decimal"
  | "octal"
  | "binary digits"
  | "percent-encoded"
  | "escaped";

export interface EmbeddedFile {
  kind: EmbeddedKind;
  filename: string;
  /** Content-Type declared by a leaked MIME part's own header, lower case; "" for the others */
  declaredType: string;
  bytes: Buffer;
}

export interface EmbeddedOptions {
  /** the HTML converter's input cap, for a leaked text/html part */
  maxHtmlBytes: number;
  /** warnings for the report (a leaked part's charset trouble, an HTML flattened) */
  warnings?: string[];
  /** steps taken, for tests that show the scans are linear */
  work?: { steps: number };
  /**
   * Only the blocks a line announces (uuencode, yEnc, BinHex, MIME parts): for HTML source,
   * whose data runs are looked for after conversion (a data: URI image is dropped by it anyway)
   */
  announcedOnly?: boolean;
}

/** the HTML converter's cap when the caller gives none (the configuration's default) */
const DEFAULT_MAX_HTML_BYTES = 10 * 1024 * 1024;

const marker = (kind: EmbeddedKind, filename: string): string => `\uE005${kind === "mime-part" ? "MIME" : kind}\uE006${filename.replace(/[\uE000-\uE00F]/g, "")}\uE007`;

// --- decoders ------------------------------------------------------------------------

function uudecodeLine(line: string): Buffer {
  const length = (line.charCodeAt(0) - 32) & 63;
  const out = Buffer.alloc(Math.ceil(length / 3) * 3);
  let o = 0;
  for (let i = 1; o < length; i += 4) {
    const c0 = ((line.charCodeAt(i) || 32) - 32) & 63;
    const c1 = ((line.charCodeAt(i + 1) || 32) - 32) & 63;
    const c2 = ((line.charCodeAt(i + 2) || 32) - 32) & 63;
    const c3 = ((line.charCodeAt(i + 3) || 32) - 32) & 63;
    out[o++] = ((c0 << 2) | (c1 >> 4)) & 255;
    out[o++] = ((c1 << 4) | (c2 >> 2)) & 255;
    out[o++] = ((c2 << 6) | c3) & 255;
  }
  return out.subarray(0, length);
}

function ydecode(lines: string[]): Buffer {
  const out: number[] = [];
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      let b = line.charCodeAt(i) & 255;
      if (b === 0x3d && i + 1 < line.length) {
        i++;
        b = ((line.charCodeAt(i) & 255) - 64) & 255;
      }
      out.push((b - 42) & 255);
    }
  }
  return Buffer.from(out);
}

function transferDecode(body: string, cte: string): Buffer {
  const decoder = transferDecoder(cte);
  const bytes = Buffer.from(body, cte === "base64" || cte === "quoted-printable" ? "latin1" : "utf8");
  return Buffer.concat([decoder.update(bytes), decoder.end()]);
}

// --- pass 1: blocks that announce themselves by a line --------------------------------

const UU_BEGIN = /^begin(-base64)? [0-7]{3,4}(?:[ \t]+(.*))?$/;
const Y_BEGIN = /^=ybegin(?: |$)/;
const Y_NAME = / name=(.*)$/;
const BINHEX = /^\(This file must be converted with BinHex/;
/** a full uuencode data line: length character "M" (45 bytes) and 60 characters */
const UU_FULL_LINE = /^M[ -`]{60}$/;
const BOUNDARY_LINE = new RegExp(`^--([!-~](?:[ -~]{0,${MAX_BOUNDARY - 2}}[!-~])?)[ \\t]*$`);
const PART_HEADER = /^Content-[A-Za-z-]{1,40}[ \t]*:/i;
/** the quote markers of a reply ("> ", ">> ", " > "): one or more, each ending in ">" (no ambiguity, linear) */
const QUOTE_PREFIX = /^(?:[ \t]*>)+ ?/;
const BASE64_LINE = /^[ \t]*[A-Za-z0-9+/]+={0,2}[ \t]*$/;
const HEADER_LINE = /^[!-9;-~]{1,76}[ \t]*:/;

/** types whose identity-encoded content is read as words (the text analyze shows of a part: reports, headers, messages) */
const TEXT_LIKE = new Set([
  "message/rfc822",
  "message/global",
  "message/delivery-status",
  "message/disposition-notification",
  "message/feedback-report",
  "text/rfc822-headers",
]);

/** BinHex 4.0 alphabet (64 characters) */
const BINHEX_CHARS = new Set("!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr");
function binhexLine(line: string): boolean {
  if (line.length !== 64) return false;
  for (let i = 0; i < line.length; i++) if (!BINHEX_CHARS.has(line[i]!)) return false;
  return true;
}

/** A uuencode data line: its first character gives the byte count, which fixes its length. */
function uuDataLine(line: string): boolean {
  const code = line.charCodeAt(0);
  if (!(code >= 0x20 && code <= 0x60)) return false;
  const expected = 1 + Math.ceil(((code - 32) & 63) / 3) * 4;
  if (line.length < expected || line.length > expected + 2) return false;
  for (let i = 1; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x20 || c > 0x60) return false;
  }
  return true;
}

interface Out {
  lines: string[];
  files: EmbeddedFile[];
}

/**
 * A boundary-like line followed by MIME header lines: a part the splitter did not follow.
 * Returns the index of the first line after it, or -1 when this is not a part.
 */
function leakedPart(lines: string[], i: number, out: Out, seen: Set<string>, options: EmbeddedOptions, work: { steps: number }): number {
  const boundary = BOUNDARY_LINE.exec(lines[i]!)?.[1];
  if (boundary === undefined || !PART_HEADER.test(lines[i + 1] ?? "")) return -1;
  let j = i + 1;
  const header: string[] = [];
  for (; j < lines.length && header.length < MAX_PART_HEADER_LINES; j++) {
    const l = lines[j]!;
    work.steps += l.length + 1;
    if (l.trim() === "") break;
    if (!HEADER_LINE.test(l) && !/^[ \t]/.test(l)) break;
    header.push(l);
  }
  // a blank line ends a header block; a part's body may also start at once (lost blank line)
  if (lines[j]?.trim() === "") j++;
  const fields = parseHeaderBlock(Buffer.from(header.join("\r\n") + "\r\n", "utf8"), []);
  const ct = parseStructured(firstField(fields, "content-type") ?? "text/plain");
  const disposition = parseStructured(firstField(fields, "content-disposition") ?? "");
  const cte = (firstField(fields, "content-transfer-encoding") ?? "").trim().toLowerCase();
  const filename = (disposition.params.filename ?? ct.params.name ?? "").trim();
  const declaredType = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(ct.value) ? ct.value : "application/octet-stream";
  seen.add(boundary);
  const identity = cte === "" || cte === "7bit" || cte === "8bit" || cte === "binary";
  const words =
    (declaredType.startsWith("text/") || TEXT_LIKE.has(declaredType)) && declaredType !== "text/html" && disposition.value !== "attachment" && filename === "";
  if (declaredType.startsWith("multipart/") || (words && identity)) {
    // a container (its own parts follow, each found by its own delimiter), or words staff may
    // read (a forwarded message's text too): only the delimiter and the header go, and what
    // follows is scanned like any text
    return j;
  }
  const close = `--${boundary}`;
  const body: string[] = [];
  for (; j < lines.length; j++) {
    const l = lines[j]!;
    work.steps += l.length + 1;
    if (l.startsWith(close) && (l.trimEnd() === close || l.trimEnd() === `${close}--`)) break;
    // a part of another (nested or switched) boundary ends this one too
    if (l.startsWith("--") && BOUNDARY_LINE.test(l) && PART_HEADER.test(lines[j + 1] ?? "")) break;
    // base64 is only base64 lines: after them (a blank line, prose) the sender's text resumes
    if (cte === "base64" && (body.length > 0 || l.trim() !== "") && !BASE64_LINE.test(l)) break;
    body.push(l);
  }
  // the closing delimiter goes with the part; an opening one starts the next part
  if (lines[j]?.trimEnd() === `${close}--`) j++;
  if (words || (declaredType === "text/html" && disposition.value !== "attachment" && filename === "")) {
    let text = body.join("\n");
    if (cte === "base64" || cte === "quoted-printable") {
      const decoded = decodeText(transferDecode(text, cte), ct.params.charset);
      if (decoded.warning) options.warnings?.push(decoded.warning);
      text = bodySafe(decoded.text);
    }
    if (declaredType === "text/html") text = bodySafe(htmlToText(text, options.maxHtmlBytes, options.warnings), true);
    // one push per line: a spread of a multi-megabyte text's lines would overflow the call stack
    for (const l of text.split("\n")) out.lines.push(l);
  } else {
    out.files.push({ kind: "mime-part", filename, declaredType, bytes: transferDecode(body.join("\r\n"), cte) });
    out.lines.push(marker("mime-part", filename));
  }
  return j;
}

/** uuencode / yEnc / BinHex blocks, named or not, and leaked MIME parts. */
function cutAnnounced(text: string, options: EmbeddedOptions, work: { steps: number }): Out {
  const original = text.split("\n");
  // a block quoted in a reply ("> " before each line) is the same file: look at the lines unquoted
  const lines = original.map((l) => (l.charCodeAt(0) === 0x3e || (l.includes(">") && /^[ \t]+>/.test(l)) ? l.replace(QUOTE_PREFIX, "") : l));
  const out: Out = { lines: [], files: [] };
  /** boundaries of the parts found so far: their lone delimiter lines go too */
  const seen = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    work.steps += line.length + 1;
    const first = line.charCodeAt(0);
    // most lines start with none of "b", "=", "(", "-", "M", ":": one comparison each
    if (first !== 0x62 && first !== 0x3d && first !== 0x28 && first !== 0x2d && first !== 0x4d && first !== 0x3a) {
      out.lines.push(original[i]!);
      continue;
    }
    if (first === 0x2d) {
      const next = leakedPart(lines, i, out, seen, options, work);
      if (next >= 0) {
        i = next - 1;
        continue;
      }
      const delimiter = seen.size > 0 ? BOUNDARY_LINE.exec(line)?.[1] : undefined;
      if (delimiter === undefined || !(seen.has(delimiter) || (delimiter.endsWith("--") && seen.has(delimiter.slice(0, -2))))) out.lines.push(original[i]!);
      continue;
    }
    const uu = first === 0x62 ? UU_BEGIN.exec(line) : null;
    const y = first === 0x3d && Y_BEGIN.test(line);
    const bh = first === 0x28 && BINHEX.test(line);
    // data without its announcing line: three full uuencode lines, or a BinHex block
    const bareUu = first === 0x4d && UU_FULL_LINE.test(line) && UU_FULL_LINE.test(lines[i + 1] ?? "") && UU_FULL_LINE.test(lines[i + 2] ?? "");
    const bareBh = first === 0x3a && line.length === 64 && binhexLine(`!${line.slice(1)}`) && binhexLine(lines[i + 1] ?? "");
    if (!uu && !y && !bh && !bareUu && !bareBh) {
      out.lines.push(original[i]!);
      continue;
    }
    const body: string[] = [];
    // a block quoted as a whole is read unquoted; otherwise as written (">" is a uuencode length character)
    const source = original[i] === line ? original : lines;
    let j = bareUu || bareBh ? i : i + 1;
    for (; j < lines.length; j++) {
      const l = source[j]!;
      work.steps += l.length + 1;
      if (uu && (uu[1] ? l.trim() === "====" : l.trim() === "end")) break;
      if (y && l.startsWith("=yend")) break;
      if ((bh || bareBh) && j > i && l.trimEnd().endsWith(":")) {
        body.push(l);
        break;
      }
      if (bareBh && j > i && !binhexLine(l) && !l.trimEnd().endsWith(":")) {
        j--;
        break;
      }
      if (bareUu && !uuDataLine(l)) {
        // the short last line and the "`" line belong to the block; "end" too
        if (l.trim() === "end") break;
        j--;
        break;
      }
      if (!y || !l.startsWith("=ypart")) body.push(l);
    }
    let bytes: Buffer;
    let kind: EmbeddedKind;
    let filename = "";
    if (uu || bareUu) {
      kind = "uuencode";
      filename = (uu?.[2] ?? "").trim();
      bytes = uu?.[1] ? Buffer.from(body.join(""), "base64") : Buffer.concat(body.filter((l) => l.length > 0).map(uudecodeLine));
    } else if (y) {
      kind = "yenc";
      filename = (Y_NAME.exec(line)?.[1] ?? "").trim();
      bytes = ydecode(body);
    } else {
      kind = "binhex";
      bytes = Buffer.from((bh ? [line, ...body] : body).join("\n"), "latin1");
    }
    out.files.push({ kind, filename, declaredType: "", bytes });
    out.lines.push(marker(kind, filename));
    i = j; // the end line goes with the block
  }
  return out;
}

// --- pass 2: data blocks anywhere (base64, hex, quoted-printable) ----------------------

/** 1 for the base64 alphabets (standard and URL-safe), 2 for hex digits (which are both) */
const DATA_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_") DATA_CHAR[c.charCodeAt(0)] = 1;
for (const c of "0123456789abcdefABCDEF") DATA_CHAR[c.charCodeAt(0)] = 2;
const isData = (code: number): boolean => code < 128 && DATA_CHAR[code]! > 0;
/** a blank or a quote marker before a line's content */
const isIndent = (code: number): boolean => code === 0x20 || code === 0x09 || code === 0x3e;

/** The line from `from` holds data characters only (then "=" padding and blanks): wrapped data, not a header or prose. */
function dataAloneOnLine(text: string, from: number, work: { steps: number }): boolean {
  let k = from;
  while (k < text.length && isData(text.charCodeAt(k))) k++;
  for (let pad = 0; pad < 2 && text.charCodeAt(k) === 0x3d; pad++) k++;
  while (k < text.length && (text.charCodeAt(k) === 0x20 || text.charCodeAt(k) === 0x09)) k++;
  work.steps += k - from;
  return k >= text.length || text.charCodeAt(k) === 0x0a;
}

/**
 * Runs of base64 or hex characters, continued across line breaks when a line holds nothing
 * but the run (an indent or a "> " quote prefix aside). One forward pass.
 */
function findDataRuns(text: string, cuts: Cut[], work: { steps: number }): void {
  const n = text.length;
  let i = 0;
  let lineStart = 0;
  let contentStart = 0; // after the line's indent / quote prefix
  let inUrl = false; // the current whitespace-delimited token is a URL
  // reused for every run (each word of a sentence is one): no garbage per word
  const pieces: number[] = [];
  while (i < n) {
    work.steps++;
    const code = text.charCodeAt(i);
    if (code >= 0x80) {
      // Japanese prose: nothing but an ideographic space (which ends a URL) matters till the next ASCII character
      if (code === 0x3000) inUrl = false;
      let k = i + 1;
      for (let d = text.charCodeAt(k); k < n && d >= 0x80; d = text.charCodeAt(++k)) if (d === 0x3000) inUrl = false;
      work.steps += k - i - 1;
      i = k;
      continue;
    }
    if (!isData(code)) {
      if (code === 0x0a) {
        lineStart = i + 1;
        contentStart = lineStart;
        while (contentStart < n && isIndent(text.charCodeAt(contentStart))) contentStart++;
        work.steps += contentStart - lineStart;
        inUrl = false;
        i = contentStart;
        continue;
      }
      if (code === 0x20 || code === 0x09 || code === 0x3000) inUrl = false;
      else if (code === 0x3a && text.startsWith("//", i + 1)) inUrl = true;
      i++;
      continue;
    }
    if ((code | 0x20) === 0x77 && (text.charCodeAt(i + 1) | 0x20) === 0x77 && (text.charCodeAt(i + 2) | 0x20) === 0x77 && text.charCodeAt(i + 3) === 0x2e) inUrl = true; // www.
    // a word of prose: a run too short to be data or to go on onto the next line (the test the
    // loop below makes first), passed over without being measured
    let e = i + 1;
    while (e < n && isData(text.charCodeAt(e))) e++;
    if (e - i < MIN_WRAPPED_LINE) {
      work.steps += e - i;
      i = e;
      continue;
    }
    // a run starts here; pieces are [from, to) ranges of data characters
    pieces.length = 0;
    let from = i;
    let length = 0;
    let hexOnly = true;
    let upper = false;
    let lower = false;
    let digit = false;
    let end = i;
    for (;;) {
      let k = from;
      for (; k < n; k++) {
        const c = text.charCodeAt(k);
        if (!isData(c)) break;
        if (DATA_CHAR[c] !== 2) hexOnly = false;
        if (c >= 0x41 && c <= 0x5a) upper = true;
        else if (c >= 0x61 && c <= 0x7a) lower = true;
        else if (c >= 0x30 && c <= 0x39) digit = true;
      }
      work.steps += k - from;
      pieces.push(from, k);
      length += k - from;
      let after = k;
      while (after < n && text.charCodeAt(after) === 0x3d && after - k < 2) after++; // "=" padding
      end = after;
      // continue onto the next line when this line was the run alone and long enough to be wrapped data
      let t = after;
      while (t < n && (text.charCodeAt(t) === 0x20 || text.charCodeAt(t) === 0x09)) t++;
      work.steps += t - after;
      if (after > k || from !== contentStart || k - from < MIN_WRAPPED_LINE || text.charCodeAt(t) !== 0x0a) break;
      let next = t + 1;
      while (next < n && isIndent(text.charCodeAt(next))) next++;
      work.steps += next - t;
      if (next >= n || !isData(text.charCodeAt(next)) || !dataAloneOnLine(text, next, work)) break;
      lineStart = t + 1;
      contentStart = next;
      from = next;
    }
    i = Math.max(end, i + 1);
    const minChars = hexOnly ? MIN_DATA_BYTES * 2 : MIN_BASE64_CHARS;
    // real encoded data mixes cases and digits; a run of one letter or a ruler line does not
    if (length < minChars || !(hexOnly ? digit && (upper || lower) : upper && lower && digit)) continue;
    const joined: string[] = [];
    for (let p = 0; p < pieces.length; p += 2) joined.push(text.slice(pieces[p], pieces[p + 1]));
    const data = joined.join("");
    const bytes = hexOnly ? Buffer.from(data.length % 2 ? data.slice(0, -1) : data, "hex") : Buffer.from(data, "base64");
    if (inUrl && length <= MAX_URL_DATA_CHARS && !knownSignature(bytes)) continue;
    const kind: EmbeddedKind = hexOnly ? "hex" : "base64";
    cuts.push({ start: pieces[0]!, end, file: { kind, filename: "", declaredType: "", bytes } });
  }
}

/** hex bytes separated by single spaces or colons (a hex dump without offsets); 16 bytes or more a line */
const SPACED_HEX = /^(?:[0-9A-Fa-f]{2}[ :]){15,}[0-9A-Fa-f]{2}[ :]?$/;
/** a hex dump line with an offset: "00000010: 4d5a 9000 …" or "00000010  4d 5a 90 00 … |MZ..|" */
const DUMP_LINE = /^[0-9A-Fa-f]{4,16}:?[ \t]+((?:(?:[0-9A-Fa-f]{4}|[0-9A-Fa-f]{2}) {1,2}){4,16})/;

/**
 * Line-shaped data: escape-dense lines that spell binary bytes (quoted-printable, percent-encoding,
 * C and Python string escapes, literal characters between the escapes), and hex dumps.
 */
function findDataLines(text: string, cuts: Cut[], work: { steps: number }): void {
  const n = text.length;
  let qp: { start: number; end: number; lines: string[]; family: "qp" | "percent" | "c"; inUrl: boolean } | undefined;
  let hex: { start: number; end: number; bytes: Buffer[]; size: number } | undefined;
  const flushQp = (): void => {
    if (!qp) return;
    if (qp.family === "qp") {
      const bytes = transferDecode(qp.lines.join("\r\n"), "quoted-printable");
      if (bytes.length >= MIN_DATA_BYTES && binaryBytes(bytes)) cuts.push({ start: qp.start, end: qp.end, file: { kind: "quoted-printable", filename: "", declaredType: "", bytes } });
    } else {
      const bytes = decodeEscapedLines(qp.lines, qp.family);
      const kind = qp.family === "percent" ? "percent-encoded" : "escaped";
      if (escapedFile(bytes, qp.inUrl)) cuts.push({ start: qp.start, end: qp.end, file: { kind, filename: "", declaredType: "", bytes } });
    }
    qp = undefined;
  };
  const flushHex = (): void => {
    if (hex && hex.size >= MIN_DATA_BYTES) cuts.push({ start: hex.start, end: hex.end, file: { kind: "hex", filename: "", declaredType: "", bytes: Buffer.concat(hex.bytes) } });
    hex = undefined;
  };
  for (let start = 0; start <= n; ) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = n;
    work.steps += end - start + 1;
    let content = start;
    for (let d = text.charCodeAt(content); content < end && (d === 0x20 || d === 0x09 || d === 0x3e); d = text.charCodeAt(++content));
    const line = text.slice(content, end).trimEnd();
    // escape-dense data: escapes are at least a third of the line, or a quoted-printable soft break carries on
    const escaped = line.length >= 8 && (line.includes("=") || line.includes("%") || line.includes("\\")) ? escapedLine(line) : undefined;
    if (escaped) work.steps += line.length;
    if (escaped?.dense) {
      if (qp && qp.family !== escaped.family) flushQp();
      const inUrl = line.includes("://") || /(?:^|\s)www\./i.test(line);
      if (qp) {
        qp.lines.push(line);
        qp.end = end;
        qp.inUrl ||= inUrl;
      } else qp = { start: content, end, lines: [line], family: escaped.family, inUrl };
    } else if (qp && qp.family === "qp" && qp.lines.at(-1)!.endsWith("=") && line.length > 0) {
      qp.lines.push(line);
      qp.end = end;
    } else flushQp();
    // hex dumps
    let lineBytes: Buffer | undefined;
    // both shapes start with a hex digit
    if (line.length >= 47 && line.length <= 200 && DATA_CHAR[line.charCodeAt(0)] === 2) {
      if (SPACED_HEX.test(line)) lineBytes = Buffer.from(line.replace(/[ :]/g, ""), "hex");
      else {
        const dump = DUMP_LINE.exec(line)?.[1];
        if (dump) lineBytes = Buffer.from(dump.replace(/ /g, ""), "hex");
      }
    }
    if (lineBytes && lineBytes.length >= 8) {
      if (hex) {
        hex.bytes.push(lineBytes);
        hex.size += lineBytes.length;
        hex.end = end;
      } else hex = { start: content, end, bytes: [lineBytes], size: lineBytes.length };
    } else flushHex();
    start = end + 1;
  }
  flushQp();
  flushHex();
}

/** Cuts files out of a text (LF line ends). */
export function extractEmbedded(text: string, options: EmbeddedOptions = { maxHtmlBytes: DEFAULT_MAX_HTML_BYTES }): { text: string; files: EmbeddedFile[] } {
  const work = options.work ?? { steps: 0 };
  const announced = cutAnnounced(text, options, work);
  const rest = announced.lines.join("\n");
  if (options.announcedOnly) return { text: rest, files: announced.files };
  const cuts: Cut[] = [];
  // ordinary prose gives the costly scanners nothing to find: one pass says which can (issue 13)
  const may = possibleSpellings(rest, work);
  if (may & MAY_RUNS) findDataRuns(rest, cuts, work);
  findDataLines(rest, cuts, work);
  if (may & MAY_LISTS) findByteLists(rest, cuts, work);
  if (may & MAY_PIECES) findSeparatedRuns(rest, cuts, work);
  findAscii85(rest, cuts, work);
  if (may & MAY_BASE85) findBase85(rest, cuts, work);
  if (cuts.length === 0) return { text: rest, files: announced.files };
  // a block found both ways (hex lines are hex runs too) is cut once: the first, widest wins
  cuts.sort((a, b) => a.start - b.start || b.end - a.end);
  const pieces: string[] = [];
  const files = [...announced.files];
  let at = 0;
  for (const cut of cuts) {
    if (cut.start < at) continue;
    pieces.push(rest.slice(at, cut.start), marker(cut.file.kind, ""));
    files.push(cut.file);
    at = cut.end;
  }
  pieces.push(rest.slice(at));
  return { text: pieces.join(""), files };
}
