import { describe, expect, it } from "vitest";
import path from "node:path";
import { loadRulesFile } from "../../src/rules/index.ts";
import { attachment, envelope, facts, THURSDAY_10_JST } from "./facts.ts";

const EXAMPLE = path.join(import.meta.dirname, "../../config/rules.example.yaml");

describe("config/rules.example.yaml handles the issue's cases", async () => {
  const { engine } = await loadRulesFile(EXAMPLE);
  const decide = (f = facts(), e = envelope()) => engine.decide(f, e, THURSDAY_10_JST);

  it("is valid", () => {
    expect(engine.rules.length).toBeGreaterThanOrEqual(6);
  });

  it("inlines a partner's CSV report as text and tags it as outside mail", () => {
    const d = decide(facts({ attachments: [attachment({ filename: "2026-11.csv" })] }));
    expect(d.rulesApplied).toEqual(["partner-csv-as-text", "tag-outside"]);
    expect(d.render).toMatchObject({ inlineText: ["csv", "txt"], subjectTags: ["[外部]"] });
  });

  it("flags mail claiming the city's domain but coming from outside", () => {
    const spoof = facts({ from: [{ name: "市役所", address: "soumu@city.example.lg.jp" }] });
    const d = decide(spoof, envelope({ mailFrom: "bounce@mailer.example.com", clientAddress: "203.0.113.9" }));
    expect(d.rulesApplied).toContain("own-domain-from-outside");
    expect(d.render).toMatchObject({ subjectTags: ["[要注意]"], links: "remove" });
    // the same From coming from the city's own servers is not flagged
    const internal = decide(spoof, envelope({ mailFrom: "soumu@city.example.lg.jp", clientAddress: "192.0.2.10" }));
    expect(internal.rulesApplied).toEqual([]);
  });

  it("holds the phishing wave and notifies the recipients", () => {
    const d = decide(facts(), envelope({ mailFrom: "billing@invoice-notice.example.net" }));
    expect(d).toMatchObject({ action: "hold", notifyRecipients: true, reason: expect.stringMatching(/phishing/) });
    const byHeader = decide(facts({ from: [{ name: "", address: "no-reply@invoice-notice.example.net" }], subject: "【至急】請求書の送付" }), envelope({ mailFrom: "x@relay.example" }));
    expect(byHeader.action).toBe("hold");
  });

  it("gives the international department English notices", () => {
    expect(decide(facts(), envelope({ rcptTo: ["staff@kokusai.city.example.lg.jp"] })).render.language).toBe("en");
    expect(decide().render.language).toBeUndefined();
  });

  it("tags outside mail with [外部] and leaves LGWAN mail alone", () => {
    expect(decide(facts({ from: [{ name: "", address: "a@example.com" }] }), envelope({ mailFrom: "a@example.com" })).render.subjectTags).toEqual(["[外部]"]);
    const lgwan = decide(facts({ from: [{ name: "", address: "a@pref.example.lg.jp" }] }), envelope({ mailFrom: "a@pref.example.lg.jp" }));
    expect(lgwan.render.subjectTags).toEqual([]);
  });

  it("keeps the disabled night-executables rule out of force", () => {
    const exe = facts({ attachments: [attachment({ filename: "a.exe", sniffedType: "application/x-dosexec" })] });
    expect(decide(exe, envelope()).action).toBe("deliver");
    expect(engine.rules.map((r) => r.name)).not.toContain("night-executables");
  });
});
