import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runCli } from "../helpers/run-cli.ts";

const REPO = path.join(import.meta.dirname, "../..");
const EXAMPLE = path.join(REPO, "config/rules.example.yaml");

const mumuka = (args: string[], stdin?: string) => runCli(args, { stdin: stdin ?? "", env: { NO_COLOR: "1" } });

const PARTNER_MAIL = [
  "From: =?UTF-8?B?5aSq6YOO?= <taro@partner.example.co.jp>",
  "To: kikaku@city.example.lg.jp",
  "Subject: =?UTF-8?B?5pyI5qyh5aCx5ZGK?=",
  "Date: Thu, 26 Nov 2026 10:00:00 +0900",
  "Message-ID: <1@partner.example.co.jp>",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="b1"',
  "",
  "--b1",
  "Content-Type: text/html; charset=UTF-8",
  "",
  '<p>今月の報告です。<a href="https://partner.example.co.jp/r">詳細</a></p>',
  "--b1",
  'Content-Type: text/csv; charset=UTF-8; name="report.csv"',
  'Content-Disposition: attachment; filename="report.csv"',
  "",
  "date,count",
  "2026-11-01,3",
  "--b1--",
  "",
].join("\r\n");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mumuka-rules-cli-"));
  writeFileSync(path.join(dir, "partner.eml"), PARTNER_MAIL);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mumuka rules check", () => {
  it("accepts a valid file and prints its rules and SHA-256", async () => {
    const r = await mumuka(["rules", "check", EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK — \d+ rule\(s\): partner-csv-as-text, .*tag-outside/);
    expect(r.stdout).toMatch(/sha256 [0-9a-f]{64}/);
  });

  it("refuses an invalid file with every problem as file:line:column and exit code 1", async () => {
    const file = path.join(dir, "bad.yaml");
    writeFileSync(file, `rules:\n  - name: outside\n    when:\n      form: "*@example.jp"\n    then:\n      allow_attachments: true\n`);
    const r = await mumuka(["rules", "check", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:4:7: unknown key "form"`);
    expect(r.stderr).toContain('did you mean "from"');
    expect(r.stderr).toContain(`${file}:6:7: "allow_attachments" is not an action`);
    expect(r.stderr).toMatch(/2 problem\(s\); the rules were not accepted/);
  });

  it("checks the rules file named by the configuration", async () => {
    const config = path.join(dir, "mumuka.yaml");
    writeFileSync(config, `rules:\n  file: ${EXAMPLE}\n`);
    const r = await mumuka(["rules", "check", "--config", config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(EXAMPLE);
  });

  it("says what to do when no rules file is given or configured", async () => {
    const r = await mumuka(["rules", "check"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no rules file: give one as an argument/);
  });

  it("reports a missing file as unreadable, not as a crash", async () => {
    const r = await mumuka(["rules", "check", path.join(dir, "missing.yaml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.yaml: cannot read: ENOENT/);
  });
});

describe("mumuka rules test", () => {
  it("shows which rules match and why, the decision, and the sanitized message", async () => {
    const r = await mumuka(["rules", "test", path.join(dir, "partner.eml"), "--rules", EXAMPLE, "--client-ip", "203.0.113.5", "--at", "2026-11-26T10:00:00+09:00"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ partner-csv-as-text \(line \d+\): MATCHES/);
    expect(r.stdout).toMatch(/✓ mail_from: \*@partner\.example\.co\.jp {3}← taro@partner\.example\.co\.jp/);
    expect(r.stdout).toMatch(/✗ phishing-wave-2026-11 \(line \d+\): does not match/);
    expect(r.stdout).toMatch(/✓ tag-outside \(line \d+\): MATCHES/);
    expect(r.stdout).toContain("rules applied: partner-csv-as-text, tag-outside");
    // the sanitized result: tagged subject, rules header, the CSV's text in the body, no HTML
    expect(r.stdout).toContain("Subject: [外部] 月次報告");
    expect(r.stdout).toContain("X-Mumuka-Rules: partner-csv-as-text, tag-outside");
    expect(r.stdout).toContain("2026-11-01,3");
    expect(r.stdout).not.toMatch(/<a href|<p>/);
  });

  it("shows the effect of the envelope options (--mail-from, --rcpt)", async () => {
    const r = await mumuka([
      "rules", "test", path.join(dir, "partner.eml"), "--rules", EXAMPLE,
      "--mail-from", "billing@invoice-notice.example.net",
      "--rcpt", "a@kokusai.city.example.lg.jp", "--rcpt", "b@city.example.lg.jp",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { envelope: { rcptTo: string[] }; decision: { action: string; rulesApplied: string[]; render: { language?: string } } };
    expect(out.envelope.rcptTo).toEqual(["a@kokusai.city.example.lg.jp", "b@city.example.lg.jp"]);
    expect(out.decision.action).toBe("hold");
    expect(out.decision.rulesApplied).toEqual(["phishing-wave-2026-11", "kokusai-english-notice", "tag-outside"]);
    expect(out.decision.render.language).toBe("en");
  });

  it("reads the message from standard input with -", async () => {
    const rules = path.join(dir, "html.yaml");
    writeFileSync(rules, `rules:\n  - name: html-mail\n    when: { has_html: true }\n    then: { links: remove, subject_tag: "[HTML]" }\n`);
    const r = await mumuka(["rules", "test", "-", "--rules", rules], PARTNER_MAIL);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ html-mail .*MATCHES/);
    expect(r.stdout).toContain("links: remove");
    expect(r.stdout).toContain("Subject: [HTML] 月次報告");
  });

  it("refuses to try an invalid rules file, naming the line", async () => {
    const rules = path.join(dir, "invalid.yaml");
    writeFileSync(rules, `rules:\n  - name: x\n    then: { links: html }\n`);
    const r = await mumuka(["rules", "test", path.join(dir, "partner.eml"), "--rules", rules]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${rules}:3:20: links: "html" is not allowed`);
  });

  it("prints sender-controlled values display-safe (no bidi override reaches the terminal)", async () => {
    const mail = PARTNER_MAIL.replace("Subject: =?UTF-8?B?5pyI5qyh5aCx5ZGK?=", "Subject: =?UTF-8?B?" + Buffer.from("invoice\u202Efdp.exe").toString("base64") + "?=");
    writeFileSync(path.join(dir, "bidi.eml"), mail);
    const rules = path.join(dir, "subject.yaml");
    writeFileSync(rules, `rules:\n  - name: s\n    when: { subject: invoice }\n    then: { subject_tag: "[x]" }\n`);
    const r = await mumuka(["rules", "test", path.join(dir, "bidi.eml"), "--rules", rules]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\u202E");
    expect(r.stdout).toContain("<U+202E>");
  });

  it("reports an unreadable message file clearly", async () => {
    const r = await mumuka(["rules", "test", path.join(dir, "nope.eml"), "--rules", EXAMPLE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.eml: cannot read: ENOENT/);
  });

  it("reports a missing or broken notice template of the configuration in one line, as mumuka sanitize does", async () => {
    const missing = path.join(dir, "missing-template.yaml");
    writeFileSync(missing, `sanitize:\n  noticeTemplate: ${path.join(dir, "no-such-notice.txt")}\n`);
    const r = await mumuka(["rules", "test", path.join(dir, "partner.eml"), "--rules", EXAMPLE, "-c", missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mumuka: cannot read notice template .*no-such-notice\.txt: ENOENT\n$/);
    writeFileSync(path.join(dir, "broken-notice.txt"), "{{#withheld}} never closed\n");
    const broken = path.join(dir, "broken-template.yaml");
    writeFileSync(broken, `sanitize:\n  noticeTemplate: ${path.join(dir, "broken-notice.txt")}\n`);
    const b = await mumuka(["rules", "test", path.join(dir, "partner.eml"), "--rules", EXAMPLE, "-c", broken]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^mumuka: notice template .*broken-notice\.txt: unclosed/);
  });
});
