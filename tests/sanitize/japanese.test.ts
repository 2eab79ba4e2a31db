/**
 * Japanese mail as staff receive it: every charset Japanese senders use, in
 * the body and in Subject/From, comes out as the same words; encoded words
 * split inside a character decode whole; the ISO-2022-JP output mode stays
 * 7-bit and falls back to UTF-8 for characters JIS X 0208 lacks.
 */
import { describe, expect, it } from "vitest";
import { sanitize } from "../../src/sanitize/index.ts";
import { assertSanitized } from "../helpers/invariant.ts";
import { encodeText, encodedWord, message, multipart, part, textMessage, type Charset } from "../helpers/mime-builders.ts";
import { testOptions } from "../helpers/options.ts";

const BODY = "いつもお世話になっております。\n来週の会議資料を送付いたします。\n株式会社サンプル　総務課　山田太郎";
const SUBJECT = "【ご案内】来週の会議について";
const NAME = "山田 太郎";

async function run(input: Buffer, overrides = {}) {
  const result = await sanitize(input, testOptions(overrides));
  const view = await assertSanitized(result, input);
  return { result, view };
}

describe.each<[Charset, "7bit" | "8bit" | "base64" | "quoted-printable"]>([
  ["iso-2022-jp", "7bit"],
  ["shift_jis", "8bit"],
  ["shift_jis", "base64"],
  ["euc-jp", "8bit"],
  ["euc-jp", "quoted-printable"],
  ["utf-8", "base64"],
  ["utf-8", "8bit"],
])("a %s message (%s)", (charset, encoding) => {
  const body = encodeText(BODY.replace(/\n/g, "\r\n"), charset);
  const raw =
    encoding === "quoted-printable"
      ? Buffer.from([...body].map((b) => (b > 0x7e || b === 0x3d ? `=${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b))).join(""), "latin1")
      : body;
  const input = message({
    from: `${encodedWord(NAME, charset.toUpperCase(), "B")} <yamada@example.co.jp>`,
    subject: encodedWord(SUBJECT, charset.toUpperCase(), charset === "euc-jp" ? "Q" : "B"),
    entity: part({ contentType: `text/plain; charset="${charset.toUpperCase()}"`, encoding, body: raw }),
  });

  it("keeps every line of the body word for word", async () => {
    const { view } = await run(input);
    for (const line of BODY.split("\n")) expect(view.text).toContain(line);
    expect(view.text).not.toContain("\ufffd");
  });

  it("decodes Subject and the From display name", async () => {
    const { view, result } = await run(input);
    expect(view.get("Subject")).toContain(SUBJECT);
    expect(view.get("From")).toContain(NAME);
    expect(view.get("From")).toContain("yamada@example.co.jp");
    expect(result.report.headers.subject).toContain(SUBJECT);
    expect(result.report.charsets).toContain(charset);
  });
});

describe("CP932 (Windows) extensions", () => {
  it("decodes NEC and IBM extension characters declared as Shift_JIS or CP932", async () => {
    const text = "①会議室　髙橋様　～　㈱サンプル　Ⅲ期";
    for (const label of ["Shift_JIS", "windows-31j", "CP932"]) {
      const input = message({ subject: "cp932", entity: part({ contentType: `text/plain; charset=${label}`, encoding: "8bit", body: encodeText(text, "cp932") }) });
      const { view } = await run(input);
      // "～" is FULLWIDTH TILDE in CP932; a decoder may map the wave dash either way, the rest must be exact
      expect(view.text.replace(/[\u301c\uff5e]/g, "～")).toContain(text);
    }
  });
});

describe("split encoded words", () => {
  it("decodes a UTF-8 subject split inside one character across two encoded words as one whole string", async () => {
    const bytes = Buffer.from("日本語の件名です", "utf8");
    // split after the 4th byte: inside 本 (E6 9C AC)
    const subject = `=?UTF-8?B?${bytes.subarray(0, 4).toString("base64")}?=\r\n =?UTF-8?B?${bytes.subarray(4).toString("base64")}?=`;
    const input = message({ subject, entity: part({ contentType: "text/plain; charset=utf-8", body: "body" }) });
    const { view, result } = await run(input);
    expect(view.get("Subject")).toContain("日本語の件名です");
    expect(result.report.headers.subject).toBe("日本語の件名です");
  });

  it("decodes a Q-encoded UTF-8 subject split inside a character", async () => {
    const bytes = Buffer.from("お知らせ", "utf8");
    const subject = `${encodedWord(bytes.subarray(0, 5), "UTF-8", "Q")} ${encodedWord(bytes.subarray(5), "UTF-8", "Q")}`;
    const input = message({ subject, entity: part({ contentType: "text/plain; charset=utf-8", body: "body" }) });
    const { result } = await run(input);
    expect(result.report.headers.subject).toBe("お知らせ");
  });

  it("keeps the space between an encoded word and plain text", async () => {
    const input = message({ subject: `Re: ${encodedWord("会議", "ISO-2022-JP")} agenda`, entity: part({ contentType: "text/plain", body: "x" }) });
    const { result } = await run(input);
    expect(result.report.headers.subject).toBe("Re: 会議 agenda");
  });
});

describe("raw 8-bit headers", () => {
  it("reads a raw UTF-8 Subject and re-encodes it as ASCII RFC 2047", async () => {
    const input = message({
      rawHeaders: [Buffer.from("Subject: 生の件名です", "utf8")],
      entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: "本文" }),
    });
    const { view } = await run(input);
    expect(view.get("Subject")).toContain("生の件名です");
  });

  it("turns a raw Shift_JIS Subject into a safe ASCII header without losing the message", async () => {
    const input = message({
      rawHeaders: [Buffer.concat([Buffer.from("Subject: "), encodeText("請求書の件", "shift_jis")])],
      entity: part({ contentType: "text/plain; charset=shift_jis", encoding: "8bit", body: encodeText("本文です", "shift_jis") }),
    });
    const { view } = await run(input);
    expect(view.text).toContain("本文です");
  });
});

describe("format=flowed input", () => {
  it("joins a Japanese paragraph soft-broken with DelSp=yes without inserting spaces", async () => {
    const body = "本日の会議は十時から第一会議室にて \r\n開催いたします。資料は当日 \r\n配布します。\r\n";
    const input = message({ subject: "flowed", entity: part({ contentType: "text/plain; charset=utf-8; format=flowed; delsp=yes", encoding: "8bit", body }) });
    const { view } = await run(input);
    expect(view.text).toContain("本日の会議は十時から第一会議室にて開催いたします。資料は当日配布します。");
  });
});

describe("text parts with odd charset labels", () => {
  it("reads a Latin-1 part", async () => {
    const input = textMessage("Grüße aus Köln, café", { charset: "iso-8859-1" });
    const { view } = await run(input);
    expect(view.text).toContain("Grüße aus Köln, café");
  });

  it("reads UTF-8 text declared with an unknown charset label without mojibake", async () => {
    const input = message({ entity: part({ contentType: "text/plain; charset=x-unknown-label", encoding: "8bit", body: Buffer.from("ご確認ください。", "utf8") }) });
    const { view } = await run(input);
    expect(view.text).toContain("ご確認ください。");
  });

  it.each([
    ["utf-16 with a BOM", "utf-16", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("UTF-16の本文です。", "utf16le")])],
    ["utf-16be", "utf-16be", Buffer.from(Buffer.from("UTF-16の本文です。", "utf16le").swap16())],
    ["windows-1252 smart quotes", "windows-1252", Buffer.concat([Buffer.from([0x93]), Buffer.from("UTF-16"), Buffer.from([0x94])])],
  ])("reads a text part in %s", async (_what, label, body) => {
    const input = message({ entity: part({ contentType: `text/plain; charset=${label}`, encoding: "base64", body }) });
    const { view } = await run(input);
    expect(view.text).toContain(label === "windows-1252" ? "\u201cUTF-16\u201d" : "UTF-16の本文です。");
  });

  it.each([["shift_jis" as const], ["euc-jp" as const], ["utf-8" as const]])("reads undeclared 8-bit %s text (no charset parameter)", async (charset) => {
    const input = message({ entity: part({ contentType: "text/plain", encoding: "8bit", body: encodeText("来週の打ち合わせ日程について、ご都合をお知らせください。", charset) }) });
    const { view } = await run(input);
    expect(view.text).toContain("来週の打ち合わせ日程について、ご都合をお知らせください。");
  });

  it("reads undeclared ISO-2022-JP (escape sequences, no charset parameter)", async () => {
    const input = message({ entity: part({ contentType: "text/plain", encoding: "7bit", body: encodeText("お世話になっております。", "iso-2022-jp") }) });
    const { view } = await run(input);
    expect(view.text).toContain("お世話になっております。");
  });
});

describe("HTML whose charset is only in a <meta> tag", () => {
  it.each([
    ['<meta charset="Shift_JIS">', "shift_jis" as const],
    ['<meta http-equiv="Content-Type" content="text/html; charset=EUC-JP">', "euc-jp" as const],
  ])("reads %s", async (meta, charset) => {
    const html = `<html><head>${meta}</head><body><p>メルマガ本文：年末年始の窓口業務のお知らせ</p></body></html>`;
    const input = message({ subject: "meta", entity: part({ contentType: "text/html", encoding: "8bit", body: encodeText(html, charset) }) });
    const { view } = await run(input);
    expect(view.text).toContain("メルマガ本文：年末年始の窓口業務のお知らせ");
  });
});

describe("ISO-2022-JP output mode", () => {
  it("writes a 7-bit ISO-2022-JP message that decodes to the same words", async () => {
    const { view, result } = await run(textMessage(BODY, { subject: encodedWord(SUBJECT), charset: "utf-8" }), { charset: "iso-2022-jp" });
    expect(view.charset).toBe("iso-2022-jp");
    expect(result.message.every((b) => b < 0x80)).toBe(true);
    for (const line of BODY.split("\n")) expect(view.text).toContain(line);
    expect(view.get("Subject")).toContain(SUBJECT);
  });

  it("folds a long Japanese Subject into ISO-2022-JP encoded words of at most 75 characters", async () => {
    const subject = "令和八年度の予算編成方針についての説明会開催のお知らせ（第二回）と資料送付のお願い";
    const input = message({ subject: encodedWord(subject), entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: "本文" }) });
    const { view } = await run(input, { charset: "iso-2022-jp" }); // the invariant checks the word lengths
    expect(view.get("Subject")).toBe(subject);
  });

  it.each([
    ["𠮷 (outside JIS X 0208)", "𠮷野家で昼食"],
    ["an emoji", "了解です👍"],
  ])("falls back to UTF-8 for %s and keeps the character", async (_what, text) => {
    const { view, result } = await run(textMessage(text), { charset: "iso-2022-jp" });
    expect(view.charset).toBe("utf-8");
    expect(result.report.output.charset.toLowerCase()).toBe("utf-8");
    expect(view.text).toContain(text);
  });
});

describe("ISO-2022-JP output of characters RFC 1468 lacks", () => {
  it("never writes half-width katakana as ESC ( I; the words survive", async () => {
    const { view } = await run(textMessage("ﾃｽﾄ用のｶﾀｶﾅです"), { charset: "iso-2022-jp" });
    // either converted to full-width in ISO-2022-JP, or the whole message falls back to UTF-8
    expect(view.text.normalize("NFKC")).toContain("テスト用のカタカナです");
  });

  it("keeps an emoji in the Subject when the body fits ISO-2022-JP", async () => {
    const input = message({ subject: encodedWord("ご案内🎉"), entity: part({ contentType: "text/plain; charset=utf-8", encoding: "8bit", body: "本文です。" }) });
    const { view } = await run(input, { charset: "iso-2022-jp" });
    expect(view.get("Subject")).toContain("ご案内🎉");
    expect(view.text).toContain("本文です。");
  });
});

describe("golden output for a plain Japanese message", () => {
  it("is stable (same bytes as the reviewed golden file)", async () => {
    const { readFileSync, writeFileSync, existsSync, mkdirSync } = await import("node:fs");
    const path = await import("node:path");
    const dir = path.resolve(import.meta.dirname, "../fixtures/sanitize");
    const inputFile = path.join(dir, "plain-ja.eml");
    const goldenFile = path.join(dir, "plain-ja.golden.eml");
    const input = readFileSync(inputFile);
    const result = await sanitize(input, testOptions());
    await assertSanitized(result, input);
    if (process.env.UPDATE_GOLDEN === "1" || !existsSync(goldenFile)) {
      if (process.env.UPDATE_GOLDEN !== "1") throw new Error(`${goldenFile} missing: review the output and run with UPDATE_GOLDEN=1`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(goldenFile, result.message);
    }
    expect(result.message.toString("utf8")).toBe(readFileSync(goldenFile, "utf8"));
  });
});

describe("multipart/alternative in Japanese", () => {
  it("shows the Japanese words once the HTML is converted (no word-wrap breaks inside the sentence)", async () => {
    const long = "本日は晴天なり。".repeat(30);
    const html = `<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><p>${long}</p></body></html>`;
    const input = message({
      subject: encodedWord("お知らせ"),
      entity: multipart("alternative", [
        part({ contentType: "text/plain; charset=utf-8", body: " " }),
        part({ contentType: "text/html; charset=iso-2022-jp", encoding: "7bit", body: encodeText(html, "iso-2022-jp") }),
      ]),
    });
    const { view, result } = await run(input);
    expect(view.text).toContain(long);
    expect(view.text).not.toContain("alert(1)");
    expect(view.text).not.toContain("color:red");
    expect(result.report.html.present).toBe(true);
    expect(result.report.alternative).toBe("html");
  });
});
