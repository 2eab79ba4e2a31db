/**
 * The header block the authentication thread reads (auth-stage.ts headerBlock: where ARC-Seal
 * and a trusted Received hop are looked for) is found in the bytes without turning the whole
 * message into a string; it must be what the first match of /\r?\n\r?\n/ on the text cuts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { headerBlock } from "../../src/authenticate/auth-stage.ts";

/** the definition: the text up to the first blank line, all of it without one when whole */
function byRegex(bytes: Buffer, whole: boolean): string | undefined {
  const text = bytes.toString("latin1");
  const blank = text.search(/\r?\n\r?\n/);
  if (blank >= 0) return text.slice(0, blank);
  return whole ? text : undefined;
}

describe("headerBlock", () => {
  it("cuts where the first /\\r?\\n\\r?\\n/ starts, for any mix of line ends", () => {
    const bytes = fc.array(fc.constantFrom("a", ":", " ", "\r", "\n", "\r\n", "\xe9"), { maxLength: 40 }).map((p) => Buffer.from(p.join(""), "latin1"));
    fc.assert(
      fc.property(bytes, fc.boolean(), (b, whole) => {
        expect(headerBlock(b, whole)).toBe(byRegex(b, whole));
      }),
      { numRuns: 5000 },
    );
  });

  it("a CRLF message, a bare-LF one, one without a body, and the start of a longer header", () => {
    expect(headerBlock(Buffer.from("A: 1\r\nB: 2\r\n\r\nbody\r\n"), true)).toBe("A: 1\r\nB: 2");
    expect(headerBlock(Buffer.from("A: 1\nB: 2\n\nbody\n"), true)).toBe("A: 1\nB: 2");
    expect(headerBlock(Buffer.from("A: 1\r\nB: 2\r\n"), true)).toBe("A: 1\r\nB: 2\r\n");
    expect(headerBlock(Buffer.from("A: 1\r\nB: 2\r\n"), false)).toBeUndefined();
    expect(headerBlock(Buffer.from("\r\n\r\nbody"), true)).toBe("");
  });
});
