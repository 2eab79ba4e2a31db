/**
 * The other spellings of a file's bytes in text: the ones a program, a script or
 * a one-line command turns back into the file. embedded.ts finds the classic
 * encodings (base64 and hex runs, uuencode, yEnc, BinHex, quoted-printable);
 * this file finds the rest of the class (docs/sanitize.md, "本文の中に隠れたファイル"):
 *
 * - byte lists: one number per byte, whatever the notation and separator —
 *   `0x4d, 0x5a`, `{ 77, 90, 144 }`, Java's signed `-112`, `[byte[]](77,90)`,
 *   `Chr(77) & Chr(90)`, `\x4d\x5a`, `\115\132`, `%4D%5A`, `4d:5a`, `4D-5A`,
 *   `4d 5a` in short lines, hexdump/xxd/od output (offsets and gutters
 *   skipped), `01001101` bits;
 * - escape-dense lines: bytes as escapes among literal characters (Python's
 *   `b'MZ\x90\x00'`, percent-encoding `MZ%90%00`), like quoted-printable;
 * - separated runs: base64 or base32 cut into pieces by whitespace, short
 *   lines, quotes and `+`/`&` concatenation, `\n` escapes, HTML elements;
 * - base85: Ascii85 between `<~` and `~>`, and Z85 / RFC 1924 (git) runs.
 *
 * Every text part of every message passes here, so ordinary prose must cost
 * little (issue 13): possibleSpellings reads the text once and tells
 * embedded.ts which scanners could cut anything at all, by conditions that
 * follow from each scanner's own tests (skipping one changes no result).
 *
 * What is cut follows the rule of embedded.ts: at least MIN_DATA_BYTES decoded
 * bytes. Spellings that also write ordinary text (escapes, decimal numbers)
 * are cut only when what they spell is binary, so percent-encoded Japanese in
 * a link, a table of small counts or `=E3=81=82` mojibake stay. Separated runs
 * must look like encoded data, not words: prose, names and codes change
 * character class rarely inside a word, data changes it at most characters.
 *
 * SECURITY: the text is sender-controlled and may be megabytes on one line.
 * Each scanner is one forward pass that looks at each character a bounded
 * number of times (regular expressions only on one token, piece or line at a
 * time, none with nested quantifiers); `work` counts the steps so tests can
 * show the cost is linear. State is per call: a crash leaves nothing behind.
 * Decoding never throws. Pure: no I/O, no clock.
 */
import type { EmbeddedFile, EmbeddedKind } from "./embedded.ts";
import { createSniffer } from "./sniff.ts";

/**
 * A block of encoded data is a file when it decodes to at least this many bytes (see the header
 * of embedded.ts: ordinary tokens are ≤ 64 bytes; SHA-512 in hex is 128 characters = 64 bytes).
 */
export const MIN_DATA_BYTES = 128;
/** a data run inside a URL longer than this is a file whatever it decodes to (browsers cap URLs near 2–8 KB) */
export const MAX_URL_DATA_CHARS = 4096;

export interface Cut {
  start: number;
  end: number;
  file: EmbeddedFile;
}

export interface Work {
  steps: number;
}

const cut = (cuts: Cut[], start: number, end: number, kind: EmbeddedKind, bytes: Buffer): void => {
  cuts.push({ start, end, file: { kind, filename: "", declaredType: "", bytes } });
};

/**
 * Bytes no charset makes prose: a file signature, a NUL, or more than one control byte in
 * twenty (random data has one in ten; text in any charset Japanese mail uses has none).
 */
export function binaryBytes(bytes: Buffer): boolean {
  return knownSignature(bytes) || controlBytes(bytes) * 20 > bytes.length;
}

/**
 * How many control bytes `bytes` holds, not counting tab, line ends, form feed and ESC (ISO-2022-JP
 * uses it); Infinity at the first NUL. The analysis's "not text whatever the label" test
 * (analyze.ts looksBinary) counts the same, at a threshold of its own.
 */
export function controlBytes(bytes: Buffer): number {
  let controls = 0;
  for (const b of bytes) {
    if (b === 0) return Infinity;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) controls++;
  }
  return controls;
}

export function knownSignature(bytes: Buffer): boolean {
  const sniffer = createSniffer();
  sniffer.update(bytes.subarray(0, 4096));
  const { family } = sniffer.finish();
  return family !== undefined && family !== "html" && family !== "text";
}

const isAlnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d;

// --- byte lists -------------------------------------------------------------------------

/** notations a token can be read in (a list keeps the ones all its tokens share) */
const HEX = 1;
const DEC = 2;
const OCT = 4;
const BITS = 8;
/** token flags */
const FILLER = 16; // a cast or call around a number: (byte), Chr(…)
const ESCAPE = 32; // an escape that also spells text: \x4d, %4D, =4D, &#x4d;, \115, &#77;
const EXPLICIT = 64; // written as a byte on purpose: 0x4d, 4dh, Chr(77)
const LETTER = 128; // hex with a letter a–f: hex for certain
const NEGATIVE = 256; // a Java signed byte
const THREE = 512; // three digits (od -b writes every octal byte so)

/** the longest run of separators between two bytes of a list (", (byte)" in Java, ") & _\n    Chr(" in VBA) */
const MAX_LIST_GAP = 24;
const FILLER_WORD = /^(?:chr[wb]?|char|s?byte|u?int8(?:_t)?)$/i;
/** the characters of a token classify() may read as a number: hex digits, x (0x4d, \x4d) and h (4dh) */
const NUMERIC_CHAR = new Uint8Array(128);
for (const ch of "0123456789abcdefABCDEFxXhH") NUMERIC_CHAR[ch.charCodeAt(0)] = 1;
/** the first letters of FILLER_WORD's words */
const FILLER_FIRST = new Uint8Array(128);
for (const ch of "cbsuiCBSUI") FILLER_FIRST[ch.charCodeAt(0)] = 1;
const HEX2 = /^[0-9a-fA-F]{2}$/;

/** How a token of letters and digits can be a byte (0: it cannot). `before`: the two characters before it. */
function classify(t: string, before: number, before2: number): number {
  if (t.length > 10) return 0;
  // most tokens are words: one test tells them apart from the notations below
  if (!/^[0-9a-fA-FxXhH]+$/.test(t)) return FILLER_WORD.test(t) ? FILLER | EXPLICIT : 0;
  const letter = /[a-fA-F]/.test(t) ? LETTER : 0;
  if (t.length === 2 && HEX2.test(t)) {
    const escape = before === 0x25 || before === 0x3d ? ESCAPE : 0; // %4D, =4D
    const negative = !letter && before === 0x2d && !isAlnum(before2) ? NEGATIVE : 0; // Java's -12
    return HEX | escape | letter | (!letter && !escape ? DEC | negative : 0);
  }
  if (/^0[xX][0-9a-fA-F]{1,2}$/.test(t)) return HEX | EXPLICIT | (/[a-fA-F]/.test(t.slice(2)) ? LETTER : 0);
  if (/^[xX][0-9a-fA-F]{2}$/.test(t) && (before === 0x5c || (before === 0x23 && before2 === 0x26))) return HEX | ESCAPE | (/[a-fA-F]/.test(t.slice(1)) ? LETTER : 0);
  if (/^[0-9a-fA-F]{2}[hH]$/.test(t)) return HEX | EXPLICIT | LETTER;
  if (/^[01]{8}$/.test(t)) return BITS;
  if (/^[0-9]{1,3}$/.test(t)) {
    const value = Number(t);
    const octal = /^[0-7]{3}$/.test(t);
    if (before === 0x5c) return octal ? OCT | ESCAPE | THREE : 0; // \115
    if (before === 0x23 && before2 === 0x26) return value <= 255 ? DEC | ESCAPE : 0; // &#77;
    const negative = before === 0x2d && !isAlnum(before2) && value <= 128 && value > 0 ? NEGATIVE : 0;
    return (value <= 255 ? DEC : 0) | (octal ? OCT | THREE : 0) | negative | (t.length === 3 ? THREE : 0);
  }
  // xxd groups (4d5a 9000): whole bytes. A byte split in two by a separator ("4d:5a:9 0") is not
  // read: a lone digit or letter is too common in text (a variable b, an article a)
  if (t.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(t)) return HEX | letter;
  if (FILLER_WORD.test(t)) return FILLER | EXPLICIT;
  return 0;
}

interface ByteList {
  start: number;
  end: number;
  mask: number;
  /** start, end and flags of each byte token */
  tokens: number[];
  bytes: number;
  flags: number;
  allThree: boolean;
  inUrl: boolean;
  /** bytes on the current line (a gutter follows a full line of a dump) */
  lineBytes: number;
}

function decodeList(text: string, list: ByteList, notation: number): Buffer {
  const out: number[] = [];
  if (notation === HEX) {
    // a byte written as such (0x0, \x4d, %4D, 4dh) is two digits; bare digits are read in pairs across separators
    const digits: string[] = [];
    for (let k = 0; k < list.tokens.length; k += 3) {
      const t = text.slice(list.tokens[k], list.tokens[k + 1]).replace(/^0[xX]|^[xX]|[hH]$/g, "");
      digits.push(list.tokens[k + 2]! & (ESCAPE | EXPLICIT) && t.length === 1 ? `0${t}` : t);
    }
    const all = digits.join("");
    return Buffer.from(all.length % 2 ? all.slice(0, -1) : all, "hex");
  }
  for (let k = 0; k < list.tokens.length; k += 3) {
    const t = text.slice(list.tokens[k], list.tokens[k + 1]);
    const flags = list.tokens[k + 2]!;
    if (notation === OCT) out.push(parseInt(t, 8) & 255);
    else if (notation === BITS) out.push(parseInt(t, 2));
    else out.push(flags & NEGATIVE ? (256 - Number(t)) & 255 : Number(t) & 255);
  }
  return Buffer.from(out);
}

/** A list long enough to be a file is cut when its notation says it spells bytes (see the header). */
function flushList(text: string, list: ByteList | undefined, cuts: Cut[]): void {
  if (!list || list.bytes < MIN_DATA_BYTES) return;
  const mask = list.mask;
  // the notation: hex when certain (a letter, 0x, \x, %); three-digit octal as od -b writes it; else decimal
  const notation = mask & BITS ? BITS : mask === HEX || (mask & HEX && list.flags & LETTER) ? HEX : mask & OCT && (list.allThree || !(mask & DEC)) ? OCT : mask & DEC ? DEC : HEX;
  const bytes = decodeList(text, list, notation);
  if (bytes.length < MIN_DATA_BYTES) return;
  if (list.inUrl && list.end - list.start <= MAX_URL_DATA_CHARS && !knownSignature(bytes)) return;
  let accept: boolean;
  if (list.flags & ESCAPE) accept = binaryBytes(bytes); // %E3%81%82 is Japanese in a link, \346\227\245 a git path
  else if (notation === DEC && !(list.flags & EXPLICIT)) {
    // numbers people write are counts and amounts: a file's bytes run from the controls to above 127
    let high = false;
    let low = false;
    for (const b of bytes) {
      if (b >= 128) high = true;
      else if (b < 0x20) low = true;
    }
    accept = knownSignature(bytes) || (high && low);
  } else if (notation === HEX && !(list.flags & (LETTER | EXPLICIT))) accept = false; // digits only: decimal numbers, not hex
  else accept = true;
  if (!accept) return;
  const kind: EmbeddedKind = notation === HEX ? "hex" : notation === OCT ? "octal" : notation === BITS ? "binary digits" : "decimal";
  cut(cuts, list.start, list.end, kind, bytes);
}

/** Byte lists (see the header): one forward pass over tokens of letters and digits. */
export function findByteLists(text: string, cuts: Cut[], work: Work): void {
  const n = text.length;
  let list: ByteList | undefined;
  let newlines = 0; // line breaks since the list's last byte
  let firstOnLine = true;
  let gutter = false; // the rest of the line is a dump's ASCII column
  let inUrl = false;
  let filler = false; // a Chr( or (byte) just before the next number
  let i = 0;
  const flush = (): void => {
    flushList(text, list, cuts);
    list = undefined;
  };
  while (i < n) {
    work.steps++;
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      // Japanese prose: a list ends at its first character, and nothing else changes till the next ASCII one
      if (!gutter && list) flush();
      let k = i + 1;
      while (k < n && text.charCodeAt(k) >= 0x80) k++;
      work.steps += k - i - 1;
      i = k;
      continue;
    }
    if (!isAlnum(c)) {
      if (c === 0x0a) {
        firstOnLine = true;
        gutter = false;
        inUrl = false;
        if (list) {
          list.lineBytes = 0;
          if (++newlines > 2) flush();
        }
      } else if (!gutter && list) {
        if (c >= 0x80) flush(); // a Japanese sentence is no separator
        else if (c === 0x7c && list.lineBytes >= 4) gutter = true; // hexdump -C: |MZ......|
        else if (c === 0x20 && text.charCodeAt(i + 1) === 0x20 && list.lineBytes >= 16) gutter = true; // xxd: two spaces, then the ASCII
        else if (i - list.end > MAX_LIST_GAP) flush();
      }
      if (c === 0x20 || c === 0x09) inUrl = false;
      else if (c === 0x3a && text.startsWith("//", i + 1)) inUrl = true;
      i++;
      continue;
    }
    // the token, and whether it is made of the characters a number can be written in (hex
    // digits, x, h): most words are not, and need neither a copy nor a regular expression
    let j = i;
    let numeric = true;
    for (; j < n; j++) {
      const d = text.charCodeAt(j);
      if (!isAlnum(d)) break;
      if (numeric && !NUMERIC_CHAR[d]) numeric = false;
    }
    work.steps += j - i;
    if (gutter) {
      i = j;
      continue;
    }
    const length = j - i;
    // a word: only a filler word (see FILLER_WORD: 3 to 5 letters, the first c, b, s, u or i) counts
    const flags = numeric
      ? classify(length <= 10 ? text.slice(i, j) : "", text.charCodeAt(i - 1), text.charCodeAt(i - 2))
      : length >= 3 && length <= 5 && FILLER_FIRST[c]! && FILLER_WORD.test(text.slice(i, j))
        ? FILLER | EXPLICIT
        : 0;
    const next = text.charCodeAt(j);
    // an offset column (hexdump, xxd, od): a first token of 6 or more hex digits before ":" or a
    // blank (two blanks when it could be eight binary digits: hexdump -C writes two)
    const offset =
      firstOnLine &&
      j - i >= 6 &&
      j - i <= 16 &&
      (next === 0x3a || ((isSpace(next) || next === 0x0a || j === n) && (!(flags & BITS) || isSpace(text.charCodeAt(j + 1))))) &&
      numeric &&
      /^[0-9a-fA-F]+$/.test(text.slice(i, j));
    firstOnLine = false;
    if (offset) {
      i = j;
      continue;
    }
    if (flags & FILLER) {
      // Chr(77) & Chr(90), (byte)0x90: the words around the numbers say they are bytes
      if (list) list.flags |= EXPLICIT;
      else filler = true;
      i = j;
      continue;
    }
    const notations = flags & (HEX | DEC | OCT | BITS);
    // a lone "." between numbers is an IPv4 address or a version (192.168.1.10, 1.2.3), never a byte list's separator
    const dotted = list !== undefined && i - list.end === 1 && text.charCodeAt(i - 1) === 0x2e;
    if (list && (!(list.mask & notations) || i - list.end > MAX_LIST_GAP || dotted)) flush();
    if (!notations) {
      i = j;
      continue;
    }
    if (!list) {
      // a prefix written before the first number belongs to the list (0x is inside the token)
      const prefix = flags & ESCAPE ? (text.charCodeAt(i - 1) === 0x23 ? 2 : 1) : 0;
      list = { start: i - prefix, end: j, mask: notations, tokens: [], bytes: 0, flags: filler ? EXPLICIT : 0, allThree: true, inUrl: false, lineBytes: 0 };
    }
    filler = false;
    list.mask &= notations;
    list.flags |= flags;
    list.allThree &&= (flags & THREE) !== 0;
    list.inUrl ||= inUrl;
    list.tokens.push(i, j, flags);
    // bytes so far as hex, the widest reading (the notation is decided at the end)
    const count = flags & HEX && !(flags & (ESCAPE | EXPLICIT)) ? Math.max(1, (j - i) >> 1) : 1;
    list.bytes += count;
    list.lineBytes += count;
    // a closing ";" of &#x4d; belongs to the token
    list.end = (flags & ESCAPE) && next === 0x3b && text.charCodeAt(i - 1) === 0x23 ? j + 1 : j;
    newlines = 0;
    i = j;
  }
  flush();
}

// --- escape-dense lines -------------------------------------------------------------------

type EscapeFamily = "qp" | "percent" | "c";

/** Escapes of each family on one line: =XX (upper-case hex), %XX, \xXX or \ooo. One pass. */
function countEscapes(line: string): { family: EscapeFamily; count: number } {
  let qp = 0;
  let percent = 0;
  let c = 0;
  for (let k = 0; k + 2 < line.length; k++) {
    const ch = line.charCodeAt(k);
    if (ch === 0x3d && isUpperHex(line.charCodeAt(k + 1)) && isUpperHex(line.charCodeAt(k + 2))) qp++;
    else if (ch === 0x25 && isHex(line.charCodeAt(k + 1)) && isHex(line.charCodeAt(k + 2))) percent++;
    else if (ch === 0x5c) {
      const d = line.charCodeAt(k + 1);
      if ((d === 0x78 && isHex(line.charCodeAt(k + 2)) && isHex(line.charCodeAt(k + 3))) || (isOctal(d) && isOctal(line.charCodeAt(k + 2)) && isOctal(line.charCodeAt(k + 3)))) c++;
      k++; // "\\" is one escape, not the start of the next
    }
  }
  if (qp >= percent && qp >= c) return { family: "qp", count: qp };
  return percent >= c ? { family: "percent", count: percent } : { family: "c", count: c };
}
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const isUpperHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46);
const isOctal = (c: number): boolean => c >= 0x30 && c <= 0x37;

const C_ESCAPE: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, f: 12, v: 11, "0": 0 };

/**
 * The inside of a string literal written alone on its line (`"\x4d\x5a",`, `b'MZ\x90' +`): the
 * quotes and what follows the closing one are code, not data. Other lines as they are.
 */
function stringBody(line: string): string {
  let open = 0;
  while (open < 2 && /[A-Za-z]/.test(line[open] ?? "")) open++;
  const quote = line[open];
  if (quote !== '"' && quote !== "'") return line;
  let close = line.length - 1;
  while (close > open && " \t,;+)\\".includes(line[close]!)) close--;
  return close > open && line[close] === quote ? line.slice(open + 1, close) : line;
}

/** %XX and C/Python escapes decoded; other characters as their UTF-8 bytes. */
function decodeEscapes(lines: string[], family: Exclude<EscapeFamily, "qp">): Buffer {
  const out: number[] = [];
  for (const whole of lines) {
    const line = family === "c" ? stringBody(whole) : whole;
    for (let k = 0; k < line.length; k++) {
      const ch = line.charCodeAt(k);
      if (family === "percent" && ch === 0x25 && isHex(line.charCodeAt(k + 1)) && isHex(line.charCodeAt(k + 2))) {
        out.push(parseInt(line.slice(k + 1, k + 3), 16));
        k += 2;
      } else if (family === "c" && ch === 0x5c && k + 1 < line.length) {
        const d = line[k + 1]!;
        if (d === "x" && isHex(line.charCodeAt(k + 2)) && isHex(line.charCodeAt(k + 3))) {
          out.push(parseInt(line.slice(k + 2, k + 4), 16));
          k += 3;
        } else if (isOctal(line.charCodeAt(k + 1)) && isOctal(line.charCodeAt(k + 2)) && isOctal(line.charCodeAt(k + 3))) {
          out.push(parseInt(line.slice(k + 1, k + 4), 8) & 255);
          k += 3;
        } else {
          out.push(C_ESCAPE[d] ?? d.charCodeAt(0) & 255);
          k++;
        }
      } else if (ch < 0x80) out.push(ch);
      else for (const b of Buffer.from(line[k]!, "utf8")) out.push(b);
    }
  }
  return Buffer.from(out);
}

export interface EscapedLine {
  family: EscapeFamily;
  dense: boolean;
}

/** Is this line escape-dense data (at least four escapes, a third of its characters)? */
export function escapedLine(line: string): EscapedLine {
  if (line.length < 8) return { family: "qp", dense: false };
  // each escape starts with one of = % \ and is at most 4 characters: too few of them (a link's
  // query, a sentence with a "=") cannot make the line dense, found by the native indexOf
  let marks = 0;
  for (const mark of ["=", "%", "\\"]) for (let k = line.indexOf(mark); k >= 0 && marks < 4 + line.length / 12; k = line.indexOf(mark, k + 1)) marks++;
  if (marks < 4 || marks * 12 < line.length) return { family: "qp", dense: false };
  const { family, count } = countEscapes(line);
  const width = family === "c" ? 4 : 3;
  return { family, dense: count >= 4 && count * width * 3 >= line.length };
}

/** The bytes of a block of escape-dense lines of one family (quoted-printable is embedded.ts's). */
export function decodeEscapedLines(lines: string[], family: Exclude<EscapeFamily, "qp">): Buffer {
  return decodeEscapes(lines, family);
}

/** A block of escape-dense lines is a file when it spells binary bytes; in a link, only a known file. */
export function escapedFile(bytes: Buffer, inUrl: boolean): boolean {
  if (bytes.length < MIN_DATA_BYTES) return false;
  return inUrl ? knownSignature(bytes) : binaryBytes(bytes);
}

// --- separated runs of base64 / base32 ---------------------------------------------------

const B64 = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_") B64[ch.charCodeAt(0)] = 1;
/** what may stand between two pieces of one encoded string: blanks, quotes, concatenation, brackets, "=" padding */
const GAP = new Uint8Array(128);
for (const ch of " \t\r\n\"'`&.,;()[]{}|=<>\\") GAP[ch.charCodeAt(0)] = 1;
/** the longest gap between two pieces ("\" +\n    \"" in code, a blank line between HTML blocks) */
const MAX_PIECE_GAP = 16;
/** base64 characters that decode to MIN_DATA_BYTES */
const MIN_BASE64_CHARS = Math.ceil((MIN_DATA_BYTES * 4) / 3);
/** base32 characters that decode to MIN_DATA_BYTES */
const MIN_BASE32_CHARS = Math.ceil((MIN_DATA_BYTES * 8) / 5);

const charClass = (c: number): number => (c >= 0x41 && c <= 0x5a ? 1 : c >= 0x61 && c <= 0x7a ? 2 : c >= 0x30 && c <= 0x39 ? 3 : 4);

/**
 * Changes of character class inside a piece (upper, lower, digit, symbol), not counting the
 * capital of a capitalised word. Encoded data changes class at most characters (random base64:
 * two in three); words, names and codes (ABC123) once or never.
 */
function transitions(text: string, from: number, to: number): number {
  let changes = 0;
  for (let k = from + 1; k < to; k++) {
    const a = charClass(text.charCodeAt(k - 1));
    const b = charClass(text.charCodeAt(k));
    if (a !== b && !(k === from + 1 && a === 1 && b === 2)) changes++;
  }
  return changes;
}

/**
 * A piece with its class changes, its neighbours that differ at all, and upper, lower and digits
 * among the characters that differ from the one before. Data is measured by changes over
 * differing neighbours, so a file's runs of zero bytes ("AAAAAAAA" in base64) neither hide it
 * nor count for it: padding a file with zeros does not dilute its spelling.
 */
function pushPiece(at: number[], text: string, from: number, to: number): void {
  let changes = 0;
  let differ = 0;
  let upper = 0;
  let lower = 0;
  let digit = 0;
  for (let k = from; k < to; k++) {
    const y = text.charCodeAt(k);
    if (k > from && y === text.charCodeAt(k - 1)) continue;
    const b = charClass(y);
    if (b === 1) upper++;
    else if (b === 2) lower++;
    else if (b === 3) digit++;
    if (k === from) continue;
    differ++;
    const a = charClass(text.charCodeAt(k - 1));
    if (a !== b && !(k === from + 1 && a === 1 && b === 2)) changes++;
  }
  at.push(from, to, changes, differ, upper, lower, digit);
}

/**
 * A piece that reads as words: each stretch of its letters and digits is made of words — a
 * lower-case word, a capitalised one, an acronym, a number ("Here", "-----BEGIN",
 * "application/octet-stream", "DomainKey-Signature", "SenderADCheck") — or it is the "base64"
 * label of a data: URI. A capital before a digit or a lower-case letter ("TVqQ", "V03") is not
 * a word, nor are more than twelve capitals in a row.
 * One pass over the piece.
 */
function wordPiece(text: string, from: number, to: number): boolean {
  if (
    to - from === 6 &&
    (text.charCodeAt(from) | 0x20) === 0x62 && // "b" or "B"
    (text.charCodeAt(from + 1) | 0x20) === 0x61 &&
    (text.charCodeAt(from + 2) | 0x20) === 0x73 &&
    (text.charCodeAt(from + 3) | 0x20) === 0x65 &&
    text.charCodeAt(from + 4) === 0x36 &&
    text.charCodeAt(from + 5) === 0x34
  )
    return true;
  let k = from;
  while (k < to) {
    const cls = charClass(text.charCodeAt(k));
    if (cls === 4 || cls === 3) {
      while (k < to && charClass(text.charCodeAt(k)) === cls) k++;
      continue;
    }
    // a hump: capitals, then lower case
    const hump = k;
    let capitals = 0;
    let lower = 0;
    while (k < to && charClass(text.charCodeAt(k)) === 1) (k++, capitals++);
    while (k < to && charClass(text.charCodeAt(k)) === 2) (k++, lower++);
    // a letter standing alone between marks ("X-Header", "a") is a word too
    const alone = k - hump === 1 && (hump === from || charClass(text.charCodeAt(hump - 1)) === 4) && (k === to || charClass(text.charCodeAt(k)) === 4);
    // an acronym is short: twenty capitals in a row are base32 or zero bytes in base64
    const word = (lower >= 1 && capitals <= 1) || (capitals >= 2 && capitals <= 12 && lower !== 1);
    if (!word && !alone) return false;
  }
  return true;
}

/** RFC 4648 base32 (upper case), padding and anything else skipped. */
function base32Decode(data: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (let k = 0; k < data.length; k++) {
    const c = data.charCodeAt(k);
    const v = c >= 0x41 && c <= 0x5a ? c - 0x41 : c >= 0x32 && c <= 0x37 ? c - 0x32 + 26 : -1;
    if (v < 0) continue;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** entries per piece in Pieces.at */
const STRIDE = 7;

interface Pieces {
  /** start, end, class changes, differing neighbours, and upper, lower, digit among them, of each piece */
  at: number[];
  /** what stood between each piece and the one before it, blanks left out ("" for blanks alone, "\"+\"" in code) */
  gaps: string[];
  /** the piece starts a line */
  lineStarts: boolean[];
  /** a "=" stood before the piece (base64 chunks encoded one by one) */
  padded: Set<number>;
  inUrl: boolean;
}

/** Separated runs (see the header): decide on a block of pieces. */
function flushPieces(text: string, block: Pieces, cuts: Cut[]): void {
  const at = block.at;
  // most blocks are a sentence's words: too short to be a file, whatever they look like
  let total = 0;
  for (let p = 0; p < at.length; p += STRIDE) total += at[p + 1]! - at[p]!;
  if (total < MIN_BASE64_CHARS) return;
  // words before and after the data (an armour line, "Here it is") are not cut with it
  let first = 0;
  let last = at.length - STRIDE;
  while (first <= last && wordPiece(text, at[first]!, at[first + 1]!)) first += STRIDE;
  // an armour line ends the data ("-----END PGP MESSAGE-----", on its line or after the data)
  for (let p = first; p <= last; p += STRIDE) {
    if (text.slice(at[p], at[p + 1]).includes("---")) {
      last = p - STRIDE;
      break;
    }
  }
  // after the data: a last line of words, then words with a lower-case letter or a dash
  // ("Thanks", "x-header") and numbers (a header's "5" in "…;5:"); capitals alone may be the
  // data's own end (zero bytes are "AAAA" in base64)
  const trailing = (from: number, to: number): boolean => /[a-z-]|^[0-9]+$/.test(text.slice(from, to));
  for (;;) {
    let lineFirst = last;
    while (lineFirst > first && !block.lineStarts[lineFirst / STRIDE]) lineFirst -= STRIDE;
    let words = lineFirst > first;
    for (let p = lineFirst; p <= last && words; p += STRIDE) words = wordPiece(text, at[p]!, at[p + 1]!);
    if (!words || !trailing(at[lineFirst]!, at[last + 1]!)) break;
    last = lineFirst - STRIDE;
  }
  while (last >= first && wordPiece(text, at[last]!, at[last + 1]!) && trailing(at[last]!, at[last + 1]!)) last -= STRIDE;
  if (last - first < STRIDE) return; // one piece: a dense run, embedded.ts's
  let chars = 0;
  let changes = 0;
  let differ = 0;
  const share = [0, 0, 0];
  const gapKinds = new Map<string, number>();
  let upper = false;
  let lower = false;
  let digit = false;
  let base32 = true;
  for (let p = first; p <= last; p += STRIDE) {
    chars += at[p + 1]! - at[p]!;
    changes += at[p + 2]!;
    differ += at[p + 3]!;
    share[0]! += at[p + 4]!;
    share[1]! += at[p + 5]!;
    share[2]! += at[p + 6]!;
    if (p > first) gapKinds.set(block.gaps[p / STRIDE]!, (gapKinds.get(block.gaps[p / STRIDE]!) ?? 0) + 1);
    for (let k = at[p]!; k < at[p + 1]!; k++) {
      const c = text.charCodeAt(k);
      if (c >= 0x41 && c <= 0x5a) upper = true;
      else if (c >= 0x61 && c <= 0x7a) lower = true;
      else if (c >= 0x30 && c <= 0x39) {
        digit = true;
        if (c < 0x32 || c > 0x37) base32 = false;
      } else base32 = false;
    }
  }
  const isBase32 = base32 && !lower && upper && digit;
  if (chars < (isBase32 ? MIN_BASE32_CHARS : MIN_BASE64_CHARS)) return;
  if (!isBase32 && !(upper && lower && digit)) return;
  // data changes class often; prose, names and codes do not (one change in a capitalised word is not counted)
  if (changes * (isBase32 ? 12 : 6) < differ) return;
  // each class has its share of the data (base64: 40 % upper, 40 % lower, 16 % digits), where a
  // product list (256M DDR/40G) or a Received line's host names have few lower or upper letters
  const [u, l, d] = share as [number, number, number];
  const all = u + l + d;
  if (isBase32 ? d * 20 < all : u * 5 < all || l * 5 < all || d * 20 < all) return;
  // an encoder or a script separates the pieces one way throughout; a header's tags (bh=…; b=…),
  // host names (a.b-c (10.1.2.3) by) and prose mix separators
  let common = 0;
  for (const count of gapKinds.values()) common = Math.max(common, count);
  if (common * 5 < (last - first) / STRIDE * 4) return;
  const start = at[first]!;
  const end = at[last + 1]!;
  let bytes: Buffer;
  if (isBase32) {
    const pieces: string[] = [];
    for (let p = first; p <= last; p += STRIDE) pieces.push(text.slice(at[p], at[p + 1]));
    bytes = base32Decode(pieces.join(""));
  } else {
    const chunks: Buffer[] = [];
    let chunk: string[] = [];
    for (let p = first; p <= last; p += STRIDE) {
      if (block.padded.has(p) && chunk.length > 0) {
        chunks.push(Buffer.from(chunk.join(""), "base64"));
        chunk = [];
      }
      chunk.push(text.slice(at[p], at[p + 1]));
    }
    chunks.push(Buffer.from(chunk.join(""), "base64"));
    bytes = Buffer.concat(chunks);
  }
  if (block.inUrl && end - start <= MAX_URL_DATA_CHARS && !knownSignature(bytes)) return;
  cut(cuts, start, end, isBase32 ? "base32" : "base64", bytes);
}

/** base64 / base32 in pieces (see the header): one forward pass over pieces and the gaps between them. */
export function findSeparatedRuns(text: string, cuts: Cut[], work: Work): void {
  const n = text.length;
  let block: Pieces = { at: [], gaps: [], lineStarts: [], padded: new Set(), inUrl: false };
  let gap = ""; // the non-blank characters since the last piece
  let lastEnd = -1; // end of the block's last piece
  let newlines = 0;
  let padded = false;
  let inUrl = false;
  let tokenStart = 0; // start of the current blank-delimited token (for www.)
  const flush = (): void => {
    if (lastEnd < 0) return; // nothing gathered (most characters of Japanese prose end here)
    // a file needs two pieces from the first that is not a word on (see flushPieces)
    if (block.at.length >= 2 * STRIDE) flushPieces(text, block, cuts);
    // emptied, not replaced: prose ends a block every sentence, and fresh arrays would be garbage
    block.at.length = 0;
    block.gaps.length = 0;
    block.lineStarts.length = 0;
    block.padded.clear();
    block.inUrl = false;
    lastEnd = -1;
  };
  let i = 0;
  while (i < n) {
    work.steps++;
    const c = text.charCodeAt(i);
    if (c >= 128 || !B64[c]) {
      if (c < 128 && GAP[c]) {
        if (c === 0x0a) {
          newlines++;
          inUrl = false;
        } else if (c === 0x20 || c === 0x09) inUrl = false;
        else if (c === 0x3d) padded = true;
        if (c === 0x0a || c === 0x20 || c === 0x09) tokenStart = i + 1;
        else if (gap.length < 8 && block.at.length > 0) gap += text[i]; // only a recorded piece's next gap is read
        // "\n" written as two characters inside a string is a gap, not the letter n
        if (c === 0x5c && (text[i + 1] === "n" || text[i + 1] === "r" || text[i + 1] === "t")) i++;
      } else {
        if (c === 0x3a && text.startsWith("//", i + 1)) inUrl = true;
        flush();
        gap = "";
      }
      i++;
      if (lastEnd >= 0 && (i - lastEnd > MAX_PIECE_GAP || newlines > 2)) flush();
      continue;
    }
    // the piece, and whether it is a plain word ("the", "Tanaka", "A", "2026"): a letter then
    // lower-case letters, or digits alone, which wordPiece reads as a word without looking further
    const first = charClass(c);
    let tail = first === 3 ? 3 : 2; // the class every later character must have
    let j = i + 1;
    for (; j < n; j++) {
      const d = text.charCodeAt(j);
      if (d >= 128 || !B64[d]) break;
      if (tail !== 0 && charClass(d) !== tail) tail = 0;
    }
    work.steps += j - i;
    if (i === tokenStart && (c | 0x20) === 0x77 && (text.charCodeAt(i + 1) | 0x20) === 0x77 && (text.charCodeAt(i + 2) | 0x20) === 0x77 && text.charCodeAt(i + 3) === 0x2e) inUrl = true; // www.
    const plainWord = tail !== 0 && first !== 4;
    let alnum = plainWord;
    for (let k = i; k < j && !alnum; k++) alnum = isAlnum(text.charCodeAt(k));
    if (alnum) {
      if (lastEnd < 0) {
        newlines = 0;
        padded = false;
      }
      // the words a block starts with are never data (flushPieces passes over them, and only the
      // pieces from the first that is not a word on are measured): prose is words throughout, and
      // its pieces are looked at once here instead of being recorded
      if (block.at.length > 0 || (!plainWord && !wordPiece(text, i, j))) {
        if (padded) block.padded.add(block.at.length);
        pushPiece(block.at, text, i, j);
        block.gaps.push(gap);
        block.lineStarts.push(newlines > 0);
      }
      block.inUrl ||= inUrl;
      work.steps += j - i;
      lastEnd = j;
      newlines = 0;
      padded = false;
      gap = "";
    }
    i = j;
  }
  flush();
}

// --- base85: Ascii85 (<~ ~>), Z85, RFC 1924 --------------------------------------------

const Z85_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const RFC1924_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
const Z85_VALUE = new Int8Array(128).fill(-1);
const RFC1924_VALUE = new Int8Array(128).fill(-1);
for (let k = 0; k < 85; k++) {
  Z85_VALUE[Z85_ALPHABET.charCodeAt(k)] = k;
  RFC1924_VALUE[RFC1924_ALPHABET.charCodeAt(k)] = k;
}
/** characters of a base85 run: printable ASCII but the quotes, "," and "\" (which Z85 and RFC 1924 leave out) */
const isBase85 = (c: number): boolean => c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x27 && c !== 0x2c && c !== 0x5c;
/** base85 characters that decode to MIN_DATA_BYTES */
const MIN_BASE85_CHARS = Math.ceil((MIN_DATA_BYTES * 5) / 4);
/** distinct punctuation marks a base85 run uses (of its 20-odd; 160 random characters use about 19) */
const MIN_BASE85_MARKS = 10;
/** a data line shorter than this does not continue a block onto the next line (base85 here, base64 and hex in embedded.ts) */
export const MIN_WRAPPED_LINE = 16;

function base85Decode(data: string, values: Int8Array): Buffer {
  const out: number[] = [];
  let group = 0;
  let count = 0;
  for (let k = 0; k < data.length; k++) {
    const v = values[data.charCodeAt(k)] ?? -1;
    if (v < 0) continue;
    group = group * 85 + v;
    if (++count === 5) {
      out.push((group >>> 24) & 255, (group >>> 16) & 255, (group >>> 8) & 255, group & 255);
      group = 0;
      count = 0;
    }
  }
  return Buffer.from(out);
}

/** Adobe Ascii85 ("z" for four zero bytes; a short last group padded with "u"). */
function ascii85Decode(data: string): Buffer {
  const out: number[] = [];
  let group = 0;
  let count = 0;
  const push = (value: number, bytes: number): void => {
    for (let b = 0; b < bytes; b++) out.push((value >>> (24 - 8 * b)) & 255);
  };
  for (let k = 0; k < data.length; k++) {
    const c = data.charCodeAt(k);
    if (c === 0x7a && count === 0) {
      push(0, 4);
      continue;
    }
    if (c < 0x21 || c > 0x75) continue;
    group = group * 85 + (c - 33);
    if (++count === 5) {
      push(group >>> 0, 4);
      group = 0;
      count = 0;
    }
  }
  if (count > 1) {
    for (let k = count; k < 5; k++) group = group * 85 + 84;
    push(group >>> 0, count - 1);
  }
  return Buffer.from(out);
}

/** Ascii85 between "<~" and "~>" (whitespace inside is ignored by every decoder). Each character is read at most twice. */
export function findAscii85(text: string, cuts: Cut[], work: Work): void {
  let from = 0;
  for (let i = text.indexOf("<~"); i >= 0; i = text.indexOf("<~", from)) {
    let k = i + 2;
    let chars = 0;
    for (; k < text.length; k++) {
      const d = text.charCodeAt(k);
      if (d === 0x7e && text.charCodeAt(k + 1) === 0x3e) break;
      if ((d >= 0x21 && d <= 0x75) || d === 0x7a) chars += d === 0x7a ? 5 : 1;
      else if (!(d === 0x20 || d === 0x09 || d === 0x0a || d === 0x0d)) break;
    }
    work.steps += k - i + 1;
    if (k < text.length && text.charCodeAt(k) === 0x7e && text.charCodeAt(k + 1) === 0x3e && chars >= MIN_BASE85_CHARS) {
      // a block quoted in a reply: the "> " its first line has before "<~" starts every line
      const prefix = text.slice(text.lastIndexOf("\n", i) + 1, i);
      let data = text.slice(i + 2, k);
      if (prefix.includes(">") && /^[ \t>]*$/.test(prefix)) data = data.split("\n").map((l) => (l.startsWith(prefix) ? l.slice(prefix.length) : l)).join("");
      cut(cuts, i, k + 2, "base85", ascii85Decode(data));
      from = k + 2;
    } else from = Math.max(k, i + 2);
  }
}

/**
 * Base85 runs without markers (see the header): runs of the base85 characters that
 * mix classes like data, with 10–45 % punctuation (base64 has 3 %) and no punctuation mark
 * making up a sixth of the run (ISO-2022-JP read as ASCII is "$" every other character,
 * quoted-printable "=" every third). One forward pass; wrapped lines continue a run.
 */
export function findBase85(text: string, cuts: Cut[], work: Work): void {
  const n = text.length;
  // reused for every run (each word of a sentence is one): no garbage per word
  const pieces: number[] = [];
  const counts = new Map<number, number>();
  let i = 0;
  let lineStart = 0;
  // counted here and added once: a property written per character costs more than the scan
  let steps = 0;
  while (i < n) {
    steps++;
    const c = text.charCodeAt(i);
    if (c === 0x0a) lineStart = i + 1;
    if (!isBase85(c)) {
      i++;
      continue;
    }
    // a word of prose: shorter than MIN_BASE85_CHARS and not a line of its own that could go on
    // onto the next (the test the loop below makes first), found by one cheap pass
    let e = i + 1;
    while (e < n && isBase85(text.charCodeAt(e))) e++;
    if (e - i < MIN_BASE85_CHARS) {
      let t = e;
      while (t < n && isSpace(text.charCodeAt(t))) t++;
      if (i !== lineStart || e - i < MIN_WRAPPED_LINE || text.charCodeAt(t) !== 0x0a) {
        steps += e - i;
        i = e;
        continue;
      }
    }
    pieces.length = 0;
    counts.clear();
    let from = i;
    let length = 0;
    let punctuation = 0;
    let changes = 0;
    let differ = 0;
    let upper = false;
    let lower = false;
    let digit = false;
    let url = false;
    let k = i;
    for (;;) {
      let prev = 0;
      for (k = from; k < n && isBase85(text.charCodeAt(k)); k++) {
        const d = text.charCodeAt(k);
        if (k > from && d !== text.charCodeAt(k - 1)) differ++;
        const cls = charClass(d);
        if (cls === 4) {
          punctuation++;
          counts.set(d, (counts.get(d) ?? 0) + 1);
          if (d === 0x3a && text.startsWith("//", k + 1)) url = true;
        } else if (cls === 1) upper = true;
        else if (cls === 2) lower = true;
        else digit = true;
        if (k > from && cls !== prev) changes++;
        prev = cls;
      }
      steps += k - from;
      if ((text.charCodeAt(from) | 0x20) === 0x77 && (text.charCodeAt(from + 1) | 0x20) === 0x77 && (text.charCodeAt(from + 2) | 0x20) === 0x77 && text.charCodeAt(from + 3) === 0x2e) url = true;
      pieces.push(from, k);
      length += k - from;
      // a line that is the run alone continues onto the next line when that line is a run alone too
      let t = k;
      while (t < n && isSpace(text.charCodeAt(t))) t++;
      if (from !== lineStart || k - from < MIN_WRAPPED_LINE || text.charCodeAt(t) !== 0x0a) break;
      let next = t + 1;
      while (next < n && isSpace(text.charCodeAt(next))) next++;
      steps += next - k;
      let end = next;
      while (end < n && isBase85(text.charCodeAt(end))) end++;
      let after = end;
      while (after < n && isSpace(text.charCodeAt(after))) after++;
      steps += after - next;
      if (end - next < MIN_WRAPPED_LINE || (after < n && text.charCodeAt(after) !== 0x0a)) break;
      lineStart = t + 1;
      from = next;
    }
    i = Math.max(k, i + 1);
    if (length < MIN_BASE85_CHARS || !(upper && lower && digit) || url) continue;
    if (punctuation * 10 < length || punctuation * 100 > length * 45 || changes * 3 < differ) continue;
    let dominant = 0;
    for (const count of counts.values()) dominant = Math.max(dominant, count);
    // random base85 uses most of its 20-odd marks; control characters made visible (<U+0001>), a
    // path or a list of addresses use a few
    if (dominant * 6 > length || counts.size < MIN_BASE85_MARKS) continue;
    const joined: string[] = [];
    for (let p = 0; p < pieces.length; p += 2) joined.push(text.slice(pieces[p], pieces[p + 1]));
    const data = joined.join("");
    let z85 = true;
    for (let p = 0; p < data.length && z85; p++) z85 = Z85_VALUE[data.charCodeAt(p)]! >= 0;
    cut(cuts, pieces[0]!, pieces.at(-1)!, "base85", base85Decode(data, z85 ? Z85_VALUE : RFC1924_VALUE));
  }
  work.steps += steps;
}

// --- which scanners can find anything: one pass before them ------------------------------

/** a data run (embedded.ts) of MIN_WRAPPED_LINE characters or more: findDataRuns may cut */
export const MAY_RUNS = 1;
/** pieces enough for a file from one that is not a word on: findSeparatedRuns may cut */
export const MAY_PIECES = 2;
/** numbers enough for MIN_DATA_BYTES between two certain ends of a list: findByteLists may cut */
export const MAY_LISTS = 4;
/** a base85 run long enough, or alone on its line, and not a link: findBase85 may cut */
export const MAY_BASE85 = 8;

/** character classes of the prefilter, nested: letters and digits ⊂ base64 ⊂ base85 */
const P_ALNUM = 1;
const P_B64 = 2;
const P_B85 = 4;
const P_NUMERIC = 8;
/** may stand between two pieces of a separated run (GAP): any other character ends the block */
const P_GAP = 16;
const P_CLASS = new Uint8Array(128);
/** charClass of the ASCII characters */
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  CLASS[c] = charClass(c);
  P_CLASS[c] = (isAlnum(c) ? P_ALNUM : 0) | (B64[c] ? P_B64 : 0) | (isBase85(c) ? P_B85 : 0) | (NUMERIC_CHAR[c] ? P_NUMERIC : 0) | (GAP[c] ? P_GAP : 0);
}

/**
 * Which of the costly scanners can cut anything in this text (MAY_* bits): a necessary
 * condition of each, read in one pass, so that ordinary prose — words, a few numbers, links
 * — is not scanned five times over (issue 13). Each condition follows from the scanner's
 * own tests, so skipping a scanner whose bit is clear changes nothing:
 *
 * - findDataRuns measures a run only when its first line's part is MIN_WRAPPED_LINE
 *   characters or more (shorter, it neither goes on nor reaches the minimum);
 * - findBase85 the same, and the part must reach MIN_BASE85_CHARS or be its line alone to go
 *   on; a run with "://" or starting "www." is a link, never cut, whatever follows it;
 * - findSeparatedRuns measures a block from its first piece that is not a word on
 *   (flushPieces passes over leading words), pieces cut as it cuts them; the block ends at
 *   the first character that is neither in a piece nor in a gap, and a file needs
 *   MIN_BASE64_CHARS in its pieces before that;
 * - findByteLists ends a list at a word or a non-ASCII character outside a dump's ASCII
 *   column, which begins only after 4 bytes of the line: between two such certain ends,
 *   the numbers must spell MIN_DATA_BYTES even read at their widest (two digits a byte).
 *
 * Each character is looked at a bounded number of times (a piece that is not plainly a word
 * once more, by wordPiece).
 */
export function possibleSpellings(text: string, work: Work): number {
  const n = text.length;
  // the code units in a typed array: read many times faster than through charCodeAt, whose
  // string-shape dispatch is most of a character's cost in the loops below
  const codes = codeUnits(text);
  let may = 0;
  let listBytes = 0; // bytes a list could hold since its last certain end, at most
  let lineBytes = 0; // the same, on this line (a dump's ASCII column comes after 4)
  let pieceChars = -1; // characters in pieces since the first that is not a word, in this block (-1: none yet)
  let lineStart = 0;
  let i = 0;
  while (i < n) {
    const c = codes[i]!;
    if (c >= 0x80) {
      if (lineBytes < 4) listBytes = 0;
      pieceChars = -1;
      i++;
      while (i < n && codes[i]! >= 0x80) i++;
      continue;
    }
    const f = P_CLASS[c]!;
    if (!(f & P_B85)) {
      if (c === 0x0a) {
        lineBytes = 0;
        lineStart = i + 1;
      }
      if (!(f & P_GAP)) pieceChars = -1;
      i++;
      continue;
    }
    // a base85 run [i, k); inside it base64 runs, inside those tokens of letters and digits
    let b64 = -1; // start of the current base64 run
    let tail = 0; // the class each later character of a plain word has (0: not a plain word)
    let letters = false; // the base64 run has a letter or digit
    // each capital of the base64 run so far is followed by a lower-case letter: then every hump
    // of it is a word to wordPiece ("subsidy-announcement", "utm_source", "McDonald")
    let wordy = true;
    let capital = false;
    let alnum = -1; // start of the current token
    let numeric = true;
    let link = false;
    let k = i;
    for (; ; k++) {
      let d = codes[k]!; // 0 at the end
      if (alnum >= 0 && d >= 0x61 && d <= 0x7a) {
        // lower-case letters inside a token, most of prose and links: what the steps below would
        // do for each, done for the stretch
        if (tail !== 2) tail = 0;
        do {
          if (!NUMERIC_CHAR[d]) numeric = false;
          d = codes[++k]!;
        } while (d >= 0x61 && d <= 0x7a);
        capital = false;
        letters = true;
      }
      const g = d < 0x80 ? P_CLASS[d]! : 0;
      if (g & P_B64) {
        const cls = CLASS[d]!;
        if (b64 < 0) {
          b64 = k;
          tail = cls === 3 ? 3 : cls === 4 ? 0 : 2;
          letters = false;
          wordy = true;
          capital = false;
        } else if (cls !== tail) tail = 0;
        if (cls !== 4) letters = true;
        if (capital && cls !== 2) wordy = false;
        capital = cls === 1;
      }
      if (g & P_ALNUM) {
        if (alnum < 0) {
          alnum = k;
          numeric = true;
        }
        if (!(g & P_NUMERIC)) numeric = false;
      } else if (alnum >= 0) {
        const length = k - alnum;
        if (numeric) {
          if (length <= 10) {
            const bytes = Math.max(1, length >> 1);
            listBytes += bytes;
            lineBytes += bytes;
            if (listBytes >= MIN_DATA_BYTES) may |= MAY_LISTS;
          } // longer: an offset column, or an end (not counted as one: either may be)
        } else if (!(length >= 3 && length <= 5 && FILLER_FIRST[codes[alnum]!]) && lineBytes < 4) listBytes = 0;
        alnum = -1;
      }
      if (!(g & P_B64)) {
        if (b64 >= 0) {
          if (k - b64 >= MIN_WRAPPED_LINE) may |= MAY_RUNS;
          // findSeparatedRuns reads "\n" written in a string as a gap: its letter is not in the piece
          let from = b64;
          const first = codes[b64]!;
          if (first === 0x6e || first === 0x72 || first === 0x74) {
            if (codes[b64 - 1]! === 0x5c) {
              from++;
              tail = from < k && plainWord(text, from, k) ? 1 : 0;
              letters = hasAlnum(text, from, k);
              wordy = false; // wordPiece decides
            }
          }
          if (capital) wordy = false;
          // a piece: has a letter or digit; not a word when not plain and wordPiece says so
          if (letters && from < k && (pieceChars >= 0 || (tail === 0 && !wordy && !wordPiece(text, from, k)))) {
            pieceChars = (pieceChars < 0 ? 0 : pieceChars) + (k - from);
            if (pieceChars >= MIN_BASE64_CHARS) may |= MAY_PIECES;
          }
          b64 = -1;
        }
        if (!(g & P_GAP) && (g & P_B85 || d >= 0x80)) pieceChars = -1; // ends the block (the run's end is looked at by the outer loop)
        if (d === 0x3a && codes[k + 1]! === 0x2f && codes[k + 2]! === 0x2f) link = true;
      }
      if (!(g & P_B85)) break;
    }
    const length = k - i;
    if (
      length >= MIN_WRAPPED_LINE &&
      !link &&
      !((c | 0x20) === 0x77 && (codes[i + 1]! | 0x20) === 0x77 && (codes[i + 2]! | 0x20) === 0x77 && codes[i + 3]! === 0x2e) // www.
    ) {
      let t = k;
      while (t < n && isSpace(codes[t]!)) t++;
      if (length >= MIN_BASE85_CHARS || (i === lineStart && (t >= n || codes[t]! === 0x0a))) may |= MAY_BASE85;
    }
    i = k;
  }
  work.steps += n;
  return may;
}

/**
 * The UTF-16 code units of a text and a 0 after them (which ends every run, so the loops need
 * no bounds test), copied natively: Buffer's utf16le encoder, one copy or widening.
 */
function codeUnits(text: string): Uint16Array {
  const out = new Uint16Array(text.length + 1);
  Buffer.from(out.buffer, 0, text.length * 2).write(text, "utf16le");
  return out;
}

/** a letter then lower-case letters, or digits alone: a word to wordPiece without more ado */
function plainWord(text: string, from: number, to: number): boolean {
  const first = charClass(text.charCodeAt(from));
  if (first === 4) return false;
  const tail = first === 3 ? 3 : 2;
  for (let k = from + 1; k < to; k++) if (charClass(text.charCodeAt(k)) !== tail) return false;
  return true;
}

function hasAlnum(text: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (isAlnum(text.charCodeAt(k))) return true;
  return false;
}
