/**
 * The notice staff read first, and the promises around it: Japanese by
 * default, English on request, a configurable template; the audit id in the
 * notice and in X-Mumuka-Id; the same input, options, time and id give the
 * same bytes; analyze() once, render() many times.
 */
import { describe, expect, it } from "vitest";
import { analyze, render, renderOptionsFromConfig, sanitize } from "../../src/sanitize/index.ts";
import { limitsSchema, sanitizeSchema } from "../../src/config/schema.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { attachment, encodedWord, message, multipart, part } from "../helpers/mime-builders.ts";
import { TEST_AUDIT_ID, TEST_HOSTNAME, TEST_NOW, testOptions } from "../helpers/options.ts";

const JAPANESE = /[\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fff]/;

const input = message({
  subject: encodedWord("資料送付"),
  entity: multipart("mixed", [
    multipart("alternative", [part({ contentType: "text/plain; charset=utf-8", body: "Please find the file attached." }), part({ contentType: "text/html; charset=utf-8", body: "<p>Please find the <b>file</b> attached.</p>" })]),
    attachment("report.xlsx", "application/vnd.ms-excel", Buffer.from("PK\u0003\u0004data")),
  ]),
});

/** The part of the body before the sender's text: the notice. */
function noticeOf(text: string): string {
  const at = text.indexOf("Please find");
  expect(at).toBeGreaterThan(0); // the notice comes first
  return text.slice(0, at);
}

describe("the notice", () => {
  it("is in Japanese by default, lists the removed file and names the audit id", async () => {
    const result = await sanitize(input, testOptions());
    const view = await assertSanitized(result, input, { auditId: TEST_AUDIT_ID });
    const notice = noticeOf(view.text);
    expect(notice).toMatch(JAPANESE);
    expect(notice).toContain("report.xlsx");
    expect(notice).toContain(TEST_AUDIT_ID);
    expect(view.get("X-Mumuka-Id")).toBe(TEST_AUDIT_ID);
  });

  it("is in English with language en", async () => {
    const result = await sanitize(input, testOptions({ language: "en" }));
    const view = await assertSanitized(result, input);
    const notice = noticeOf(view.text);
    expect(notice).not.toMatch(JAPANESE);
    expect(notice).toMatch(/attach|remov/i);
    expect(notice).toContain("report.xlsx");
    expect(notice).toContain(TEST_AUDIT_ID);
  });

  it("says nothing was removed only when nothing was", async () => {
    const plain = message({ subject: "plain", entity: part({ contentType: "text/plain; charset=utf-8", body: "Please find nothing." }) });
    const result = await sanitize(plain, testOptions({ language: "en" }));
    const view = await assertSanitized(result, plain);
    expect(result.report.attachments).toEqual([]);
    expect(view.text).toContain("Please find nothing.");
  });

  it("uses a configured template", async () => {
    // the core's template language (config/notice/*.txt): a marker plus the list of removed parts
    const template = "TEMPLATE-MARKER-7Q {{auditId}}\n{{#attachments}}* {{filename}} {{sha256}}\n{{/attachments}}";
    const result = await sanitize(input, testOptions({ noticeTemplate: template }));
    const view = await assertSanitized(result, input);
    expect(view.text).toContain("TEMPLATE-MARKER-7Q");
    expect(view.text).toContain("* report.xlsx");
    expect(view.text).toContain("Please find");
  });

  it("prepends subject tags in order and reports the rules applied", async () => {
    const result = await sanitize(input, testOptions({ subjectTags: ["[外部]", "[要確認]"], rulesApplied: ["external-tag"] }));
    const view = await assertSanitized(result, input);
    const subject = view.get("Subject") ?? "";
    expect(subject.indexOf("[外部]")).toBeGreaterThanOrEqual(0);
    expect(subject.indexOf("[外部]")).toBeLessThan(subject.indexOf("[要確認]"));
    expect(subject).toContain("資料送付");
    expect(result.report.rulesApplied).toEqual(["external-tag"]);
  });

  it("carries no text of the original when withheld", async () => {
    const result = await sanitize(input, testOptions({ withheld: { reason: "held by rule" } }));
    const view = await assertSanitized(result, input);
    expect(view.text).not.toContain("Please find");
    expect(result.report.withheld).toBeTruthy();
  });
});

describe("determinism and the analyze/render split", () => {
  it("gives byte-identical output for the same input, options, time and id", async () => {
    const a = await sanitize(input, testOptions());
    const b = await sanitize(input, testOptions());
    expect(a.message.equals(b.message)).toBe(true);
    expect(a.report).toEqual(b.report);
  });

  it("renders an analyzed message the same as sanitize() does, any number of times", async () => {
    const options = testOptions();
    const analyzed = await analyze(input, options.limits);
    const viaSanitize = await sanitize(input, testOptions());
    const first = render(analyzed, options);
    const second = render(analyzed, { ...options, language: "en" });
    const third = render(analyzed, options);
    expect(first.message.equals(viaSanitize.message)).toBe(true);
    expect(third.message.equals(first.message)).toBe(true);
    expect(second.message.equals(first.message)).toBe(false);
    expect(analyzed.facts.attachments.map((a) => a.filename)).toEqual(["report.xlsx"]);
    expect(analyzed.facts.subject).toBe("資料送付");
  });

  it("builds render options from the configuration", () => {
    const config = sanitizeSchema.parse({ links: "keep", language: "en", charset: "iso-2022-jp" });
    const options = renderOptionsFromConfig(config, { auditId: TEST_AUDIT_ID, now: TEST_NOW, hostname: TEST_HOSTNAME });
    expect(options).toMatchObject({ links: "keep", language: "en", charset: "iso-2022-jp", auditId: TEST_AUDIT_ID, hostname: TEST_HOSTNAME });
    expect(limitsSchema.parse({}).maxDepth).toBeGreaterThan(0);
  });

  it("changes the Date fallback and Received time only through `now`", async () => {
    const noDate = Buffer.from("From: a@example.jp\r\nSubject: nd\r\n\r\nbody\r\n");
    const a = await sanitize(noDate, testOptions({ now: new Date("2026-01-01T00:00:00Z") }));
    const b = await sanitize(noDate, testOptions({ now: new Date("2026-06-01T00:00:00Z") }));
    expect(a.message.equals(b.message)).toBe(false);
    const again = await sanitize(noDate, testOptions({ now: new Date("2026-01-01T00:00:00Z") }));
    expect(again.message.equals(a.message)).toBe(true);
  });
});
