import { describe, expect, it } from "vitest";
import { displaySafe, textSafe } from "../../../src/lib/display-safe.ts";
import { bodySafe } from "../../../src/sanitize/display-safe.ts";

describe("displaySafe", () => {
  it("shows a right-to-left override in a file name instead of obeying it", () => {
    expect(displaySafe("invoice\u202Efdp.exe")).toBe("invoice<U+202E>fdp.exe");
  });

  it("shows every bidi isolate and mark", () => {
    expect(displaySafe("a\u2066b\u2067c\u2068d\u2069e\u200Ef\u200Fg")).toBe("a<U+2066>b<U+2067>c<U+2068>d<U+2069>e<U+200E>f<U+200F>g");
  });

  it("never lets CR or LF through, so a value cannot start a header", () => {
    const out = displaySafe("Evil\r\nBcc: victim@example.jp");
    expect(out).not.toMatch(/[\r\n]/);
    expect(out).toBe("Evil<U+000D><U+000A>Bcc: victim@example.jp");
  });

  it("shows C1 controls and tag characters", () => {
    expect(displaySafe("a\u0085b\u{E0041}c")).toBe("a<U+0085>b<U+E0041>c");
  });

  it("shows a line or paragraph separator, so a one-line field cannot show a forged second line", () => {
    expect(displaySafe("請求書\u2028From: 総務課\u2029")).toBe("請求書<U+2028>From: 総務課<U+2029>");
  });

  it("replaces a lone surrogate and keeps Japanese and emoji", () => {
    expect(displaySafe("資料\uD800.pdf 😀")).toBe("資料\uFFFD.pdf 😀");
  });
});

describe("textSafe (multi-line text shown outside a message: SMTP replies, the console)", () => {
  it("keeps TAB, CR and LF and shows every other unsafe character", () => {
    expect(textSafe("550 5.7.1\r\n\tno\u202Euser\u2028\u001b[2J")).toBe("550 5.7.1\r\n\tno<U+202E>user<U+2028><U+001B>[2J");
  });
});

describe("bodySafe", () => {
  it("normalises line ends and keeps tabs and Japanese text", () => {
    expect(bodySafe("一行目\r\n二行目\r三行目\n\tインデント")).toBe("一行目\n二行目\n三行目\n\tインデント");
  });

  it("drops NUL and a leading BOM, shows an escape character", () => {
    expect(bodySafe("\uFEFFa\u0000b\u001bc")).toBe("ab<U+001B>c");
  });

  it("removes forged converter sentinels from sender text", () => {
    expect(bodySafe("x\uE001y\uE002z")).toBe("xyz");
    expect(bodySafe("x\uE001y", true)).toBe("x\uE001y");
  });

  // not timed: a super-linear pass over 2 million characters does not finish, and the test's
  // timeout catches it
  it("handles a multi-megabyte text", () => {
    const big = "あ".repeat(2_000_000);
    expect(bodySafe(big).length).toBe(2_000_000);
  }, 30_000);
});
