/**
 * Display safety, one definition for every stage: text the sender controls
 * (file names, display names, the subject, addresses, SMTP replies, body
 * text) must be shown, never obeyed — by the sanitized message, the CLI's
 * terminal output and the admin console alike.
 *
 * SECURITY: input is sender-controlled Unicode. Control characters (C0, C1,
 * DEL), bidi embeddings/overrides/isolates and marks (U+202A–202E,
 * U+2066–2069, U+200E/U+200F, U+061C) and other invisible format characters
 * that can hide or reorder text are replaced by a visible `<U+XXXX>` token, so
 * "invoice\u202Efdp.exe" reads as "invoice<U+202E>fdp.exe" and cannot pose as
 * "invoiceexe.pdf". One regular expression per use, a single character class
 * (no backtracking), so long texts are handled at native speed. Pure
 * functions; no state.
 */

/**
 * Everything shown as `<U+XXXX>` in any text: C0/C1 controls and DEL, bidi
 * and invisible format characters, the sanitizer's private-use sentinels
 * (U+E000–E00F), tag characters, and lone surrogates (matched one code unit
 * at a time thanks to the u flag). Callers decide which of TAB, CR and LF a
 * text may keep. The set for message body text.
 */
export const UNSAFE_RE =
  /[\u0000-\u001f\u007f-\u009f\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2060-\u2064\u206A-\u206F\uFEFF\uFFF9-\uFFFB\uE000-\uE00F\uD800-\uDFFF]|[\u{E0000}-\u{E007F}]/gu;

/**
 * Text shown to a person outside a message body may also not hold a line or
 * paragraph separator (a reader may break the line there, so a subject could
 * show a forged second line) nor a zero-width space (it hides where one word
 * ends). Body text keeps them: HTML mail is full of zero-width spaces.
 */
const UNSAFE_SHOWN_RE =
  /[\u0000-\u001f\u007f-\u009f\u061C\u200B\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069\u2060-\u2064\u206A-\u206F\uFEFF\uFFF9-\uFFFB\uE000-\uE00F\uD800-\uDFFF]|[\u{E0000}-\u{E007F}]/gu;

export function visibleCodePoint(cp: number): string {
  return `<U+${cp.toString(16).toUpperCase().padStart(4, "0")}>`;
}

/** The shown form of one unsafe character: `<U+XXXX>`, or U+FFFD for a lone surrogate (it has no code point to show). */
export function escapeUnsafe(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0xfffd;
  if (cp >= 0xd800 && cp <= 0xdfff) return "\uFFFD";
  return visibleCodePoint(cp);
}

/**
 * For one-line fields (file names, display names, subject, addresses, table
 * cells): every control, bidi or invisible format character becomes
 * `<U+XXXX>`; TAB becomes a space. Unpaired surrogates become U+FFFD. The
 * result contains no CR, LF or other line break.
 */
export function displaySafe(value: string): string {
  return value.replace(/\t/g, " ").replace(UNSAFE_SHOWN_RE, escapeUnsafe);
}

/** For multi-line text shown as it is (an SMTP reply, a message text in a page): like displaySafe, but TAB, CR and LF are kept. */
export function textSafe(value: string): string {
  return value.replace(UNSAFE_SHOWN_RE, (ch) => (ch === "\n" || ch === "\t" || ch === "\r" ? ch : escapeUnsafe(ch)));
}
