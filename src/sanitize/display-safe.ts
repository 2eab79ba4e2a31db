/**
 * Display safety: text the sender controls (file names, display names, the
 * subject, body text) must be shown, never obeyed.
 *
 * SECURITY: input is sender-controlled Unicode. Control characters (C0, C1,
 * DEL), bidi embeddings/overrides/isolates and marks (U+202A–202E,
 * U+2066–2069, U+200E/U+200F, U+061C) and other invisible format characters
 * that can hide or reorder text are replaced by a visible `<U+XXXX>` token, so
 * "invoice\u202Efdp.exe" reads as "invoice<U+202E>fdp.exe" and cannot pose as
 * "invoiceexe.pdf". Pure functions; no state.
 */

/** Characters that reorder or hide text: always made visible. */
const BIDI_AND_INVISIBLE =
  // LRM RLM ALM, LRE..RLO, LRI..PDI, word joiner/invisible operators, BOM, interlinear annotations, tag chars handled below
  /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2060-\u2064\u206A-\u206F\uFEFF\uFFF9-\uFFFB]/u;

/** Unicode "tag" characters (U+E0000–E007F): invisible, used to smuggle text. */
const TAG_CHARS = /[\u{E0000}-\u{E007F}]/u;

/** Private-use sentinels the HTML converter uses internally; never accepted from the sender. */
export const SENTINEL_RE = /[\uE000-\uE00F]/g;

export function visibleCodePoint(cp: number): string {
  return `<U+${cp.toString(16).toUpperCase().padStart(4, "0")}>`;
}

function isControl(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/**
 * For one-line fields (file names, display names, subject): every control,
 * bidi or invisible format character becomes `<U+XXXX>`; TAB becomes a space.
 * Unpaired surrogates become U+FFFD. The result contains no CR or LF.
 */
export function displaySafe(value: string): string {
  let out = "";
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0xfffd;
    if (cp === 0x09) out += " ";
    else if (isControl(cp) || BIDI_AND_INVISIBLE.test(ch) || TAG_CHARS.test(ch) || (cp >= 0xe000 && cp <= 0xe00f))
      out += visibleCodePoint(cp);
    else if (cp >= 0xd800 && cp <= 0xdfff) out += "\uFFFD";
    else out += ch;
  }
  return out;
}

/**
 * For body text: line breaks normalised to LF, TAB and LF kept, every other
 * control, bidi override or invisible format character made visible (NUL and a
 * leading BOM simply dropped: they carry no meaning in text). Internal
 * sentinels are removed so the sender cannot forge converter markers.
 */
export function bodySafe(value: string, keepSentinels = false): string {
  const text = value.replace(/\r\n?/g, "\n").replace(/^\uFEFF/, "").replace(/\u0000/g, "");
  let out = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0xfffd;
    if (cp === 0x0a || cp === 0x09) out += ch;
    else if (cp === 0x0c) out += "\n"; // form feed: a page break in old mailers, shown as a line break
    else if (cp >= 0xe000 && cp <= 0xe00f) {
      if (keepSentinels) out += ch;
    } else if (isControl(cp) || BIDI_AND_INVISIBLE.test(ch) || TAG_CHARS.test(ch)) out += visibleCodePoint(cp);
    else if (cp >= 0xd800 && cp <= 0xdfff) out += "\uFFFD";
    else out += ch;
  }
  return out;
}

/** Removes the converter's private sentinels from sender text before conversion. */
export function stripSentinels(value: string): string {
  return value.replace(SENTINEL_RE, "");
}

/** Cuts a string to at most `max` code points, never inside a surrogate pair. */
export function truncateChars(value: string, max: number): string {
  if (value.length <= max) return value;
  let cut = max;
  const code = value.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return value.slice(0, cut);
}
