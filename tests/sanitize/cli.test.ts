/**
 * `mumuka sanitize` as operators use it: a file or standard input in, the
 * sanitized message on standard output, the JSON report with --report, options
 * from flags or --config; clear one-line errors and a non-zero exit on an
 * unreadable file or a bad option.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { SanitizeReport } from "../../src/sanitize/sanitize-types.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { attachment, encodedWord, message, multipart, part } from "../helpers/mime-builders.ts";
import { runCli } from "../helpers/run-cli.ts";

const work = mkdtempSync(path.join(tmpdir(), "mumuka-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const input = message({
  subject: encodedWord("CLIのテスト"),
  entity: multipart("mixed", [part({ contentType: "text/html; charset=utf-8", body: '<p>本文 <a href="https://evil.example/">https://bank.example</a></p>' }), attachment("a.pdf", "application/pdf", Buffer.from("%PDF-1.4\n"))]),
});
const inputFile = path.join(work, "in.eml");
writeFileSync(inputFile, input);

async function cli(args: string[], stdin?: Buffer): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const r = await runCli(args, stdin ? { stdin } : {});
  return { code: r.code, stdout: r.stdoutBytes, stderr: r.stderr };
}

const ID = "20261126T100000Z-0123456789ABCDEF";
const NOW = "2026-11-26T10:00:00Z";

describe("mumuka sanitize", () => {
  it("prints a sanitized message for FILE and writes the report with --report", async () => {
    const reportFile = path.join(work, "report.json");
    const { code, stdout, stderr } = await cli(["sanitize", inputFile, "--report", reportFile, "--id", ID, "--now", NOW]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(reportFile, "utf8")) as SanitizeReport;
    const view = await assertSanitized({ message: stdout, report }, input, { auditId: ID });
    expect(view.text).toContain("本文");
    expect(report.attachments[0]).toMatchObject({ filename: "a.pdf", contentType: "application/pdf" });
    expect(report.links.mode).toBe("defang");
  });

  it("reads standard input with - and gives the same bytes for the same --id and --now", async () => {
    const a = await cli(["sanitize", "-", "--id", ID, "--now", NOW], input);
    const b = await cli(["sanitize", inputFile, "--id", ID, "--now", NOW]);
    expect(a.code).toBe(0);
    expect(a.stdout.equals(b.stdout)).toBe(true);
  });

  it("applies --charset, --links and --language", async () => {
    const reportFile = path.join(work, "report2.json");
    const { code, stdout } = await cli(["sanitize", inputFile, "--charset", "iso-2022-jp", "--links", "keep", "--language", "en", "--report", reportFile]);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(reportFile, "utf8")) as SanitizeReport;
    const view = await assertSanitized({ message: stdout, report }, input);
    expect(view.charset).toBe("iso-2022-jp");
    expect(view.text).toContain("https://evil.example/");
    expect(report.links.mode).toBe("keep");
  });

  it("takes its options from --config", async () => {
    const configFile = path.join(work, "mumuka.yaml");
    writeFileSync(configFile, "sanitize:\n  links: remove\n  language: en\n");
    const reportFile = path.join(work, "report3.json");
    const { code } = await cli(["sanitize", inputFile, "--config", configFile, "--report", reportFile]);
    expect(code).toBe(0);
    expect((JSON.parse(readFileSync(reportFile, "utf8")) as SanitizeReport).links.mode).toBe("remove");
  });

  it("uses a notice template file given with --template", async () => {
    const templateFile = path.join(work, "notice.txt");
    writeFileSync(templateFile, "CLI-TEMPLATE-MARKER {{auditId}}\n{{#attachments}}* {{filename}} {{sha256}}\n{{/attachments}}");
    const reportFile = path.join(work, "report4.json");
    const { code, stdout } = await cli(["sanitize", inputFile, "--template", templateFile, "--id", ID, "--report", reportFile]);
    expect(code).toBe(0);
    const view = await assertSanitized({ message: stdout, report: JSON.parse(readFileSync(reportFile, "utf8")) as SanitizeReport }, input);
    expect(view.text).toContain(`CLI-TEMPLATE-MARKER ${ID}`);
  });

  it.each([
    ["an unreadable template", ["sanitize", "IN", "--template", "/nonexistent/notice.txt"], /notice\.txt/],
    ["a bad --alternative value", ["sanitize", "IN", "--alternative", "both"], /both|alternative/],
    ["a bad --now value", ["sanitize", "IN", "--now", "yesterday"], /yesterday|now/],
    ["an unreadable file", ["sanitize", "/nonexistent/mumuka-missing.eml"], /mumuka-missing\.eml/],
    ["a bad --links value", ["sanitize", "IN", "--links", "clickable"], /clickable|links/],
    ["a bad --charset value", ["sanitize", "IN", "--charset", "ebcdic"], /ebcdic|charset/],
    ["a malformed --id", ["sanitize", "IN", "--id", "../../etc/passwd"], /id/i],
  ] as const)("fails with one clear line and a non-zero exit for %s", async (_what, args, says) => {
    const { code, stdout, stderr } = await cli([...args].map((a) => (a === "IN" ? inputFile : a)));
    expect(code).not.toBe(0);
    expect(stdout.length).toBe(0);
    const lines = stderr.trim().split("\n").filter((l) => l.trim() !== "");
    expect(lines[0]).toMatch(says); // the first line says what is wrong
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
