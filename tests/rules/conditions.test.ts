import { describe, expect, it } from "vitest";
import { parseRules } from "../../src/rules/index.ts";
import { attachment, envelope, facts, THURSDAY_10_JST } from "./facts.ts";
import type { MessageFacts } from "../../src/sanitize/sanitize-types.ts";
import type { Envelope } from "../../src/rules/rules-types.ts";

/** One rule with the given condition (YAML under when:), tagging "[hit]". */
function matches(when: string, f: MessageFacts = facts(), e: Envelope = envelope(), now = THURSDAY_10_JST): boolean {
  const indented = when
    .trim()
    .split("\n")
    .map((l) => `      ${l}`)
    .join("\n");
  const engine = parseRules(`rules:\n  - name: r\n    when:\n${indented}\n    then:\n      subject_tag: "[hit]"\n`, "t.yaml");
  return engine.decide(f, e, now).rulesApplied.includes("r");
}

describe("address conditions", () => {
  it("matches the envelope sender by exact address, case-insensitively", () => {
    expect(matches(`mail_from: Taro@Partner.Example.co.jp`)).toBe(true);
    expect(matches(`mail_from: hanako@partner.example.co.jp`)).toBe(false);
  });

  it("matches a bare domain exactly and *.domain only for subdomains", () => {
    expect(matches(`mail_from: partner.example.co.jp`)).toBe(true);
    expect(matches(`mail_from: example.co.jp`)).toBe(false);
    expect(matches(`mail_from: "*.example.co.jp"`)).toBe(true);
    expect(matches(`mail_from: "*.partner.example.co.jp"`)).toBe(false);
  });

  it("matches wildcard address patterns like *@*.example.jp and @domain", () => {
    expect(matches(`mail_from: "*@*.example.co.jp"`)).toBe(true);
    expect(matches(`mail_from: "@partner.example.co.jp"`)).toBe(true);
    expect(matches(`mail_from: "tar?@partner.example.co.jp"`)).toBe(true);
    expect(matches(`mail_from: "*@*.example.jp"`)).toBe(false);
  });

  it("matches full-width letters in an address the same as ASCII (NFKC)", () => {
    expect(matches(`mail_from: taro@partner.example.co.jp`, facts(), envelope({ mailFrom: "ｔａｒｏ@partner.example.co.jp" }))).toBe(true);
  });

  it("matches the null sender with <>", () => {
    expect(matches(`mail_from: "<>"`, facts(), envelope({ mailFrom: "" }))).toBe(true);
    expect(matches(`mail_from: "<>"`)).toBe(false);
  });

  it("tells header From from envelope sender, and from: matches either", () => {
    const f = facts({ from: [{ name: "市長", address: "mayor@city.example.lg.jp" }] });
    expect(matches(`header_from: "*@city.example.lg.jp"`, f)).toBe(true);
    expect(matches(`mail_from: "*@city.example.lg.jp"`, f)).toBe(false);
    expect(matches(`from: "*@city.example.lg.jp"`, f)).toBe(true);
    expect(matches(`from: "*@partner.example.co.jp"`, f)).toBe(true);
    expect(matches(`from: "*@other.example"`, f)).toBe(false);
  });

  it("matches any recipient of the envelope", () => {
    const e = envelope({ rcptTo: ["a@city.example.lg.jp", "kokusai@city.example.lg.jp"] });
    expect(matches(`rcpt: kokusai@city.example.lg.jp`, facts(), e)).toBe(true);
    expect(matches(`rcpt: [x@city.example.lg.jp, y@city.example.lg.jp]`, facts(), e)).toBe(false);
  });
});

describe("client address conditions", () => {
  it("matches IPv4 and IPv6 networks and single addresses", () => {
    expect(matches(`client_ip: 198.51.100.0/24`)).toBe(true);
    expect(matches(`client_ip: 198.51.101.0/24`)).toBe(false);
    expect(matches(`client_ip: 198.51.100.7`)).toBe(true);
    expect(matches(`client_ip: "2001:db8::/32"`, facts(), envelope({ clientAddress: "2001:db8::25" }))).toBe(true);
    expect(matches(`client_ip: "2001:db8::/32"`)).toBe(false);
  });

  it("treats an IPv4-mapped IPv6 client address as IPv4", () => {
    expect(matches(`client_ip: 198.51.100.0/24`, facts(), envelope({ clientAddress: "::ffff:198.51.100.7" }))).toBe(true);
  });

  it("does not match an unknown client address", () => {
    expect(matches(`client_ip: 0.0.0.0/0`, facts(), envelope({ clientAddress: "" }))).toBe(false);
  });
});

describe("subject conditions", () => {
  it("contains is a case- and width-insensitive substring", () => {
    const f = facts({ subject: "【重要】ＩＮＶＯＩＣＥ のお知らせ" });
    expect(matches(`subject: invoice`, f)).toBe(true);
    expect(matches(`subject: { contains: 重要 }`, f)).toBe(true);
    expect(matches(`subject: 請求`, f)).toBe(false);
  });

  it("glob matches the whole subject with * and ?", () => {
    const f = facts({ subject: "Re: 請求書 No.123" });
    expect(matches(`subject: { glob: "*請求書 no.???" }`, f)).toBe(true);
    expect(matches(`subject: { glob: "請求書*" }`, f)).toBe(false);
  });
});

describe("attachment conditions", () => {
  const f = facts({
    attachments: [
      attachment({ filename: "invoice.PDF.exe", contentType: "application/pdf", sniffedType: "application/x-dosexec", typeMismatch: true }),
      attachment({ filename: "data.csv" }),
    ],
  });

  it("matches by file name glob and by extension, case-insensitively", () => {
    expect(matches(`attachment: { name: "invoice*" }`, f)).toBe(true);
    expect(matches(`attachment: { ext: exe }`, f)).toBe(true);
    expect(matches(`attachment: { ext: [".zip", "7z"] }`, f)).toBe(false);
  });

  it("reads the extension Windows would open: from the whole name of a long one, after trailing dots and spaces", async () => {
    const { analyze } = await import("../../src/sanitize/analyze.ts");
    const { loadConfig } = await import("../../src/config/load.ts");
    const named = async (name: string) => {
      const raw = ["From: a@sender.example", "To: b@city.example.lg.jp", "Subject: x", 'Content-Type: multipart/mixed; boundary="B"', "", "--B", "Content-Type: text/plain", "", "hi", "--B", `Content-Type: application/octet-stream; name="${name}"`, "", "AAAA", "--B--", ""].join("\r\n");
      return (await analyze(Buffer.from(raw), loadConfig(undefined).sanitize.limits)).facts;
    };
    for (const name of [`invoice${"_".repeat(300)}.exe`, "invoice.exe.", "invoice.exe . .", `${"長".repeat(400)}.EXE`]) {
      const f2 = await named(name);
      expect(matches(`attachment: { ext: exe }`, f2), name.slice(-20)).toBe(true);
    }
    const long = await named(`invoice${"_".repeat(300)}.exe`);
    expect(long.attachments[0]?.filename).toMatch(/^invoice_+…_+\.exe$/);
    expect(long.attachments[0]?.filename.length).toBeLessThanOrEqual(255);
    expect(matches(`attachment: { name: "invoice_*_.exe" }`, long)).toBe(true);
  });

  it("matches declared and sniffed types and a type mismatch", () => {
    expect(matches(`attachment: { declared_type: "application/*" }`, f)).toBe(true);
    expect(matches(`attachment: { sniffed_type: application/x-dosexec }`, f)).toBe(true);
    expect(matches(`attachment: { type_mismatch: true }`, f)).toBe(true);
    expect(matches(`attachment: { type_mismatch: true }`, facts({ attachments: [attachment()] }))).toBe(false);
  });

  it("requires every property to hold for the same attachment", () => {
    expect(matches(`attachment: { ext: csv, type_mismatch: true }`, f)).toBe(false);
    expect(matches(`attachment: { ext: exe, type_mismatch: true }`, f)).toBe(true);
  });

  it("matches encrypted (PPAP) attachments and the presence of any attachment", () => {
    expect(matches(`attachment: { encrypted: true }`, facts({ attachments: [attachment({ filename: "a.zip", encrypted: true })] }))).toBe(true);
    expect(matches(`has_attachment: true`, f)).toBe(true);
    expect(matches(`has_attachment: false`, f)).toBe(false);
    expect(matches(`has_attachment: false`)).toBe(true);
  });
});

describe("size, HTML and time conditions", () => {
  it("compares the raw size with units in KB/MB (1 KB = 1024 bytes)", () => {
    const f = facts({ size: 10 * 1024 * 1024 + 1 });
    expect(matches(`size_over: 10MB`, f)).toBe(true);
    expect(matches(`size_over: 10MB`, facts({ size: 10 * 1024 * 1024 }))).toBe(false);
    expect(matches(`size_under: 5KB`)).toBe(true);
    expect(matches(`size_under: 2048`)).toBe(false);
  });

  it("matches whether HTML was present", () => {
    expect(matches(`has_html: true`, facts({ hasHtml: true }))).toBe(true);
    expect(matches(`has_html: true`)).toBe(false);
  });

  it("reads day and time in Japan time, whatever the UTC date", () => {
    // 2026-11-26T20:00Z is Friday 05:00 in Japan
    const fridayEarly = new Date("2026-11-26T20:00:00Z");
    expect(matches(`day: fri`, facts(), envelope(), fridayEarly)).toBe(true);
    expect(matches(`day: 木`, facts(), envelope(), fridayEarly)).toBe(false);
    expect(matches(`day: weekdays`, facts(), envelope(), fridayEarly)).toBe(true);
    expect(matches(`time: "08:30-17:15"`, facts(), envelope(), fridayEarly)).toBe(false);
    expect(matches(`time: "08:30-17:15"`)).toBe(true);
  });

  it("lets a time range wrap midnight, start inclusive, end exclusive", () => {
    const at = (hhmm: string) => new Date(`2026-11-26T${hhmm}:00+09:00`);
    expect(matches(`time: "22:00-06:00"`, facts(), envelope(), at("23:30"))).toBe(true);
    expect(matches(`time: "22:00-06:00"`, facts(), envelope(), at("05:59"))).toBe(true);
    expect(matches(`time: "22:00-06:00"`, facts(), envelope(), at("06:00"))).toBe(false);
    expect(matches(`time: "22:00-06:00"`, facts(), envelope(), at("22:00"))).toBe(true);
  });
});

describe("combining conditions", () => {
  const spoofed = facts({ from: [{ name: "市役所", address: "info@city.example.lg.jp" }] });

  it("several keys in one mapping must all hold", () => {
    expect(matches(`{ header_from: "*@city.example.lg.jp", client_ip: 198.51.100.0/24 }`, spoofed)).toBe(true);
    expect(matches(`{ header_from: "*@city.example.lg.jp", client_ip: 10.0.0.0/8 }`, spoofed)).toBe(false);
  });

  it("all, any and not nest", () => {
    const when = `
all:
  - header_from: "*@city.example.lg.jp"
  - not:
      any:
        - client_ip: 10.0.0.0/8
        - mail_from: "*@city.example.lg.jp"`;
    expect(matches(when, spoofed)).toBe(true);
    expect(matches(when, spoofed, envelope({ clientAddress: "10.1.2.3" }))).toBe(false);
    expect(matches(when, facts())).toBe(false);
  });

  it("a rule without a condition applies to every message", () => {
    const engine = parseRules(`rules:\n  - name: always\n    then: { subject_tag: "[x]" }\n`, "t.yaml");
    expect(engine.decide(facts(), envelope(), THURSDAY_10_JST).rulesApplied).toEqual(["always"]);
  });
});
