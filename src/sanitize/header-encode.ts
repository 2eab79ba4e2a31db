/**
 * The header encoder of the output: every header line mumuka writes — in the
 * sanitized message, and in the DSNs the deliver stage builds — is produced
 * here, and the header block's bytes are produced only by `headerBlock()`.
 * RFC 2047 encoded words (B) for non-ASCII display names and subjects and for
 * ASCII words too long to fold, quoted strings for ASCII names with specials,
 * folding at 78 characters where the value allows it.
 *
 * SECURITY: values reaching this module may still contain anything (CR, LF,
 * NUL, U+010A, lone surrogates …). Three layers keep them from ever ending a
 * header line or starting another:
 *   1. each function writes text only as printable ASCII or as encoded words
 *      (base64 of UTF-8 / ISO-2022-JP), and replaces every control character;
 *   2. an addr-spec that is not printable ASCII is never written: the address
 *      is replaced by a placeholder and its text becomes the encoded display
 *      name (never "narrowed" to bytes, which is how U+010A once became LF);
 *   3. `headerBlock()` accepts only fields made here (a branded type) and
 *      asserts, at the point of writing, that every line is printable ASCII,
 *      at most 998 octets, and that continuation lines are folded whitespace.
 *      A violation throws HeaderEncodingError — a bug in mumuka, which the
 *      pipeline turns into "held", never a message sent.
 * The error names the field and the line, never the value (mail content is not logged).
 * Pure functions, no state: a crash leaves nothing behind.
 */
import type { Address } from "./sanitize-types.ts";
import type { OutputCharset } from "../config/schema.ts";
import { encodeIso2022Jp } from "./charset.ts";

/** RFC 5322 2.1.1: lines SHOULD be at most 78 characters */
const FOLD_AT = 78;
/** RFC 5322 2.1.1: a line MUST be at most 998 octets (excluding CRLF) */
export const MAX_HEADER_LINE = 998;
/**
 * RFC 2047 2: an encoded word is at most 75 characters. "=?UTF-8?B?" + "?=" leave
 * 63 for base64, i.e. 45 bytes; "=?ISO-2022-JP?B?" + "?=" leave 57, i.e. 42 bytes.
 */
const MAX_WORD_BYTES = { utf8: 45, jis: 42 };
/**
 * An ASCII word of a display name longer than this is written as encoded words
 * (which split anywhere) instead: it could not be folded within 78 characters
 * after "Reply-To: " — and a 1,000-character word would pass 998 octets.
 */
const MAX_PLAIN_WORD = FOLD_AT - "Reply-To: ".length - 2;
/** written instead of an address that cannot be represented in an ASCII header */
export const INVALID_ADDRESS = "invalid-address@mumuka.invalid";

declare const encodedField: unique symbol;
/** One header field (possibly folded, CRLF between its lines, none at its end) made by this module. */
export type HeaderField = string & { readonly [encodedField]: true };

/** A header this module produced violates what it promises: a bug, never sent. */
export class HeaderEncodingError extends Error {
  readonly code = "HEADER_ENCODING";
  constructor(message: string) {
    super(message);
    this.name = "HeaderEncodingError";
  }
}

/** No CR/LF/controls can survive into a header. */
export function oneLine(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ");
}

function isPrintableAscii(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
}

/** dot-atom, tolerating the leading, trailing and doubled dots of real (obsolete-syntax) addresses */
const LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/;
/** RFC 5322 quoted-string of printable ASCII only (qtext or quoted-pair) */
const QUOTED_LOCAL = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e]){0,64}"$/;
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})?(?:\.[A-Za-z0-9_-]{1,63})*\.?|\[[A-Za-z0-9.:]{1,64}\])$/;

/**
 * An addr-spec this encoder writes as it is: printable ASCII only, an atom or
 * quoted local part, a domain name or literal. Anything else (a non-ASCII
 * local part included: SMTPUTF8 is not offered downstream) is replaced.
 */
export function isWritableAddress(address: string): boolean {
  if (address.length > 254 || !isPrintableAscii(address)) return false;
  const at = address.lastIndexOf("@");
  if (at <= 0) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  return (LOCAL_ATOM.test(local) || QUOTED_LOCAL.test(local)) && DOMAIN.test(domain);
}

/** Splits text into pieces whose encoding fits one encoded word, never inside a character. */
function chunkForWords(text: string, encode: (s: string) => Buffer | null, maxBytes: number): Buffer[] | null {
  const chunks: Buffer[] = [];
  let current = "";
  let currentBytes: Buffer | null = Buffer.alloc(0);
  for (const ch of text) {
    const next = current + ch;
    const bytes = encode(next);
    if (!bytes) return null;
    if (bytes.length > maxBytes && current) {
      if (currentBytes) chunks.push(currentBytes);
      current = ch;
      currentBytes = encode(ch);
      if (!currentBytes) return null;
    } else {
      current = next;
      currentBytes = bytes;
    }
  }
  if (current && currentBytes) chunks.push(currentBytes);
  return chunks;
}

const ESC = 0x1b;
const TO_ASCII = [ESC, 0x28, 0x42]; // ESC ( B

/**
 * Splits an ISO-2022-JP byte string (from encodeIso2022Jp, so already checked)
 * into pieces of at most `maxBytes`, never inside a character, each starting
 * and ending in ASCII as RFC 1468 wants of an encoded word. One linear walk:
 * encoding every growing piece again, as for UTF-8, costs 15 ms for a
 * 1,000-character name, and a header may hold hundreds of names.
 */
function splitJis(bytes: Buffer, maxBytes: number): Buffer[] {
  const chunks: Buffer[] = [];
  let mode: number[] = TO_ASCII; // the escape in effect at this point of the input
  let current: number[] = [];
  let currentMode: number[] = TO_ASCII; // the escape in effect at the end of `current`
  const isAscii = (m: number[]): boolean => m[1] === 0x28 && m[2] === 0x42;
  const same = (a: number[], b: number[]): boolean => a[1] === b[1] && a[2] === b[2];
  const flush = (): void => {
    chunks.push(Buffer.from(isAscii(currentMode) ? current : [...current, ...TO_ASCII]));
    current = [];
    currentMode = TO_ASCII;
  };
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i] === ESC) {
      mode = [...bytes.subarray(i, i + 3)];
      i += 3;
      continue;
    }
    const width = mode[1] === 0x24 ? 2 : 1; // ESC $ B / ESC $ @: JIS X 0208, two bytes a character
    const size = (): number => current.length + (same(currentMode, mode) ? 0 : 3) + width + (isAscii(mode) ? 0 : 3);
    if (size() > maxBytes && current.length > 0) flush();
    if (!same(currentMode, mode)) {
      current.push(...mode);
      currentMode = mode;
    }
    current.push(...bytes.subarray(i, i + width));
    i += width;
  }
  if (current.length > 0) flush();
  return chunks;
}

/** Encoded words for a text: ISO-2022-JP when asked for and representable, else UTF-8 (a lone surrogate becomes U+FFFD). */
export function encodedWords(text: string, charset: OutputCharset): string[] {
  const clean = oneLine(text);
  if (charset === "iso-2022-jp") {
    const jis = encodeIso2022Jp(clean);
    if (jis) return splitJis(jis, MAX_WORD_BYTES.jis).map((b) => `=?ISO-2022-JP?B?${b.toString("base64")}?=`);
  }
  const chunks = chunkForWords(clean, (s) => Buffer.from(s, "utf8"), MAX_WORD_BYTES.utf8) ?? [];
  return chunks.map((b) => `=?UTF-8?B?${b.toString("base64")}?=`);
}

/** Joins tokens into a header field folded at FOLD_AT where token boundaries allow. */
function fold(name: string, tokens: string[], separator = " "): HeaderField {
  let line = `${name}:`;
  const lines: string[] = [];
  tokens.forEach((token, i) => {
    const sep = i === 0 ? " " : separator;
    if (line.length + sep.length + token.length > FOLD_AT && line.trim() !== `${name}:`) {
      lines.push(separator === " " ? line : line + separator.trimEnd());
      line = ` ${token}`;
    } else line += sep + token;
  });
  lines.push(line);
  return lines.join("\r\n") as HeaderField;
}

/** An unstructured header (Subject, X-…): plain ASCII folded at spaces, anything else as encoded words. */
export function unstructuredHeader(name: string, value: string, charset: OutputCharset): HeaderField {
  const clean = oneLine(value).trim();
  if (clean === "") return `${name}: ` as HeaderField;
  const words = clean.split(/ +/);
  // plain ASCII only when it cannot be mistaken for encoded words and every word can be folded
  if (isPrintableAscii(clean) && !clean.includes("=?") && words.every((w) => w.length <= FOLD_AT - name.length - 2)) {
    return fold(name, words);
  }
  return fold(name, encodedWords(clean, charset));
}

const ATEXT_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

/** A display name as a phrase: atoms, a quoted string, or encoded words. */
function phrase(name: string, charset: OutputCharset): string[] {
  const clean = oneLine(name).replace(/ +/g, " ").trim();
  if (!clean) return [];
  if (!isPrintableAscii(clean) || clean.includes("=?")) return encodedWords(clean, charset);
  if (ATEXT_PHRASE.test(clean)) {
    const atoms = clean.split(" ");
    return atoms.every((a) => a.length <= MAX_PLAIN_WORD) ? atoms : encodedWords(clean, charset);
  }
  const quoted = `"${clean.replace(/(["\\])/g, "\\$1")}"`;
  return quoted.length <= MAX_PLAIN_WORD ? [quoted] : encodedWords(clean, charset);
}

/** What a reader is shown instead of an address that cannot be written: its name and its text. */
function unwritable(a: Address, placeholder: string): Address {
  const shown = a.name && a.address ? `${a.name} (${a.address})` : a.name || a.address;
  return { name: shown, address: placeholder };
}

/**
 * An address list header. An address that is not a writable addr-spec (see
 * isWritableAddress) is replaced by `placeholder`, its text kept as the
 * encoded display name: shown, never written as an address, never narrowed.
 */
export function addressHeader(name: string, addresses: Address[], charset: OutputCharset, placeholder = INVALID_ADDRESS): HeaderField {
  if (!isWritableAddress(placeholder)) throw new HeaderEncodingError(`header ${name}: the placeholder address is not a writable addr-spec`);
  const tokens: string[] = [];
  addresses.forEach((original, i) => {
    const a = isWritableAddress(original.address) ? original : unwritable(original, placeholder);
    const last = i === addresses.length - 1;
    const words = phrase(a.name, charset);
    const addr = `<${a.address}>${last ? "" : ","}`;
    if (words.length === 0) tokens.push(addr);
    else tokens.push(...words, addr);
  });
  return fold(name, tokens);
}

/** A header whose value is already a safe ASCII token list (msg-ids, dates, our own ids), folded between tokens. */
export function tokenHeader(name: string, value: string): HeaderField {
  return fold(name, oneLine(value).trim().split(/ +/).filter(Boolean));
}

/** A header from ready tokens (each kept on one line, e.g. a date), folded between them. */
export function foldedTokens(name: string, tokens: string[]): HeaderField {
  return fold(name, tokens.map(oneLine).filter(Boolean));
}

const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}:/;
const PRINTABLE_LINE = /^[\x20-\x7e]*$/;

/** Throws unless `field` is one header field of printable-ASCII lines ≤ 998 octets, folded only at whitespace. */
export function assertHeaderField(field: string): void {
  const name = FIELD_NAME.exec(field)?.[0].slice(0, -1);
  if (!name) throw new HeaderEncodingError("a header field does not start with a field name and a colon");
  const lines = field.split("\r\n");
  lines.forEach((line, i) => {
    const where = `header ${name}, line ${i + 1}`;
    if (!PRINTABLE_LINE.test(line)) {
      const bad = [...line].find((ch) => !PRINTABLE_LINE.test(ch)) ?? "";
      throw new HeaderEncodingError(`${where}: a character outside printable ASCII (U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")})`);
    }
    if (line.length > MAX_HEADER_LINE) throw new HeaderEncodingError(`${where}: ${line.length} octets (more than ${MAX_HEADER_LINE})`);
    if (i > 0 && !/^ +\S/.test(line)) throw new HeaderEncodingError(`${where}: a continuation line that is not folded whitespace followed by text`);
  });
}

/**
 * The bytes of a header block: the fields in order, each line ended by CRLF
 * (no blank line after the block: the caller adds the separator). The only
 * place in mumuka where header text becomes bytes; every field is asserted
 * first, so no caller can bypass the checks.
 */
export function headerBlock(fields: readonly HeaderField[]): Buffer {
  for (const field of fields) assertHeaderField(field);
  const text = fields.map((f) => `${f}\r\n`).join("");
  // asserted printable ASCII: one byte per character, nothing narrowed
  return Buffer.from(text, "latin1");
}
