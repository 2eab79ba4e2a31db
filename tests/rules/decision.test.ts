import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { noRules, parseRules } from "../../src/rules/index.ts";
import type { RuleDecision, RuleRenderOverrides } from "../../src/rules/rules-types.ts";
import { envelope, facts, THURSDAY_10_JST } from "./facts.ts";

const decide = (yaml: string, f = facts(), opts = {}): RuleDecision => parseRules(yaml, "t.yaml", opts).decide(f, envelope(), THURSDAY_10_JST);

describe("combining the actions of several matching rules", () => {
  it("keeps the strictest link mode, whatever the order (remove > defang > keep)", () => {
    for (const order of [["keep", "remove", "defang"], ["remove", "keep", "defang"], ["defang", "keep", "remove"]]) {
      const yaml = `rules:\n${order.map((m, i) => `  - name: r${i}\n    then: { links: ${m} }\n`).join("")}`;
      expect(decide(yaml).render.links).toBe("remove");
    }
    expect(decide(`rules:\n  - name: a\n    then: { links: keep }\n  - name: b\n    then: { links: defang }\n`).render.links).toBe("defang");
  });

  it("accumulates subject tags in rule order, each once", () => {
    const d = decide(`rules:
  - name: outside
    then: { subject_tag: "[外部]" }
  - name: careful
    then: { subject_tag: ["[要注意]", "[外部]"] }
`);
    expect(d.render.subjectTags).toEqual(["[外部]", "[要注意]"]);
    expect(d.rulesApplied).toEqual(["outside", "careful"]);
  });

  it("takes language and template from the first matching rule that sets them", () => {
    const d = decide(
      `rules:
  - name: english
    then: { language: en, notice_template: en.txt }
  - name: japanese
    then: { language: ja, notice_template: ja.txt }
`,
      facts(),
      { loadTemplate: (p: string) => `template ${p}` },
    );
    expect(d.render.language).toBe("en");
    expect(d.render.noticeTemplate).toBe("template en.txt");
  });

  it("holds when a rule holds, and rejection beats holding", () => {
    const hold = decide(`rules:
  - name: wave
    then: { hold: { reason: "phishing wave", notify_recipients: false } }
`);
    expect(hold).toMatchObject({ action: "hold", reason: "phishing wave", notifyRecipients: false, dsn: false });
    const reject = decide(`rules:
  - name: wave
    then: { hold: "phishing wave" }
  - name: block
    then: { reject: { reason: "blocked sender", dsn: true } }
  - name: later-hold
    then: { hold: true }
`);
    expect(reject).toMatchObject({ action: "reject", reason: "blocked sender", dsn: true, notifyRecipients: false });
    expect(reject.rulesApplied).toEqual(["wave", "block", "later-hold"]);
  });

  it("gives hold and reject a default reason naming the rule, notifies on hold and sends no DSN by default", () => {
    expect(decide(`rules:\n  - name: h\n    then: { hold: true }\n`)).toMatchObject({ action: "hold", reason: "held by rule h", notifyRecipients: true });
    expect(decide(`rules:\n  - name: r\n    then: { reject: true }\n`)).toMatchObject({ action: "reject", reason: "rejected by rule r", dsn: false });
  });

  it("stops evaluating further rules after stop", () => {
    const d = decide(`rules:
  - name: trusted-partner
    when: { mail_from: "*@partner.example.co.jp" }
    then: { inline_text: [csv], stop: true }
  - name: everyone-else
    then: { subject_tag: "[外部]", hold: true }
`);
    expect(d).toMatchObject({ action: "deliver", rulesApplied: ["trusted-partner"] });
    expect(d.render).toEqual({ subjectTags: [], inlineText: ["csv"] });
  });

  it("skips a rule with enabled: false", () => {
    expect(decide(`rules:\n  - name: off\n    enabled: false\n    then: { hold: true }\n`).action).toBe("deliver");
  });

  it("decides deliver with nothing overridden when there are no rules", () => {
    expect(noRules.version).toBe("");
    expect(noRules.decide(facts(), envelope(), THURSDAY_10_JST)).toEqual({
      action: "deliver",
      notifyRecipients: false,
      dsn: false,
      render: { subjectTags: [] },
      rulesApplied: [],
    });
    expect(decide("").rulesApplied).toEqual([]);
  });

  it("versions an engine by the SHA-256 of its text", () => {
    const engine = parseRules("rules: []\n", "t.yaml");
    expect(engine.version).toBe(createHash("sha256").update("rules: []\n").digest("hex"));
    expect(engine.version).toMatch(/^[0-9a-f]{64}$/);
    expect(parseRules("rules: []\n# changed\n", "t.yaml").version).not.toBe(engine.version);
  });
});

describe("the safety invariant holds by construction", () => {
  /** Every field a decision's render slice can carry: presentation only. */
  const PRESENTATION = ["links", "language", "noticeTemplate", "inlineText", "subjectTags"];

  it("a decision carries only presentation fields, whatever combination of actions matched", () => {
    const actions = [
      "links: keep",
      "links: defang",
      "links: remove",
      "language: en",
      "notice_template: n.txt",
      'subject_tag: "[外部]"',
      "inline_text: [txt, csv]",
      "hold: true",
      "reject: { dsn: true }",
      "stop: true",
    ];
    fc.assert(
      fc.property(fc.array(fc.subarray(actions, { minLength: 1 }), { minLength: 1, maxLength: 5 }), (rules) => {
        // one value per action key within a rule (YAML keys are unique)
        const unique = (acts: string[]) => acts.filter((a, i) => acts.findIndex((b) => b.split(":")[0] === a.split(":")[0]) === i);
        const yaml = `rules:\n${rules.map((acts, i) => `  - name: r${i}\n    then:\n${unique(acts).map((a) => `      ${a}`).join("\n")}\n`).join("")}`;
        const d = decide(yaml, facts(), { loadTemplate: () => "tmpl" });
        expect(Object.keys(d).sort()).toEqual(
          ["action", "dsn", "notifyRecipients", "render", "rulesApplied", ...(d.action === "deliver" ? [] : ["reason"])].sort(),
        );
        for (const key of Object.keys(d.render)) expect(PRESENTATION).toContain(key);
        if (d.render.inlineText) for (const ext of d.render.inlineText) expect(["txt", "csv", "tsv", "log"]).toContain(ext);
      }),
      { numRuns: 200 },
    );
  });

  it("the override type has no field that could let HTML or an attachment through", () => {
    // compile-time check (tsc runs over tests): these fields do not exist on the type
    // @ts-expect-error allowAttachments is not a presentation field
    const a: RuleRenderOverrides = { subjectTags: [], allowAttachments: true };
    // @ts-expect-error alternative (choosing the HTML body) is not something a rule may set
    const b: RuleRenderOverrides = { subjectTags: [], alternative: "html" };
    // @ts-expect-error charset is configuration, not a rule action
    const c: RuleRenderOverrides = { subjectTags: [], charset: "utf-8" };
    expect([a, b, c]).toHaveLength(3);
  });

  it.each([
    ["allow_attachments: true", /allow_attachments.*safety invariant/],
    ["keep_html: true", /keep_html.*safety invariant/],
    ["links: html", /links: "html" is not allowed/],
    ["raw_headers: true", /raw_headers.*safety invariant/],
    ["inline_text: [exe]", /"exe" is not a plain-text extension/],
    ["inline_text: [html]", /"html" is not a plain-text extension/],
    ["language: html", /language must be one of ja, en/],
  ])("a rules file trying %s is refused", (action, message) => {
    expect(() => parseRules(`rules:\n  - name: sneaky\n    then:\n      ${action}\n`, "t.yaml")).toThrow(message);
  });

  it("a rule-level key trying to switch sanitizing off is refused", () => {
    expect(() => parseRules(`rules:\n  - name: sneaky\n    bypass_sanitizer: true\n    then: { stop: true }\n`, "t.yaml")).toThrow(/safety invariant/);
  });
});
