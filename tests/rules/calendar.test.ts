import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseRules, RulesError } from "../../src/rules/index.ts";
import { HOLIDAY_DATA_RANGE, holidayName } from "../../src/rules/rules-calendar.ts";
import { holidayDataWarning } from "../../src/rules/rules-command.ts";
import { runCli } from "../helpers/run-cli.ts";
import { envelope, facts } from "./facts.ts";

/** 10:00 Japan time on a Japan-time day YYYY-MM-DD */
const at10 = (day: string) => new Date(`${day}T10:00:00+09:00`);

/** Does `day: VALUE` match at 10:00 JST on `day`, with an optional calendar: section? */
function dayMatches(value: string, day: string | Date, calendar = ""): boolean {
  const engine = parseRules(`${calendar}rules:\n  - name: r\n    when: { day: ${value} }\n    then: { subject_tag: "[hit]" }\n`, "t.yaml");
  return engine.decide(facts(), envelope(), typeof day === "string" ? at10(day) : day).rulesApplied.includes("r");
}

function problems(yaml: string): string[] {
  try {
    parseRules(yaml, "rules.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(RulesError);
    return (error as RulesError).problems.map((p) => `${p.line}:${p.column}: ${p.message}`);
  }
  throw new Error("expected the rules to be refused");
}

describe("public holidays (祝日) from the holiday data", () => {
  it("knows the ordinary holidays of 2026 and 2027", () => {
    for (const d of ["2026-01-01", "2026-01-12", "2026-05-05", "2026-11-23", "2027-03-22", "2027-09-23"]) expect(dayMatches("祝日", d), d).toBe(true);
    for (const d of ["2026-01-13", "2026-11-26", "2027-03-23"]) expect(dayMatches("holiday", d), d).toBe(false);
  });

  it("counts a substitute holiday (振替休日): Wednesday 2026-05-06, after 憲法記念日 fell on a Sunday", () => {
    expect(holidayName("2026-05-06")).toMatch(/振替休日/);
    expect(dayMatches("holiday", "2026-05-06")).toBe(true);
    expect(dayMatches("wed", "2026-05-06")).toBe(true);
    expect(dayMatches("開庁日", "2026-05-06")).toBe(false);
    expect(dayMatches("開庁日", "2026-05-07")).toBe(true);
  });

  it("counts a citizens' holiday (国民の休日): Tuesday 2026-09-22, between 敬老の日 and 秋分の日", () => {
    expect(holidayName("2026-09-22")).toBe("国民の休日");
    expect(dayMatches("祝日", "2026-09-22")).toBe(true);
    expect(dayMatches("閉庁日", "2026-09-22")).toBe(true);
    expect(dayMatches("閉庁日", "2026-09-24")).toBe(false);
  });

  it("decides the day in Japan time, not UTC: 2026-05-06 00:30 JST is still 2026-05-05 in UTC", () => {
    const justAfterMidnight = new Date("2026-05-05T15:30:00Z");
    expect(dayMatches("holiday", justAfterMidnight)).toBe(true);
    // 2026-05-07 00:30 JST (a Thursday, not a holiday) is 2026-05-06 in UTC, a holiday
    expect(dayMatches("holiday", new Date("2026-05-06T15:30:00Z"))).toBe(false);
  });

  it("keeps weekdays meaning Monday to Friday, holiday or not", () => {
    expect(dayMatches("weekdays", "2026-05-06")).toBe(true);
    expect(dayMatches("[weekdays, holiday]", "2026-05-06")).toBe(true);
  });
});

describe("the year-end closure (年末年始) and the office calendar", () => {
  it("closes 12-29 … 01-03 by default, across the new year", () => {
    for (const d of ["2026-12-29", "2026-12-31", "2027-01-02", "2027-01-03"]) expect(dayMatches("年末年始", d), d).toBe(true);
    for (const d of ["2026-12-28", "2027-01-04"]) expect(dayMatches("year_end", d), d).toBe(false);
    // Monday 2026-12-28 is an open day, Tuesday 2026-12-29 is not
    expect(dayMatches("open", "2026-12-28")).toBe(true);
    expect(dayMatches("open", "2026-12-29")).toBe(false);
    expect(dayMatches("closed", "2026-12-29")).toBe(true);
  });

  it("reads the closure dates and extra closure days from the rules file's calendar: section", () => {
    const cal = `calendar:\n  year_end: { from: "12-28", to: "01-04" }\n  closed: ["2026-08-14"]\n`;
    expect(dayMatches("closure", "2026-12-28", cal)).toBe(true);
    expect(dayMatches("closure", "2027-01-04", cal)).toBe(true);
    expect(dayMatches("closure", "2027-01-05", cal)).toBe(false);
    expect(dayMatches("閉庁日", "2026-08-14", cal)).toBe(true);
    expect(dayMatches("閉庁日", "2026-08-14")).toBe(false);
  });

  it("has no year-end closure with year_end: false", () => {
    expect(dayMatches("closure", "2026-12-30", "calendar:\n  year_end: false\n")).toBe(false);
    // but 2027-01-01 is still 元日
    expect(dayMatches("closed", "2027-01-01", "calendar:\n  year_end: false\n")).toBe(true);
  });

  it("shows what the day is in rules test's trace", () => {
    const engine = parseRules(`rules:\n  - name: r\n    when: { day: 閉庁日 }\n    then: { subject_tag: "[x]" }\n`, "t.yaml");
    const { trace } = engine.explain(facts(), envelope(), at10("2026-05-06"));
    expect(trace[0]?.condition?.observed).toBe("wed 2026-05-06 (こどもの日 振替休日, Japan time)");
  });

  it("refuses bad calendar entries with file:line", () => {
    expect(problems(`calendar:\n  year_end: { from: "12-32", to: "01-03" }\nrules:\n`)).toEqual([expect.stringMatching(/^2:\d+: "12-32" is not a month and day/)]);
    expect(problems(`calendar:\n  closed: ["2026-02-30"]\nrules:\n`)).toEqual([expect.stringMatching(/^2:\d+: "2026-02-30" is not a date/)]);
    expect(problems(`calendar:\n  year_end: { from: "12-29" }\nrules:\n`)).toEqual([expect.stringMatching(/^2:\d+: year_end needs from: and to:/)]);
    expect(problems(`calendar:\n  holidays: ["2026-01-01"]\nrules:\n`)).toEqual([expect.stringMatching(/^2:3: unknown key "holidays" in calendar/)]);
    expect(problems(`rules:\n  - name: r\n    when: { day: 祭日 }\n    then: { subject_tag: "[x]" }\n`)).toEqual([expect.stringMatching(/is not a day .*holiday\/祝日/)]);
  });
});

describe("rules check warns when the holiday data does not cover the current year", () => {
  it("says nothing for a covered year and warns, in Japanese and English, for one past the data", () => {
    expect(holidayDataWarning(at10("2026-12-06"))).toBeUndefined();
    const past = HOLIDAY_DATA_RANGE.last + 1;
    const w = holidayDataWarning(at10(`${past}-01-01`));
    expect(w).toContain(`${past} 年を含みません`);
    expect(w).toContain(`not ${past}`);
  });

  it("prints the warning on stderr and still accepts the file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "mumuka-cal-"));
    try {
      const file = path.join(dir, "rules.yaml");
      writeFileSync(file, `rules:\n  - name: r\n    when: { day: 閉庁日 }\n    then: { subject_tag: "[x]" }\n`);
      const late = await runCli(["rules", "check", file, "--at", `${HOLIDAY_DATA_RANGE.last + 1}-06-01`], { stdin: "", env: { NO_COLOR: "1" } });
      expect(late.code).toBe(0);
      expect(late.stdout).toMatch(/OK — 1 rule/);
      expect(late.stderr).toMatch(/warning: the holiday data .* covers 1970–2050/);
      const now = await runCli(["rules", "check", file, "--at", "2026-12-06"], { stdin: "", env: { NO_COLOR: "1" } });
      expect(now.stderr).not.toMatch(/warning/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
