/**
 * The character budget of one document, shared by the extractors: text is
 * taken until the budget is spent, then the parse is stopped (StopParsing)
 * and the result says it was cut. Also the one place extracted text is made
 * display-safe (the body's rules: controls and bidi characters shown as
 * <U+XXXX>, TAB and LF kept), so counts match what staff see.
 *
 * Pure; no state beyond one document.
 */
import { bodySafe, truncateChars } from "../sanitize/display-safe.ts";
import { StopParsing } from "./xml.ts";

export class TextBudget {
  private left: number;
  truncated = false;
  constructor(maxChars: number) {
    this.left = maxChars;
  }
  get spent(): boolean {
    return this.left <= 0;
  }
  /** the part of `text` that fits; marks the document truncated and stops the parse when it does not all fit */
  take(text: string): string {
    if (text.length <= this.left) {
      this.left -= text.length;
      return text;
    }
    const cut = truncateChars(text, Math.max(0, this.left));
    this.left = 0;
    this.truncated = true;
    return cut;
  }
  /** throws StopParsing once nothing more can be shown */
  check(): void {
    if (this.left <= 0) {
      this.truncated = true;
      throw new StopParsing();
    }
  }
}

/** Extracted text as shown: display-safe, no run of blank lines, no trailing spaces on lines. */
export function cleanText(text: string): string {
  // trailing blanks per line by index: /[ \u3000]+$/gm restarts at every blank of a run and is quadratic on a long one
  return bodySafe(text)
    .split("\n")
    .map(trimBlanksEnd)
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function trimBlanksEnd(line: string): string {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\u3000")) end--;
  return line.slice(0, end);
}

/**
 * A table cell or sheet name: one line (TAB and line breaks would break the rows), and
 * display-safe on its own, because a sheet name goes into our section marker without passing
 * through cleanText (controls and bidi overrides made visible, converter sentinels removed, so
 * a name cannot forge one of mumuka's own lines).
 */
export function cellText(text: string): string {
  return bodySafe(text.replace(/[\t\r\n]+/g, " ")).trim();
}
