/**
 * The `auth:` rule condition and the DMARC policy: operators can hold a
 * DMARC-failing look-alike of a government sender (the example rules file
 * does), match any verdict word or aligned domain, and a typo is an error
 * naming the key. The DMARC p=reject/quarantine policy holds by default and
 * only ever makes a decision stricter.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dmarcHoldReason, withDmarcPolicy } from "../../src/authenticate/auth-policy.ts";
import type { AuthVerdict } from "../../src/authenticate/auth-types.ts";
import { authenticationSchema } from "../../src/config/schema.ts";
import { loadRulesFile } from "../../src/rules/index.ts";
import { parseRules } from "../../src/rules/rules-file.ts";
import type { RuleDecision } from "../../src/rules/rules-types.ts";
import { envelope, facts, THURSDAY_10_JST } from "../rules/facts.ts";

function verdict(over: Partial<AuthVerdict> = {}): AuthVerdict {
  return {
    authservId: "mumuka.test",
    client: { address: "203.0.113.9", helo: "x", source: "xforward" },
    spf: { result: "fail", domain: "mailer.example" },
    dkim: [],
    dmarc: { result: "fail", domain: "city.example.lg.jp", policy: "none", alignedDomain: "" },
    arc: { result: "none", instance: 0 },
    ...over,
  };
}

const lookalike = facts({ from: [{ name: "総務課", address: "soumu@city.example.lg.jp" }] });

describe("the example rules file", async () => {
  const { engine } = await loadRulesFile(path.join(import.meta.dirname, "../../config/rules.example.yaml"));

  it("holds mail that claims an lg.jp sender and fails DMARC, with the reason", () => {
    const d = engine.decide(lookalike, envelope({ mailFrom: "x@mailer.example", auth: verdict() }), THURSDAY_10_JST);
    expect(d.action).toBe("hold");
    expect(d.rulesApplied).toContain("government-lookalike-dmarc-fail");
    expect(d.reason).toMatch(/DMARC/);
  });

  it("lets the same sender through when DMARC passes, and does nothing when authentication is off", () => {
    const pass = verdict({ dmarc: { result: "pass", domain: "city.example.lg.jp", policy: "none", alignedDomain: "city.example.lg.jp" } });
    expect(engine.decide(lookalike, envelope({ auth: pass }), THURSDAY_10_JST).rulesApplied).not.toContain("government-lookalike-dmarc-fail");
    expect(engine.decide(lookalike, envelope(), THURSDAY_10_JST).rulesApplied).not.toContain("government-lookalike-dmarc-fail");
  });
});

describe("auth: conditions", () => {
  const rules = (when: string) =>
    parseRules(`rules:\n  - name: r\n    when:\n${when}\n    then:\n      subject_tag: "[x]"\n`, "rules.yaml");
  const matches = (when: string, auth?: AuthVerdict) => rules(when).decide(facts(), envelope(auth ? { auth } : {}), THURSDAY_10_JST).rulesApplied.length === 1;

  it("match every result word of each method, one or a list", () => {
    const v = verdict({
      spf: { result: "softfail", domain: "a.example" },
      dkim: [
        { result: "fail", domain: "a.example", selector: "s", b: "", aligned: true },
        { result: "pass", domain: "esp.example", selector: "s", b: "", aligned: false },
      ],
      arc: { result: "pass", instance: 1 },
    });
    expect(matches("      auth: { spf: softfail }", v)).toBe(true);
    expect(matches("      auth: { spf: [fail, softfail] }", v)).toBe(true);
    expect(matches("      auth: { spf: pass }", v)).toBe(false);
    // dkim: the message's overall word (any signature passing is a pass)
    expect(matches("      auth: { dkim: pass }", v)).toBe(true);
    expect(matches("      auth: { arc: pass, dmarc: fail }", v)).toBe(true);
    expect(matches("      auth: { arc: pass, dmarc: pass }", v)).toBe(false);
  });

  it("match the From domain and the aligned domain by glob", () => {
    const v = verdict({ dmarc: { result: "pass", domain: "mail.partner.example.co.jp", policy: "reject", alignedDomain: "partner.example.co.jp" } });
    expect(matches('      auth: { aligned: "partner.example.co.jp" }', v)).toBe(true);
    expect(matches('      auth: { from_domain: "*.example.co.jp" }', v)).toBe(true);
    expect(matches('      auth: { aligned: "*.lg.jp" }', v)).toBe(false);
    expect(matches('      auth: { aligned: "*" }', verdict())).toBe(false);
  });

  it("never match without a verdict", () => {
    expect(matches("      auth: { dmarc: [pass, fail, none, temperror, permerror] }")).toBe(false);
  });

  it("refuse a word that is not a result, and an unknown key, naming them", () => {
    expect(() => rules("      auth: { dmarc: failed }")).toThrow(/auth\.dmarc: "failed" is not a result/);
    expect(() => rules("      auth: { dmrac: fail }")).toThrow(/unknown key "dmrac" in auth.*did you mean "dmarc"/);
  });
});

describe("the DMARC policy of the sender domain", () => {
  const deliver: RuleDecision = { action: "deliver", notifyRecipients: false, dsn: false, render: { subjectTags: [] }, rulesApplied: [] };
  const defaults = authenticationSchema.parse({});

  it("holds a DMARC failure under p=reject and p=quarantine by default, with the reason", () => {
    for (const policy of ["reject", "quarantine"] as const) {
      const reason = dmarcHoldReason(verdict({ dmarc: { result: "fail", domain: "bank.example", policy, alignedDomain: "" } }), defaults);
      expect(reason).toBe(`DMARC fail (p=${policy}) for header.from=bank.example`);
      expect(withDmarcPolicy(deliver, reason)).toMatchObject({ action: "hold", reason });
    }
  });

  it("does nothing under p=none, on a pass, on temperror, or when the operator chose deliver", () => {
    expect(dmarcHoldReason(verdict({ dmarc: { result: "fail", domain: "a.example", policy: "none", alignedDomain: "" } }), defaults)).toBeUndefined();
    expect(dmarcHoldReason(verdict({ dmarc: { result: "pass", domain: "a.example", policy: "reject", alignedDomain: "a.example" } }), defaults)).toBeUndefined();
    expect(dmarcHoldReason(verdict({ dmarc: { result: "temperror", domain: "a.example", policy: "reject", alignedDomain: "" } }), defaults)).toBeUndefined();
    const deliverAll = authenticationSchema.parse({ dmarcReject: "deliver", dmarcQuarantine: "deliver" });
    expect(dmarcHoldReason(verdict({ dmarc: { result: "fail", domain: "a.example", policy: "reject", alignedDomain: "" } }), deliverAll)).toBeUndefined();
  });

  it("never softens a rule's decision", () => {
    const reject: RuleDecision = { ...deliver, action: "reject", reason: "rule says no", rulesApplied: ["r"] };
    expect(withDmarcPolicy(reject, "DMARC fail (p=reject) for header.from=x")).toBe(reject);
  });
});
