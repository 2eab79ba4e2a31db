/**
 * The `extract_text` rule action: turns text extraction off or on (or to some
 * kinds) per sender or recipient; the first matching rule that says wins, and
 * a value that is not a kind is refused at its line.
 */
import { describe, expect, it } from "vitest";
import { parseRules, RulesError } from "../../src/rules/index.ts";
import { envelope, facts, THURSDAY_10_JST } from "../rules/facts.ts";

const RULES = `rules:
  - name: no-extraction-from-partner
    when: { mail_from: partner.example.co.jp }
    then: { extract_text: false }
  - name: only-pdf-for-kikaku
    when: { rcpt: kikaku@city.example.lg.jp }
    then: { extract_text: [pdf, .XLSX] }
  - name: everything-for-somu
    when: { rcpt: somu@city.example.lg.jp }
    then: { extract_text: true }
`;

const decide = (mailFrom: string, rcpt: string) => parseRules(RULES, "rules.yaml").decide(facts(), envelope({ mailFrom, rcptTo: [rcpt] }), THURSDAY_10_JST);

describe("the extract_text rule action", () => {
  it("turns extraction off for a sender", () => {
    expect(decide("taro@partner.example.co.jp", "somu@city.example.lg.jp").render.extractText).toEqual([]);
  });

  it("narrows it to listed kinds for a recipient (extensions accepted as kinds)", () => {
    expect(decide("a@other.example", "kikaku@city.example.lg.jp").render.extractText).toEqual(["pdf", "xlsx"]);
  });

  it("turns every kind on with true", () => {
    expect(decide("a@other.example", "somu@city.example.lg.jp").render.extractText).toEqual(["pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp"]);
  });

  it("leaves the configured default when no rule says", () => {
    expect(decide("a@other.example", "jinji@city.example.lg.jp").render.extractText).toBeUndefined();
  });

  it("refuses what is not a document kind, at its line", () => {
    try {
      parseRules(`rules:\n  - name: r\n    then:\n      extract_text: [pdf, exe]\n`, "rules.yaml");
      throw new Error("expected a refusal");
    } catch (error) {
      expect(error).toBeInstanceOf(RulesError);
      const [problem] = (error as RulesError).problems;
      expect(problem!.line).toBe(4);
      expect(problem!.message).toMatch(/extract_text: "exe"/);
    }
  });
});
