import { describe, expect, it } from "vitest";
import {
  addressHeader,
  headerBlock,
  HeaderEncodingError,
  isWritableAddress,
  tokenHeader,
  unstructuredHeader,
  type HeaderField,
} from "../../../src/sanitize/header-encode.ts";
import {
  decodeWords,
  extractMsgIds,
  formatDate,
  isValidAddress,
  parseAddressList,
  parseDate,
  parseHeaderBlock,
  parseStructured,
} from "../../../src/sanitize/header-decode.ts";

const b64 = (b: Buffer) => b.toString("base64");

describe("decodeWords (RFC 2047)", () => {
  it("decodes a UTF-8 character split across two encoded words", () => {
    const bytes = Buffer.from("会議", "utf8"); // 6 bytes, split inside the first character
    const header = `=?UTF-8?B?${b64(bytes.subarray(0, 2))}?= =?UTF-8?B?${b64(bytes.subarray(2))}?=`;
    expect(decodeWords(header)).toBe("会議");
  });

  it("keeps the space between an encoded word and plain text, drops it between two words", () => {
    expect(decodeWords("=?UTF-8?Q?a?= b =?UTF-8?Q?c?= =?UTF-8?Q?d?=")).toBe("a b cd");
  });

  it("decodes Q encoding with underscores and ISO-2022-JP words", () => {
    expect(decodeWords("=?utf-8?q?hello_world=21?=")).toBe("hello world!");
    expect(decodeWords("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=")).toBe("こんにちは");
  });
});

describe("parseStructured (RFC 2231)", () => {
  it("joins continuations split inside a percent escape, then decodes the charset", () => {
    const value = "attachment; filename*0*=UTF-8''%E8%B3%87%E6; filename*1*=%96%99.pdf";
    expect(parseStructured(value).params.filename).toBe("資料.pdf");
  });

  it("decodes a plain parameter carrying encoded words (a common violation)", () => {
    expect(parseStructured('application/pdf; name="=?UTF-8?B?6LOH5paZLnBkZg==?="').params.name).toBe("資料.pdf");
  });

  it("keeps quoted semicolons inside a value", () => {
    expect(parseStructured('text/plain; name="a;b.txt"; charset=utf-8').params).toMatchObject({ name: "a;b.txt", charset: "utf-8" });
  });
});

describe("parseHeaderBlock", () => {
  it("unfolds, and decodes raw 8-bit values by guessing", () => {
    const warnings: string[] = [];
    const fields = parseHeaderBlock(Buffer.concat([Buffer.from("Subject: "), Buffer.from("件名", "utf8"), Buffer.from("\r\n continued\r\nX: y\r\n\r\n")]), warnings);
    expect(fields[0]).toEqual({ name: "subject", value: "件名 continued" });
    expect(warnings.join()).toMatch(/raw 8-bit/);
  });
});

describe("addresses, dates, ids", () => {
  it("decodes display names after parsing, so an encoded comma cannot split an address", () => {
    const list = parseAddressList(`=?UTF-8?B?${b64(Buffer.from("山田, 太郎"))}?= <taro@example.jp>, b@example.jp`);
    expect(list).toEqual([
      { name: "山田, 太郎", address: "taro@example.jp" },
      { name: "", address: "b@example.jp" },
    ]);
  });

  it("rejects addr-specs that could not be written back safely", () => {
    expect(isValidAddress("a@example.jp")).toBe(true);
    expect(isValidAddress("a b@example.jp")).toBe(false);
    expect(isValidAddress("a@exa\r\nmple.jp")).toBe(false);
  });

  it("parses RFC 5322 dates with obsolete zones and re-formats them", () => {
    const d = parseDate("Mon, 1 Dec 2025 09:00:00 JST");
    expect(d).toBeDefined();
    expect(formatDate(d!.epoch, d!.offset)).toBe("Mon, 1 Dec 2025 09:00:00 +0900");
    expect(parseDate("yesterday")).toBeUndefined();
  });

  it("keeps only syntactically valid message ids", () => {
    expect(extractMsgIds("<a@b> junk <c d@e> <f@g>")).toEqual(["a@b", "f@g"]);
  });
});

describe("header encoder", () => {
  it("folds long ASCII subjects at 78 characters", () => {
    const header = unstructuredHeader("Subject", "word ".repeat(40).trim(), "utf-8");
    for (const line of header.split("\r\n")) expect(line.length).toBeLessThanOrEqual(78);
    expect(header.replace(/\r\n /g, " ")).toBe(`Subject: ${"word ".repeat(40).trim()}`);
  });

  it("encodes non-ASCII as encoded words of at most 75 characters, never splitting a character", () => {
    const text = "長い件名".repeat(30);
    const header = unstructuredHeader("Subject", text, "utf-8");
    const words = header.match(/=\?[^?]+\?B\?[^?]*\?=/g) ?? [];
    expect(words.every((w) => w.length <= 75)).toBe(true);
    expect(decodeWords(header.slice("Subject: ".length).replace(/\r\n /g, " "))).toBe(text);
  });

  it("uses ISO-2022-JP words when asked for and possible, UTF-8 otherwise", () => {
    expect(unstructuredHeader("Subject", "お知らせ", "iso-2022-jp")).toMatch(/=\?ISO-2022-JP\?B\?/);
    expect(unstructuredHeader("Subject", "😀", "iso-2022-jp")).toMatch(/=\?UTF-8\?B\?/);
  });

  it("splits ISO-2022-JP words so that each decodes on its own and returns to ASCII (RFC 1468)", () => {
    const text = "会議abc資料 ".repeat(40).trim();
    const words = unstructuredHeader("Subject", text, "iso-2022-jp").match(/=\?ISO-2022-JP\?B\?[^?]*\?=/g) ?? [];
    expect(words.length).toBeGreaterThan(5);
    for (const word of words) {
      expect(word.length).toBeLessThanOrEqual(75);
      const bytes = Buffer.from(word.slice("=?ISO-2022-JP?B?".length, -2), "base64");
      const decoded = new TextDecoder("iso-2022-jp", { fatal: true }).decode(bytes);
      expect(decoded).not.toContain("\uFFFD");
      const last = bytes.lastIndexOf(0x1b);
      if (last >= 0) expect(bytes.subarray(last, last + 3).toString("latin1")).toBe("\x1b(B");
    }
    expect(decodeWords(words.join(" "))).toBe(text);
  });

  it("encodes an ASCII subject that looks like an encoded word, so it is not decoded twice", () => {
    expect(unstructuredHeader("Subject", "=?UTF-8?B?SGk=?=", "utf-8")).toMatch(/^Subject: =\?UTF-8\?B\?/);
  });

  it("writes CR and LF in a value as spaces, never as line breaks", () => {
    const header = addressHeader("From", [{ name: "Evil\r\nBcc: x@example.jp", address: "a@example.jp" }], "utf-8");
    expect(header.split("\r\n").every((line, i) => i === 0 || line.startsWith(" "))).toBe(true);
  });

  it("quotes ASCII names with specials", () => {
    expect(addressHeader("From", [{ name: "Yamada, Taro", address: "t@example.jp" }], "utf-8")).toBe('From: "Yamada, Taro" <t@example.jp>');
  });
});

describe("the one place header text becomes bytes", () => {
  it("writes printable ASCII fields with CRLF after each line", () => {
    expect(headerBlock([tokenHeader("MIME-Version", "1.0"), addressHeader("From", [{ name: "山田", address: "y@example.jp" }], "utf-8")]).toString("latin1")).toBe(
      "MIME-Version: 1.0\r\nFrom: =?UTF-8?B?5bGx55Sw?= <y@example.jp>\r\n",
    );
  });

  it.each([
    ["a character whose low byte is LF (U+010A)", "From: <\"a\u010AX\"@example.com>"],
    ["a NUL", "Subject: a\u0000b"],
    ["a bare LF", "Subject: a\nX-Injected: 1"],
    ["a line of 999 octets", `Subject: ${"a".repeat(990)}`],
    ["a continuation line of whitespace only", "Subject: a\r\n \r\n b"],
    ["a continuation line without leading whitespace", "Subject: a\r\nX-Injected: 1"],
    ["no field name", ": value"],
  ])("refuses %s, whoever built the field (it is a bug, and the message is held)", (_what, field) => {
    expect(() => headerBlock([field as HeaderField])).toThrow(HeaderEncodingError);
  });

  it("names the field and the line in its error, never the value (mail content is not logged)", () => {
    expect(() => headerBlock(["Subject: secret\u010Atext" as HeaderField])).toThrow(/^header Subject, line 1: a character outside printable ASCII \(U\+010A\)$/);
  });
});

describe("addresses the encoder cannot write", () => {
  it("accepts printable-ASCII addr-specs only (a quoted local part with U+010A is not one)", () => {
    expect(isWritableAddress('"a b"@example.jp')).toBe(true);
    expect(isWritableAddress("a..b@docomo.ne.jp")).toBe(true);
    expect(isWritableAddress('"a\u010AX"@example.com')).toBe(false);
    expect(isWritableAddress("山田@example.jp")).toBe(false);
    expect(isWritableAddress("a@例え.jp")).toBe(false);
    expect(isValidAddress('"a\u010DX"@example.com')).toBe(false);
  });

  it("replaces one by the placeholder and shows its text as the encoded display name, never narrowing it", () => {
    const header = addressHeader("To", [{ name: "", address: '"a\u010AX-Injected: 1"@example.com' }, { name: "B", address: "b@example.jp" }], "utf-8");
    const unfolded = header.replace(/\r\n /g, " ");
    expect(unfolded).toMatch(/^To: =\?UTF-8\?B\?[^?]+\?= <invalid-address@mumuka\.invalid>, B <b@example\.jp>$/);
    expect(decodeWords(unfolded.slice(4, unfolded.indexOf(" <")))).toBe('"a\u010AX-Injected: 1"@example.com');
  });

  it("writes a long ASCII word of a name as encoded words within 78 characters a line", () => {
    const header = addressHeader("From", [{ name: "A".repeat(1000), address: "a@example.jp" }], "utf-8");
    for (const line of header.split("\r\n")) expect(line.length).toBeLessThanOrEqual(78);
    expect(decodeWords(header.slice("From: ".length, header.lastIndexOf(" <")).replace(/\r\n /g, " "))).toBe("A".repeat(1000));
  });
});
