import iconv from "iconv-lite";
import Encoding from "encoding-japanese";
import { describe, expect, it } from "vitest";
import { decodeText, encodeIso2022Jp, guessCharset } from "../../../src/sanitize/charset.ts";

const jis = (s: string) => Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: "JIS", from: "UNICODE" }) as number[]);

describe("decodeText", () => {
  it("decodes ISO-2022-JP and its CP5022x label, half-width kana included", () => {
    expect(decodeText(jis("こんにちは、世界"), "ISO-2022-JP").text).toBe("こんにちは、世界");
    expect(decodeText(Buffer.from("\x1b(I1\x1b(B", "latin1"), "cp50220").text).toBe("ｱ");
  });

  it("decodes Shift_JIS as CP932, so NEC special characters survive", () => {
    const bytes = iconv.encode("①資料", "cp932");
    expect(decodeText(bytes, "Shift_JIS").text).toBe("①資料");
    expect(decodeText(bytes, "Windows-31J").text).toBe("①資料");
  });

  it("decodes EUC-JP", () => {
    expect(decodeText(iconv.encode("日本語のテキスト", "euc-jp"), "euc-jp").text).toBe("日本語のテキスト");
  });

  it("decodes Latin-1 labels as windows-1252", () => {
    expect(decodeText(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x80]), "ISO-8859-1").text).toBe("café€");
  });

  it("guesses an unknown label among the Japanese charsets and says so", () => {
    const result = decodeText(iconv.encode("お世話になっております。", "cp932"), "x-no-such-charset");
    expect(result.text).toBe("お世話になっております。");
    expect(result.warning).toMatch(/unknown charset/);
  });

  it("reads mislabelled Shift_JIS in a part declared UTF-8", () => {
    const result = decodeText(iconv.encode("請求書をお送りします", "cp932"), "utf-8");
    expect(result.text).toBe("請求書をお送りします");
    expect(result.warning).toBeDefined();
  });

  it("accepts UTF-8 cut inside its last character (a byte budget) as UTF-8", () => {
    const bytes = Buffer.from("日本語", "utf8").subarray(0, 7);
    expect(decodeText(bytes, "utf-8").used).toBe("utf-8");
  });
});

describe("guessCharset", () => {
  it("tells EUC-JP from Shift_JIS", () => {
    const text = "本日の会議は午後三時からです。よろしくお願いいたします。";
    expect(guessCharset(iconv.encode(text, "euc-jp"))).toBe("euc-jp");
    expect(guessCharset(iconv.encode(text, "cp932"))).toBe("cp932");
    expect(guessCharset(Buffer.from(text, "utf8"))).toBe("utf-8");
  });
});

describe("encodeIso2022Jp", () => {
  it("round-trips JIS X 0208 text", () => {
    const bytes = encodeIso2022Jp("お知らせ\nABC");
    expect(bytes).not.toBeNull();
    expect(decodeText(bytes!, "iso-2022-jp").text).toBe("お知らせ\nABC");
    expect([...bytes!].every((b) => b < 0x80)).toBe(true);
  });

  it("refuses what ISO-2022-JP cannot carry: emoji, half-width kana, NEC specials", () => {
    expect(encodeIso2022Jp("😀")).toBeNull();
    expect(encodeIso2022Jp("ｱ")).toBeNull();
    expect(encodeIso2022Jp("①")).toBeNull();
  });
});
