/**
 * The sanitizer's text hygiene on top of src/lib/display-safe.ts (which
 * defines what is unsafe to show, for every stage): body text with its line
 * ends normalised, the HTML converter's private sentinels, cutting to a length.
 *
 * SECURITY: input is sender-controlled Unicode; see src/lib/display-safe.ts.
 * Pure functions; no state.
 */
import { displaySafe, escapeUnsafe, UNSAFE_RE } from "../lib/display-safe.ts";

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

/** a file name shown in the notice and the report: longer ones are cut in the middle */
export const MAX_FILENAME_CHARS = 255;
/** a file name as rules match it (name, extension, type mismatch): far beyond any real name, bounded */
export const MAX_MATCH_NAME_CHARS = 4096;
/** what a cut name keeps of its end: the extension and the words before it */
const NAME_TAIL_CHARS = 40;

/** Blanks (space, TAB) at both ends removed, by index (an end-anchored regex is quadratic on long runs); CR and LF stay, to be shown. */
function trimBlanks(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === " " || value[start] === "\t")) start++;
  while (end > start && (value[end - 1] === " " || value[end - 1] === "\t")) end--;
  return value.slice(start, end);
}

/**
 * A sender's file name in its two forms: `full`, display-safe (a CR or LF
 * in it shown as <U+000D>, never dropped) and bounded, for rules and the
 * type-mismatch check; `shown`, the same cut in the middle when it is long
 * ("invoice____…____.exe"), so the extension staff must see is never the
 * part cut off.
 */
export function fileNames(raw: string): { shown: string; full: string } {
  const full = truncateChars(displaySafe(trimBlanks(raw.slice(0, MAX_MATCH_NAME_CHARS))), MAX_MATCH_NAME_CHARS);
  if (full.length <= MAX_FILENAME_CHARS) return { shown: full, full };
  let tailStart = full.length - NAME_TAIL_CHARS;
  const low = full.charCodeAt(tailStart);
  if (low >= 0xdc00 && low <= 0xdfff) tailStart += 1; // never start inside a surrogate pair
  return { shown: `${truncateChars(full, MAX_FILENAME_CHARS - 1 - (full.length - tailStart))}…${full.slice(tailStart)}`, full };
}
