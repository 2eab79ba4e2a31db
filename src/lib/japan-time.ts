/**
 * Japan time for people: how the CLI, the console and the rules show an
 * instant, name its day, and read a date a person typed. Japan Standard Time
 * is UTC+9 all year (no daylight saving time since 1951), so a fixed offset
 * is exact and the host's TZ never matters.
 *
 * SECURITY: `parseTimeArg` reads command-line text (an operator's, but it may
 * be pasted); it accepts only the two documented shapes, with anchored
 * regular expressions of fixed width (no backtracking). Pure functions; no
 * state.
 */
import { CliError } from "./cli-error.ts";

/** UTC+9, all year. */
export const JST_OFFSET_MS = 9 * 3600 * 1000;
const DAY_MS = 86_400_000;

/** "2026-11-26 19:53:12" (with `.123` when `withMillis`) in Japan time; "" for nothing; the input as written when it is not a date. */
export function formatJst(value: string | Date | undefined, withMillis = false): string {
  if (value === undefined || value === "") return "";
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(ms)) return String(value);
  return new Date(ms + JST_OFFSET_MS).toISOString().replace("T", " ").slice(0, withMillis ? 23 : 19);
}

/** YYYY-MM-DD of the Japan-time day containing `date`. */
export function jstDay(date: Date): string {
  return new Date(date.getTime() + JST_OFFSET_MS).toISOString().slice(0, 10);
}

/** The instant a Japan-time day (YYYY-MM-DD) starts; undefined for a malformed or nonexistent day (2026-02-30). */
export function jstDayStart(day: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const ms = Date.parse(`${day}T00:00:00+09:00`);
  // Date.parse rolls 02-30 over to 03-02: a day that does not read back is not a day
  if (!Number.isFinite(ms) || jstDay(new Date(ms)) !== day) return undefined;
  return new Date(ms);
}

/** Monday (Japan time) of the week containing `date`, as YYYY-MM-DD. */
export function jstWeekStart(date: Date): string {
  const shifted = new Date(date.getTime() + JST_OFFSET_MS);
  const dow = (shifted.getUTCDay() + 6) % 7; // Monday = 0
  return new Date(shifted.getTime() - dow * DAY_MS).toISOString().slice(0, 10);
}

/** A date option that does not parse: one line naming the option and what to write, exit code 2 (usage). */
export class DateArgError extends CliError {
  override name = "DateArgError";
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * Reads a date/time option (`--since`, `--at`, `--now`). `YYYY-MM-DD` is a
 * day in Japan time: its start, or with `edge: "end"` its end (so
 * `--since D --until D` is that whole day). A date-time without a zone is
 * Japan time; with Z or ±hh:mm it is taken as written. Anything else (words,
 * other orders) is refused rather than guessed at.
 */
export function parseTimeArg(text: string, option: string, edge: "start" | "end" = "start"): Date {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    const start = jstDayStart(t);
    if (!start) throw new DateArgError(`--${option} "${text}" is not a valid date`);
    return edge === "end" ? new Date(start.getTime() + DAY_MS) : start;
  }
  const m = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(t);
  if (!m) {
    throw new DateArgError(`--${option} "${text}" is not a date: use YYYY-MM-DD (Japan time) or ISO 8601, e.g. 2026-11-26T09:30:00+09:00`);
  }
  const ms = Date.parse(t.replace(" ", "T") + (m[3] ? "" : "+09:00"));
  if (!Number.isFinite(ms)) throw new DateArgError(`--${option} "${text}" is not a valid date`);
  return new Date(ms);
}
