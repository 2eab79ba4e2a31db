/**
 * HTML is normalised before conversion (issue 10 §1b): NULs and invisible
 * characters inside markup cannot hide a tag from the converter, and HTML in
 * UTF-16 is decoded as UTF-16 whatever its label says (a byte order mark wins,
 * then the NUL bytes of its ASCII markup). Otherwise the tags, or the script
 * they enclose, reach the text while the notice says the HTML was converted.
 */
import { describe, expect, it } from "vitest";
import { htmlCharset, normaliseHtml } from "../../src/sanitize/html-text.ts";
import { sanitize } from "../../src/sanitize/index.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { message, part } from "../helpers/mime-builders.ts";
import { TEST_AUDIT_ID, testOptions } from "../helpers/options.ts";

async function run(contentType: string, body: Buffer) {
  const input = message({ subject: "s", entity: part({ contentType, encoding: "base64", body }) });
  const result = await sanitize(input, testOptions());
  const view = await assertSanitized(result, input, { auditId: TEST_AUDIT_ID });
  return { result, view };
}

describe("markup with NUL or invisible characters inside it", () => {
  it.each([
    ["a NUL after <", "<p>本文</p><\0script>alert(1)</script>"],
    ["a NUL inside the tag name", "<p>本文</p><scr\0ipt>alert(1)</scr\0ipt>"],
    ["a zero-width space inside the tag name", "<p>本文</p><scr\u200Bipt>alert(1)</script>"],
    ["a soft hyphen inside the tag name", "<p>本文</p><s\u00ADcript>alert(1)</script>"],
    ["a zero-width joiner inside a style tag", "<p>本文</p><st\u200Dyle>p{color:red}</style><script>alert(1)</script>"],
    ["a word joiner after <", "<p>本文</p><\u2060script>alert(1)</script>"],
  ])("skips the element when %s hides it", async (_what, html) => {
    const { view, result } = await run("text/html; charset=utf-8", Buffer.from(html, "utf8"));
    expect(view.text).toContain("本文");
    expect(view.text).not.toContain("alert(1)");
    expect(view.text).not.toContain("color:red");
    expect(view.text).not.toMatch(/<\s*\/?\s*(script|style)/i);
    expect(result.report.html).toEqual({ present: true, converted: true });
  });
});

describe("UTF-16 HTML under another label", () => {
  const html = "<html><body><p>本文です</p><script>alert(1)</script><style>p{color:red}</style></body></html>";
  const le = Buffer.from(html, "utf16le");
  const be = Buffer.from(le).swap16();
  const cases: Array<[string, string, Buffer]> = [];
  for (const label of ["iso-8859-1", "utf-8"]) {
    cases.push(
      [`UTF-16LE with a BOM labelled ${label}`, label, Buffer.concat([Buffer.from([0xff, 0xfe]), le])],
      [`UTF-16LE without a BOM labelled ${label}`, label, le],
      [`UTF-16BE with a BOM labelled ${label}`, label, Buffer.concat([Buffer.from([0xfe, 0xff]), be])],
      [`UTF-16BE without a BOM labelled ${label}`, label, be],
    );
  }

  it.each(cases)("decodes %s as UTF-16 and converts it", async (_what, label, body) => {
    const { view, result } = await run(`text/html; charset=${label}`, body);
    expect(view.text).toContain("本文です");
    expect(view.text).not.toContain("alert(1)");
    expect(view.text).not.toMatch(/<\s*\/?\s*(html|body|p|script|style)\b/i);
    expect(result.report.warnings.join("\n")).toMatch(/UTF-16(LE|BE) by its content/);
  });

  it("still reads UTF-8 with a BOM under a Shift_JIS label as UTF-8 (the BOM wins)", async () => {
    const { view } = await run("text/html; charset=shift_jis", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("<p>本文です</p>", "utf8")]));
    expect(view.text).toContain("本文です");
  });

  it("leaves ordinary Japanese HTML in Shift_JIS alone", async () => {
    const { encodeText } = await import("../helpers/mime-builders.ts");
    const { view, result } = await run("text/html; charset=shift_jis", encodeText("<html><body><p>会議のお知らせ</p></body></html>", "shift_jis"));
    expect(view.text).toContain("会議のお知らせ");
    expect(result.report.warnings.join("\n")).not.toMatch(/by its content/);
  });
});

describe("htmlCharset and normaliseHtml", () => {
  it("lets a byte order mark win over the label, then UTF-16's NUL bytes, then the label, then <meta>", () => {
    expect(htmlCharset(Buffer.from([0xff, 0xfe, 0x3c, 0]), "iso-8859-1").label).toBe("utf-16le");
    expect(htmlCharset(Buffer.from([0xfe, 0xff, 0, 0x3c]), "utf-8").label).toBe("utf-16be");
    expect(htmlCharset(Buffer.from([0xef, 0xbb, 0xbf, 0x3c]), "shift_jis").label).toBe("utf-8");
    expect(htmlCharset(Buffer.from("<html><p>x</p></html>", "utf16le"), "utf-8")).toMatchObject({ label: "utf-16le", warning: expect.stringMatching(/UTF-16LE/) });
    expect(htmlCharset(Buffer.from("<html><p>x</p></html>", "utf16le"), "utf-16")).toEqual({ label: "utf-16le" });
    expect(htmlCharset(Buffer.from("<html><p>x</p></html>"), "euc-jp")).toEqual({ label: "euc-jp" });
    expect(htmlCharset(Buffer.from('<meta charset="shift_jis"><p>x</p>'), undefined)).toEqual({ label: "shift_jis" });
  });

  it("removes NUL everywhere and invisible characters inside markup only", () => {
    expect(normaliseHtml("<\0scr\u200Bi\u00ADpt>a\0b</script>")).toBe("<script>ab</script>");
    expect(normaliseHtml("<p>a\u200Bb\u200Dc</p>")).toBe("<p>a\u200Bb\u200Dc</p>");
    expect(normaliseHtml("<p title='a\tb'>")).toBe("<p title='a\tb'>");
  });
});
