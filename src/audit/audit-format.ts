/**
 * How the CLI shows audit data to a person: fixed-width tables that stay
 * aligned with Japanese text (full-width characters take two columns).
 *
 * SECURITY: subjects, names and addresses come from senders. Before they reach
 * a terminal, control characters (which could move the cursor or rewrite the
 * screen) and bidi overrides (which could reverse what is shown) are made
 * visible as <U+XXXX> instead of obeyed (src/lib/display-safe.ts), cell by cell.
 */
import { displaySafe } from "../lib/display-safe.ts";
import { decodeWords } from "../sanitize/header-decode.ts";

/**
 * A header value as staff read it: a received event keeps the Subject and
 * From as on the wire (=?UTF-8?B?…?=) and, since the writer decodes them, the
 * decoded text beside them; older events have only the raw form, decoded here.
 * Undecodable words are shown as written. Still untrusted: cells go through
 * displaySafe().
 */
export function readableHeader(raw: unknown, decoded?: unknown): string {
  if (typeof decoded === "string") return decoded;
  if (typeof raw !== "string") return "";
  try {
    return decodeWords(raw);
  } catch {
    return raw;
  }
}

/** Terminal columns of one code point: 2 for East Asian wide/full-width, 0 for combining marks. */
function charWidth(cp: number): number {
  if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200d) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** Cuts to at most `width` columns (with … when cut) and pads with spaces to exactly `width`. */
export function fitWidth(text: string, width: number): string {
  let out = "";
  let w = 0;
  const full = displayWidth(text);
  const room = full > width ? width - 1 : width;
  for (const ch of text) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > room) break;
    out += ch;
    w += cw;
  }
  if (full > width) {
    out += "…";
    w += 1;
  }
  return out + " ".repeat(Math.max(0, width - w));
}

export interface Column<T> {
  title: string;
  width: number;
  value: (row: T) => string;
}

/** A table: header line, rule, one line per row; the last column is not padded. */
export function formatTable<T>(columns: Column<T>[], rows: readonly T[]): string {
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : fitWidth(c, columns[i]!.width)))
      .join("  ")
      .trimEnd();
  const out = [line(columns.map((c) => c.title)), line(columns.map((c) => "-".repeat(c.width)))];
  for (const row of rows) out.push(line(columns.map((c) => displaySafe(c.value(row)))));
  return `${out.join("\n")}\n`;
}
