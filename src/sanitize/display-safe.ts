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

/** Private-use sentinels the HTML converter uses internally; never accepted from the sender. */
export const SENTINEL_RE = /[\uE000-\uE00F]/g;

export function visibleCodePoint(cp: number): string {
  return `<U+${cp.toString(16).toUpperCase().padStart(4, "0")}>`;
}

/**
 * Everything that is shown as `<U+XXXX>`: C0/C1 controls and DEL, bidi and
 * invisible format characters, the converter's sentinels, tag characters, and
 * lone surrogates (matched one code unit at a time thanks to the u flag). One
 * regular expression, so long texts are handled at native speed.
 */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2060-\u2064\u206A-\u206F\uFEFF\uFFF9-\uFFFB\uE000-\uE00F\uD800-\uDFFF]|[\u{E0000}-\u{E007F}]/gu;

function escapeOne(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0xfffd;
  if (cp >= 0xd800 && cp <= 0xdfff) return "\uFFFD";
  return visibleCodePoint(cp);
}

/**
 * For one-line fields (file names, display names, subject): every control,
 * bidi or invisible format character becomes `<U+XXXX>`; TAB becomes a space.
 * Unpaired surrogates become U+FFFD. The result contains no CR or LF.
 */
export function displaySafe(value: string): string {
  return value.replace(/\t/g, " ").replace(UNSAFE, escapeOne);
}

/**
 * For body text: line breaks normalised to LF, TAB and LF kept, every other
 * control, bidi override or invisible format character made visible (NUL and a
 * leading BOM simply dropped: they carry no meaning in text; a form feed, an
 * old page break, becomes a line break). Internal sentinels are removed so the
 * sender cannot forge converter markers — unless `keepSentinels`, for text
 * that came out of our own converter.
 */
export function bodySafe(value: string, keepSentinels = false): string {
  const text = value.replace(/\r\n?/g, "\n").replace(/^\uFEFF/, "").replace(/\u0000/g, "").replace(/\f/g, "\n");
  return text.replace(UNSAFE, (ch) => {
    if (ch === "\n" || ch === "\t") return ch;
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0xe000 && cp <= 0xe00f) return keepSentinels ? ch : "";
    return escapeOne(ch);
  });
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
