/**
 * Charset decoding for text parts and raw header bytes, and the ISO-2022-JP
 * encoder of the output.
 *
 * SECURITY: input bytes and charset labels are sender-controlled. Labels are
 * matched against a fixed table (never used to load anything); unknown labels
 * fall back to a guess among the charsets Japanese mail actually uses, with a
 * warning for the report. Decoding never throws: invalid sequences become
 * U+FFFD. Pure functions.
 */
import iconv from "iconv-lite";
import Encoding from "encoding-japanese";

export interface Decoded {
  text: string;
  /** the charset actually used, lower case */
  used: string;
  /** set when the label was unknown or the bytes did not fit it */
  warning?: string;
}

const JIS_ESCAPE = /\x1b[$(][@BJDI(]/;

/** ISO-2022-JP and its variants (JIS X 0201 kana, CP5022x, -1, -2, -3, -2004). */
function isJisLabel(label: string): boolean {
  return /^(iso-?2022-?jp(-\w+)?|cs-?iso-?2022-?jp|cp5022[012]|jis|x-jis|iso-2022-jp-ms)$/.test(label);
}

const ALIASES: Record<string, string> = {
  "": "us-ascii",
  ascii: "us-ascii",
  "us-ascii": "us-ascii",
  "ansi_x3.4-1968": "us-ascii",
  "shift_jis": "cp932",
  "shift-jis": "cp932",
  sjis: "cp932",
  "x-sjis": "cp932",
  "ms_kanji": "cp932",
  csshiftjis: "cp932",
  "windows-31j": "cp932",
  cp932: "cp932",
  ms932: "cp932",
  "x-ms-cp932": "cp932",
  "shift_jisx0213": "cp932",
  "euc-jp": "euc-jp",
  "x-euc-jp": "euc-jp",
  eucjp: "euc-jp",
  "euc-jis-2004": "euc-jp",
  cseucpkdfmtjapanese: "euc-jp",
  "utf-8": "utf-8",
  utf8: "utf-8",
  "x-unknown": "unknown",
  unknown: "unknown",
  "unknown-8bit": "unknown",
  "x-user-defined": "unknown",
  // WHATWG practice: Latin-1 labels are decoded as windows-1252 (a superset for printable text)
  "iso-8859-1": "windows-1252",
  "iso8859-1": "windows-1252",
  latin1: "windows-1252",
  "latin-1": "windows-1252",
  l1: "windows-1252",
};

/** Canonical lower-case label: strips quotes, comments, language suffix (RFC 2231 `utf-8'ja'`). */
export function normalizeLabel(label: string | undefined): string {
  const raw = (label ?? "").trim().replace(/^["']|["']$/g, "").toLowerCase();
  return raw.replace(/\*.*$/, "").slice(0, 64);
}

/** Valid UTF-8, allowing an incomplete last character (text cut at a byte budget). */
function isValidUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

function decodeJis(bytes: Buffer): string {
  return Encoding.codeToString(Encoding.convert(bytes, { to: "UNICODE", from: "JIS" }));
}

function countMatches(text: string, re: RegExp): number {
  let n = 0;
  for (const _ of text.matchAll(re)) n++;
  return n;
}

/**
 * Guesses the charset of unlabelled 8-bit bytes: ISO-2022-JP by its escapes,
 * UTF-8 when valid, else whichever of CP932 / EUC-JP decodes with fewer errors
 * (EUC-JP read as CP932 turns into half-width katakana, which is penalised),
 * else windows-1252.
 */
export function guessCharset(bytes: Buffer): string {
  let high = false;
  for (const byte of bytes) {
    if (byte >= 0x80) {
      high = true;
      break;
    }
  }
  if (!high) return JIS_ESCAPE.test(bytes.toString("latin1")) ? "iso-2022-jp" : "us-ascii";
  if (isValidUtf8(bytes)) return "utf-8";
  const score = (text: string): number =>
    countMatches(text, /\uFFFD/g) * 10 + countMatches(text, /[\uFF61-\uFF9F]/g) - countMatches(text, /[\u3040-\u30FF\u4E00-\u9FFF]/g) / 4;
  const sjis = score(iconv.decode(bytes, "cp932"));
  const euc = score(iconv.decode(bytes, "euc-jp"));
  const best = Math.min(sjis, euc);
  // more errors than a tenth of the bytes: neither Japanese charset fits
  if (best > bytes.length) return "windows-1252";
  return euc < sjis ? "euc-jp" : "cp932";
}

/** Decodes bytes declared as `label`; never throws. */
export function decodeText(bytes: Buffer, label: string | undefined): Decoded {
  const norm = normalizeLabel(label);
  const alias = ALIASES[norm] ?? norm;
  if (isJisLabel(alias) || (alias === "us-ascii" && JIS_ESCAPE.test(bytes.toString("latin1")))) {
    return { text: decodeJis(bytes), used: "iso-2022-jp" };
  }
  if (alias === "us-ascii" || alias === "unknown") {
    const guess = guessCharset(bytes);
    if (guess === "us-ascii") return { text: bytes.toString("latin1"), used: "us-ascii" };
    if (guess === "iso-2022-jp") return { text: decodeJis(bytes), used: guess };
    const result: Decoded = { text: iconv.decode(bytes, guess), used: guess };
    if (alias === "unknown" || guess !== "utf-8") result.warning = `8-bit text labelled ${norm || "(none)"}: decoded as ${guess}`;
    return result;
  }
  if (alias === "utf-8") {
    const text = new TextDecoder("utf-8").decode(bytes);
    if (text.includes("\uFFFD") && !isValidUtf8(bytes)) {
      const guess = guessCharset(bytes);
      if (guess === "cp932" || guess === "euc-jp") {
        return { text: iconv.decode(bytes, guess), used: guess, warning: `text labelled utf-8 is not UTF-8: decoded as ${guess}` };
      }
      return { text, used: "utf-8", warning: "invalid UTF-8 sequences replaced" };
    }
    return { text, used: "utf-8" };
  }
  if (iconv.encodingExists(alias)) return { text: iconv.decode(bytes, alias), used: alias };
  const guess = guessCharset(bytes);
  const text = guess === "iso-2022-jp" ? decodeJis(bytes) : guess === "us-ascii" ? bytes.toString("latin1") : iconv.decode(bytes, guess);
  return { text, used: guess, warning: `unknown charset ${JSON.stringify(norm)}: decoded as ${guess}` };
}

/**
 * Encodes text as strict ISO-2022-JP (ASCII + JIS X 0208 rows 1–8 and 16–84,
 * i.e. no half-width katakana, no NEC/IBM extensions), or returns null when
 * some character cannot be represented: the caller then falls back to UTF-8.
 */
export function encodeIso2022Jp(text: string): Buffer | null {
  const codes = Encoding.convert(Encoding.stringToCode(text), { to: "JIS", from: "UNICODE" }) as number[];
  const bytes = Buffer.from(codes);
  // round trip: characters without a JIS mapping come back as "?" or are lost
  if (decodeJis(bytes) !== text) return null;
  let twoByte = false;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b === 0x1b) {
      const seq = bytes.subarray(i, i + 3).toString("latin1");
      if (seq === "\x1b$B" || seq === "\x1b$@") twoByte = true;
      else if (seq === "\x1b(B" || seq === "\x1b(J") twoByte = false;
      else return null; // ESC ( I (half-width kana) or anything else is not ISO-2022-JP
      i += 3;
      continue;
    }
    if (b === 0x0e || b === 0x0f || b >= 0x80) return null;
    if (twoByte && b !== 0x0a && b !== 0x0d) {
      const row = b - 0x20;
      if (!((row >= 1 && row <= 8) || (row >= 16 && row <= 84))) return null;
      i += 2;
      continue;
    }
    i += 1;
  }
  return bytes;
}
