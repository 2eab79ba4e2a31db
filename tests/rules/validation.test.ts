import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import path from "node:path";
import { parseRules, RulesError } from "../../src/rules/index.ts";
import { globMatch, fold, MAX_MATCH_CHARS } from "../../src/rules/rules-match.ts";
import { envelope, facts, THURSDAY_10_JST } from "./facts.ts";

function problems(yaml: string, options = {}): { line: number; column: number; message: string }[] {
  try {
    parseRules(yaml, "rules.yaml", options);
  } catch (error) {
    expect(error).toBeInstanceOf(RulesError);
    return (error as RulesError).problems.map(({ line, column, message }) => ({ line, column, message }));
  }
  throw new Error("expected the rules to be refused");
}

describe("validation names the file, line and column of every problem", () => {
  it("reports a YAML syntax error at its line", () => {
    const p = problems(`rules:\n  - name: a\n    then: { subject_tag: "[x]" \n  - name: b\n`);
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]!.message).toMatch(/^YAML: /);
    expect(p[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it("reports an unknown key with a suggestion, at the key", () => {
    const p = problems(`# comment
rules:
  - name: outside
    when:
      mail_frm: "*@example.jp"
    then:
      subject_tag: "[外部]"
`);
    expect(p).toEqual([{ line: 5, column: 7, message: expect.stringMatching(/unknown key "mail_frm".*did you mean "mail_from"/) }]);
  });

  it("reports an unknown action with the list of actions", () => {
    const p = problems(`rules:\n  - name: a\n    then:\n      quarantine: true\n`);
    expect(p).toEqual([{ line: 4, column: 7, message: expect.stringMatching(/unknown key "quarantine" in then.*allowed: links, language/) }]);
  });

  it("reports a bad address pattern and a bad network at the offending list item", () => {
    const p = problems(`rules:
  - name: a
    when:
      any:
        - mail_from: ["ok@example.jp", "bad @example.jp"]
        - client_ip:
            - 192.0.2.0/24
            - 192.0.2.0/40
            - not-an-ip
    then: { hold: true }
`);
    expect(p).toEqual([
      { line: 5, column: 40, message: expect.stringMatching(/bad address pattern: "bad @example.jp"/) },
      { line: 8, column: 15, message: expect.stringMatching(/bad network: .*prefix length must be 0–32/) },
      { line: 9, column: 15, message: expect.stringMatching(/bad network: "not-an-ip"/) },
    ]);
  });

  it("reports every problem of the file at once, in line order", () => {
    const p = problems(`rules:
  - name: a
    when: { day: someday }
    then: { links: sometimes }
  - name: a
    when: { time: "25:00-26:00", size_over: lots }
    then: { hold: { reason: "x", notify: true } }
  - when: { has_html: yes please }
`);
    expect(p.map((x) => x.line)).toEqual([3, 4, 5, 6, 6, 7, 8, 8, 8]);
    expect(p.map((x) => x.message).join("\n")).toMatch(/"someday" is not a day/);
    expect(p.map((x) => x.message).join("\n")).toMatch(/links must be one of keep, defang, remove/);
    expect(p.map((x) => x.message).join("\n")).toMatch(/rule name "a" is already used on line 2/);
    expect(p.map((x) => x.message).join("\n")).toMatch(/rule #3 has no name/);
  });

  it("explains keys written at the wrong level", () => {
    expect(problems(`rules:\n  - name: a\n    subject_tag: "[x]"\n    then: { stop: true }\n`)[0]!.message).toMatch(/"subject_tag" belongs under then:/);
    expect(problems(`name: a\nthen: { stop: true }\n`)[0]!.message).toMatch(/belongs to a rule/);
  });

  it("refuses rule names that could not be shown in a header", () => {
    expect(problems(`rules:\n  - name: "外部 タグ"\n    then: { stop: true }\n`)[0]).toMatchObject({ line: 2, message: expect.stringMatching(/ASCII letters/) });
  });

  it("refuses a subject tag on several lines or too long", () => {
    expect(problems(`rules:\n  - name: a\n    then: { subject_tag: "a\\nb" }\n`)[0]!.message).toMatch(/one line/);
    expect(problems(`rules:\n  - name: a\n    then: { subject_tag: "${"x".repeat(41)}" }\n`)[0]!.message).toMatch(/longer than 40/);
  });

  it("reports a notice template that cannot be read, at its line", () => {
    const loadTemplate = () => {
      throw Object.assign(new Error("no such file"), { code: "ENOENT" });
    };
    expect(problems(`rules:\n  - name: a\n    then:\n      notice_template: notices/missing.txt\n`, { loadTemplate })).toEqual([
      { line: 4, column: 24, message: 'notice_template "notices/missing.txt" cannot be read: ENOENT' },
    ]);
  });

  it("reports a notice template that the core could not render, at its line", () => {
    const loadTemplate = () => "{{#attachments}}\n- {{name}}\n";
    expect(problems(`rules:\n  - name: a\n    then:\n      notice_template: broken.txt\n`, { loadTemplate })).toEqual([
      { line: 4, column: 24, message: expect.stringMatching(/notice_template "broken.txt" is not a valid template: unclosed/) },
    ]);
  });

  it("accepts the shipped notice templates", () => {
    for (const name of ["ja", "en"]) {
      const text = readFileSync(path.join(import.meta.dirname, `../../config/notice/${name}.txt`), "utf8");
      const engine = parseRules(`rules:\n  - name: t\n    then: { notice_template: ${name}.txt }\n`, "r.yaml", { loadTemplate: () => text });
      expect(engine.decide(facts(), envelope(), THURSDAY_10_JST).render.noticeTemplate).toBe(text);
    }
  });

  it("refuses YAML aliases", () => {
    expect(problems(`rules:\n  - name: a\n    when: &c { has_html: true }\n    then: { stop: true }\n  - name: b\n    when: *c\n    then: { stop: true }\n`)[0]).toMatchObject({ line: 6, message: expect.stringMatching(/aliases/) });
  });

  it("formats the error message as file:line:column: message, one per line", () => {
    try {
      parseRules(`rules:\n  - name: a\n    then: { hold: maybe: }\n`, "/etc/mumuka/rules.yaml");
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/^\/etc\/mumuka\/rules\.yaml:3:\d+: /);
    }
  });
});

describe("patterns are safe against catastrophic backtracking", () => {
  it("refuses regular expressions, naming the reason and the alternatives", () => {
    const p = problems(`rules:\n  - name: a\n    when:\n      subject: { regex: "(a+)+$" }\n    then: { hold: true }\n`);
    expect(p[0]).toMatchObject({ line: 4, message: expect.stringMatching(/regular expressions are not accepted.*contains: or glob:/) });
  });

  it("a pathological glob against a crafted subject gives the right answer (and returns)", () => {
    // the ReDoS classic (a+)+$ rewritten as a glob: many stars against a long run of 'a' without the final 'b'
    const pattern = `*${"a*".repeat(30)}b`;
    const subject = `${"a".repeat(100_000)}c`;
    const engine = parseRules(`rules:\n  - name: redos\n    when:\n      subject: { glob: "${pattern}" }\n    then: { hold: true }\n`, "t.yaml");
    expect(engine.decide(facts({ subject }), envelope(), THURSDAY_10_JST).action).toBe("deliver");
    expect(engine.decide(facts({ subject: `${"a".repeat(40)}b` }), envelope(), THURSDAY_10_JST).action).toBe("hold");
  });

  it("matches only the first MAX_MATCH_CHARS characters of a sender-controlled string", () => {
    expect(fold("x".repeat(MAX_MATCH_CHARS + 10) + "needle")).toHaveLength(MAX_MATCH_CHARS);
    const engine = parseRules(`rules:\n  - name: far\n    when: { subject: needle }\n    then: { hold: true }\n`, "t.yaml");
    expect(engine.decide(facts({ subject: `${"x".repeat(MAX_MATCH_CHARS)}needle` }), envelope(), THURSDAY_10_JST).action).toBe("deliver");
  });

  it("the glob matcher agrees with a reference regular expression on random small inputs", () => {
    const reference = (pattern: string, text: string) =>
      new RegExp(`^${[...pattern].map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&"))).join("")}$`, "su").test(text);
    fc.assert(
      fc.property(fc.stringMatching(/^[ab*?.]{0,8}$/), fc.stringMatching(/^[ab.]{0,10}$/), (pattern, text) => {
        expect(globMatch(pattern, text)).toBe(reference(pattern, text));
      }),
      { numRuns: 2000 },
    );
  });

  it("glob semantics: * spans any run, ? one character, literal otherwise", () => {
    expect(globMatch("a*b?d", "axxxbcd")).toBe(true);
    expect(globMatch("a*b?d", "axxxbd")).toBe(false);
    expect(globMatch("*", "")).toBe(true);
    expect(globMatch("a.b", "axb")).toBe(false);
    expect(globMatch("[x]", "[x]")).toBe(true);
    expect(globMatch("*請求*", "ご請求書")).toBe(true);
  });
});
