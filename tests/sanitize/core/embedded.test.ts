import { describe, expect, it } from "vitest";
import { extractEmbedded } from "../../../src/sanitize/embedded.ts";

describe("files hidden in text", () => {
  it("cuts a uuencoded file out, decoding it, and leaves the words around it", () => {
    // "MZ" + 4 bytes, uuencoded by hand: length char "&" (6 bytes)
    const text = "before\nbegin 644 evil.exe\n&35J0````\n`\nend\nafter";
    const { text: rest, files } = extractEmbedded(text);
    expect(files).toHaveLength(1);
    expect(files[0]!.filename).toBe("evil.exe");
    expect(files[0]!.bytes.subarray(0, 2).toString("latin1")).toBe("MZ");
    expect(rest.startsWith("before\n")).toBe(true);
    expect(rest.endsWith("\nafter")).toBe(true);
    expect(rest).not.toContain("begin 644");
  });

  it("cuts yEnc and BinHex blocks", () => {
    const { text, files } = extractEmbedded("a\n=ybegin line=128 size=4 name=x.bin\nxxxx\n=yend size=4\nb\n(This file must be converted with BinHex 4.0)\n:abc\ndef:\nc");
    expect(files.map((f) => f.kind)).toEqual(["yenc", "binhex"]);
    expect(text.replace(/\uE005[^\uE007]*\uE007/g, "#")).toBe("a\n#\nb\n#\nc");
  });

  it("leaves ordinary text that merely starts with 'begin' alone", () => {
    expect(extractEmbedded("begin the meeting at 10\nend").files).toEqual([]);
  });
});
