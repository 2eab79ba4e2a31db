/**
 * The Japanese office calendar rule `day:` conditions understand: public
 * holidays (祝日, including 振替休日 and 国民の休日) and the municipal
 * year-end/new-year closure (年末年始, 12-29 … 01-03 unless the rules file says
 * otherwise), plus extra closure days a municipality declares.
 *
 * The holidays come from @holiday-jp/holiday_jp (the holiday_jp project's
 * data, kept in step with the Cabinet Office's 「国民の祝日について」 and
 * generated for 1970–2050), not from a hand-typed table: the law changes
 * (2019–2021 moved holidays three times) and a table typed once goes stale
 * silently. The package's own lookup scans every key on each call, so the
 * data is indexed once here into a Map.
 *
 * Equinox days beyond the next year are astronomical estimates until the
 * National Astronomical Observatory announces them each February; the
 * package is updated then. `mumuka rules check` warns when the data does not
 * cover the current year at all (holidayDataCovers).
 *
 * SECURITY: no sender input; dates come from the gateway's clock (the time of
 * arrival). Operator input (closure dates) is validated in rules-file.ts with
 * parseMonthDay/parseDate below. Pure; no I/O after the module is loaded.
 */
import holidayJp from "@holiday-jp/holiday_jp";
import { jstDay, JST_OFFSET_MS } from "../lib/japan-time.ts";

/** YYYY-MM-DD → holiday name (Japanese), e.g. "振替休日". */
const HOLIDAYS: ReadonlyMap<string, string> = new Map(
  // the data names a 国民の休日 (a day between two holidays) just "休日"; say which kind it is
  Object.values(holidayJp.holidays as Record<string, { date: string; name: string }>).map((h) => [h.date, h.name === "休日" ? "国民の休日" : h.name]),
);

const YEARS = [...HOLIDAYS.keys()].map((d) => Number(d.slice(0, 4)));
/** first and last year the holiday data covers */
export const HOLIDAY_DATA_RANGE: { readonly first: number; readonly last: number } = Object.freeze({ first: Math.min(...YEARS), last: Math.max(...YEARS) });
/** version of the holiday data package, for `rules check` */
export const HOLIDAY_DATA_VERSION: string = String(holidayJp.VERSION);

/** Does the holiday data cover the whole of `year`? */
export function holidayDataCovers(year: number): boolean {
  return year >= HOLIDAY_DATA_RANGE.first && year <= HOLIDAY_DATA_RANGE.last;
}

/** The holiday's name (祝日名) on a Japan-time day YYYY-MM-DD, or undefined. */
export function holidayName(date: string): string | undefined {
  return HOLIDAYS.get(date);
}

/** "MM-DD" as a number MMDD, for comparing within a year. */
export type MonthDay = number;

/** The closure settings of a rules file (its `calendar:` section). */
export interface OfficeCalendar {
  /** the year-end/new-year closure, inclusive, wrapping the new year when from > to; undefined: none */
  yearEnd?: { from: MonthDay; to: MonthDay };
  /** other closure days (YYYY-MM-DD), e.g. a city's own anniversary */
  closed: ReadonlySet<string>;
}

/** 12-29 … 01-03: the closure of national and most municipal offices (行政機関の休日に関する法律 第1条). */
export const DEFAULT_CALENDAR: OfficeCalendar = Object.freeze({ yearEnd: { from: 1229, to: 103 }, closed: new Set<string>() });

/** "12-29" → 1229; or why not. */
export function parseMonthDay(value: string): MonthDay | string {
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(value.trim());
  const month = m ? Number(m[1]) : 0;
  const day = m ? Number(m[2]) : 0;
  const days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (!m || days === undefined || day < 1 || day > days) return `"${value}" is not a month and day (write MM-DD, e.g. 12-29)`;
  return month * 100 + day;
}

/** "2026-08-14" → itself when it is a real day; or why not. */
export function parseDate(value: string): string | { problem: string } {
  const v = value.trim();
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== v) return { problem: `"${value}" is not a date (write YYYY-MM-DD, e.g. 2026-08-14)` };
  return v;
}

/** What a Japan-time day is, for `day:` conditions. */
export interface DayFacts {
  /** YYYY-MM-DD in Japan time */
  date: string;
  /** 0 = Sunday */
  weekday: number;
  /** the holiday's name, when it is a public holiday */
  holiday?: string;
  /** within the year-end closure or a declared closure day */
  closure: boolean;
}

export function dayFacts(now: Date, calendar: OfficeCalendar): DayFacts {
  const t = new Date(now.getTime() + JST_OFFSET_MS);
  const date = t.toISOString().slice(0, 10);
  const md = (t.getUTCMonth() + 1) * 100 + t.getUTCDate();
  const y = calendar.yearEnd;
  const inYearEnd = y !== undefined && (y.from <= y.to ? md >= y.from && md <= y.to : md >= y.from || md <= y.to);
  const facts: DayFacts = { date, weekday: t.getUTCDay(), closure: inYearEnd || calendar.closed.has(date) };
  const holiday = HOLIDAYS.get(date);
  if (holiday !== undefined) facts.holiday = holiday;
  return facts;
}

/** 閉庁日: Saturday, Sunday, a public holiday or a closure day. */
export function isClosedDay(d: DayFacts): boolean {
  return d.weekday === 0 || d.weekday === 6 || d.holiday !== undefined || d.closure;
}

/**
 * A warning when the holiday data (@holiday-jp/holiday_jp) does not cover the
 * year of `now` in Japan time: `day: holiday` / `closed` / `open` would then
 * see no public holidays at all. Update the package (npm update).
 */
export function holidayDataWarning(now: Date): string | undefined {
  const year = Number(jstDay(now).slice(0, 4));
  if (holidayDataCovers(year)) return undefined;
  const { first, last } = HOLIDAY_DATA_RANGE;
  return (
    `警告: 祝日データ (@holiday-jp/holiday_jp ${HOLIDAY_DATA_VERSION}) は ${first}〜${last} 年のもので、${year} 年を含みません。` +
    `day: 祝日 / 閉庁日 / 開庁日 の条件は ${year} 年の祝日を知りません。パッケージを更新してください (npm update @holiday-jp/holiday_jp)。\n` +
    `warning: the holiday data (@holiday-jp/holiday_jp ${HOLIDAY_DATA_VERSION}) covers ${first}–${last}, not ${year}: ` +
    `day: holiday / closed / open conditions see no public holidays in ${year}. Update the package (npm update @holiday-jp/holiday_jp).`
  );
}
