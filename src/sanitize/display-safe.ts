/**
 * The sanitizer's text hygiene on top of src/lib/display-safe.ts (which
 * defines what is unsafe to show, for every stage): body text with its line
 * ends normalised, the HTML converter's private sentinels, cutting to a length.
 *
 * SECURITY: input is sender-controlled Unicode; see src/lib/display-safe.ts.
 * Pure functions; no state.
 */
import { escapeUnsafe, UNSAFE_RE } from "../lib/display-safe.ts";

/** Private-use sentinels the HTML converter uses internally; never accepted from the sender. */
export const SENTINEL_RE = /[\uE000-\uE00F]/g;

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
  return text.replace(UNSAFE_RE, (ch) => {
    if (ch === "\n" || ch === "\t") return ch;
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0xe000 && cp <= 0xe00f) return keepSentinels ? ch : "";
    return escapeUnsafe(ch);
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
