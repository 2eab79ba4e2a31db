/**
 * How the CLI shows audit data to a person: Japan-time dates, date arguments,
 * and fixed-width tables that stay aligned with Japanese text (full-width
 * characters take two columns).
 *
 * SECURITY: subjects, names and addresses come from senders. Before they reach
 * a terminal, control characters (which could move the cursor or rewrite the
 * screen) and bidi overrides (which could reverse what is shown) are made
 * visible as <U+XXXX> instead of obeyed.
 */

/** Japan Standard Time has no daylight saving time: a fixed +09:00. */
const JST_OFFSET_MS = 9 * 3600 * 1000;

export class DateArgError extends Error {
  override name = "DateArgError";
}

/**
 * Parses a --since/--until value. `YYYY-MM-DD` is a day in Japan time: its
 * start, or for an `until` bound its end (so --since D --until D is that
 * whole day). A date-time without a zone is Japan time; with Z or ±hh:mm it
 * is taken as written.
 */
export function parseDateArg(text: string, bound: "since" | "until"): Date {
  const t = text.trim();
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  if (day) {
    const start = Date.parse(`${t}T00:00:00+09:00`);
    if (!Number.isFinite(start) || new Date(start + JST_OFFSET_MS).toISOString().slice(0, 10) !== t) {
      throw new DateArgError(`--${bound} "${text}" is not a valid date`);
    }
    return new Date(bound === "until" ? start + 24 * 3600 * 1000 : start);
  }
  const m = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(t);
  if (!m) {
    throw new DateArgError(`--${bound} "${text}" is not a date: use YYYY-MM-DD (Japan time) or ISO 8601, e.g. 2026-11-26T09:30:00+09:00`);
  }
  const iso = t.replace(" ", "T") + (m[3] ? "" : "+09:00");
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new DateArgError(`--${bound} "${text}" is not a valid date`);
  return new Date(ms);
}

/** "2026-11-26 19:10:19" in Japan time. */
export function jstTime(iso: string, withMillis = false): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const s = new Date(ms + JST_OFFSET_MS).toISOString().replace("T", " ");
  return withMillis ? s.slice(0, 23) : s.slice(0, 19);
}

// C0/C1 controls, DEL, bidi embeddings/overrides/isolates, directional marks, line/paragraph separators
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\u061c]/g;

/** Sender text made safe for a terminal: unsafe characters shown as <U+XXXX>. */
export function displaySafe(text: string): string {
  return text.replace(UNSAFE, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}>`);
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
