/**
 * The header encoder of the output: every header mumuka writes is produced
 * here from decoded, display-safe values. RFC 2047 encoded words (B) for
 * non-ASCII display names and subjects, quoted strings for ASCII names with
 * specials, folding at 78 characters where the value allows it.
 *
 * SECURITY: values reaching this module may still contain anything; as a last
 * line of defence every CR, LF and other control character is replaced before
 * writing, so no value can end a header line or start another one. The output
 * is pure ASCII.
 */
import type { Address } from "./sanitize-types.ts";
import type { OutputCharset } from "../config/schema.ts";
import { encodeIso2022Jp } from "./charset.ts";

/** RFC 5322 2.1.1: lines SHOULD be at most 78 characters */
const FOLD_AT = 78;
/**
 * RFC 2047 2: an encoded word is at most 75 characters. "=?UTF-8?B?" + "?=" leave
 * 63 for base64, i.e. 45 bytes; "=?ISO-2022-JP?B?" + "?=" leave 57, i.e. 42 bytes.
 */
const MAX_WORD_BYTES = { utf8: 45, jis: 42 };

/** No CR/LF/controls can survive into a header. */
export function oneLine(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ");
}

function isPrintableAscii(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
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

/** Encoded words for a text: ISO-2022-JP when asked for and representable, else UTF-8. */
export function encodedWords(text: string, charset: OutputCharset): string[] {
  const clean = oneLine(text);
  if (charset === "iso-2022-jp") {
    const chunks = chunkForWords(clean, encodeIso2022Jp, MAX_WORD_BYTES.jis);
    if (chunks) return chunks.map((b) => `=?ISO-2022-JP?B?${b.toString("base64")}?=`);
  }
  const chunks = chunkForWords(clean, (s) => Buffer.from(s, "utf8"), MAX_WORD_BYTES.utf8) ?? [];
  return chunks.map((b) => `=?UTF-8?B?${b.toString("base64")}?=`);
}

/** Joins tokens into a header line folded at FOLD_AT where token boundaries allow. */
function fold(name: string, tokens: string[], separator = " "): string {
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
  return lines.join("\r\n");
}

/** An unstructured header (Subject, X-…): plain ASCII folded at spaces, anything else as encoded words. */
export function unstructuredHeader(name: string, value: string, charset: OutputCharset): string {
  const clean = oneLine(value).trim();
  if (clean === "") return `${name}: `;
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
  if (ATEXT_PHRASE.test(clean)) return clean.split(" ");
  const quoted = `"${clean.replace(/(["\\])/g, "\\$1")}"`;
  return quoted.length <= FOLD_AT - 10 ? [quoted] : encodedWords(clean, charset);
}

/** An address list header; addresses must already be valid addr-specs (see isValidAddress). */
export function addressHeader(name: string, addresses: Address[], charset: OutputCharset): string {
  const tokens: string[] = [];
  addresses.forEach((a, i) => {
    const last = i === addresses.length - 1;
    const words = phrase(a.name, charset);
    const addr = `<${oneLine(a.address)}>${last ? "" : ","}`;
    if (words.length === 0) tokens.push(addr);
    else tokens.push(...words, addr);
  });
  return fold(name, tokens);
}

/** A header whose value is already a safe ASCII token list (msg-ids, dates, our own ids). */
export function tokenHeader(name: string, value: string): string {
  return fold(name, oneLine(value).trim().split(/ +/).filter(Boolean));
}

/** A header from ready tokens (each kept on one line, e.g. a date), folded between them. */
export function foldedTokens(name: string, tokens: string[]): string {
  return fold(name, tokens.map(oneLine).filter(Boolean));
}
