/**
 * The relaxed body hash's fast path (src/authenticate/relaxed-body.ts) must leave a hasher in
 * exactly the state mailauth's own RelaxedHash.update does: the same digest, the same counts
 * (body length, canonicalized length, hashed bytes for l=) and the same MIME structure start,
 * for any body cut into any pieces. Bodies are generated from the bytes the canonicalization
 * cares about (space, TAB, CR, LF) among letters, with and without an l= count and a
 * multipart boundary; the mailauth hasher is fed the same pieces without the fast path.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import relaxedModule from "mailauth/lib/dkim/body/relaxed.js";
import { needsNoRewrite, speedUpRelaxed } from "../../src/authenticate/relaxed-body.ts";

const { RelaxedHash } = relaxedModule;

function hashed(pieces: Buffer[], fast: boolean | "crlf-only", maxBodyLength: number | false, boundary: string | undefined) {
  const hasher = new RelaxedHash("sha256", maxBodyLength);
  if (boundary) hasher.setContentType({ value: "multipart/mixed", params: { boundary } });
  if (fast) speedUpRelaxed([hasher], fast === "crlf-only");
  for (const piece of pieces) hasher.update(piece);
  const digest = hasher.digest("base64");
  return { digest, byteLength: hasher.byteLength, canonicalizedLength: hasher.canonicalizedLength, bodyHashedBytes: hasher.bodyHashedBytes, mimeStructureStart: hasher.getMimeStructureStart() };
}

/** a body from the bytes that matter, and line ends of every kind */
const bodyArb = fc
  .array(fc.constantFrom("a", "Z", "=", " ", "  ", "\t", "\r\n", "\r\n", "\r\n", "\r", "\n", " \r\n", "--b", "--b\r\n", "\r\n\r\n"), { maxLength: 80 })
  .map((parts) => Buffer.from(parts.join("")));

/** the same without a bare LF (every LF after a CR), as feedWhole's bytes are: for speedUpRelaxed(…, crlfOnly) */
const crlfBodyArb = fc
  .array(fc.constantFrom("a", "Z", "=", " ", "  ", "\t", "\r\n", "\r\n", "\r\n", "\r", " \r\n", "--b", "--b\r\n", "\r\n\r\n"), { maxLength: 80 })
  .map((parts) => Buffer.from(parts.join("")));

/** cuts `body` at the given points: at line ends (as feedWhole cuts) or anywhere */
function cut(body: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (body.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    if (p > from) pieces.push(body.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < body.length) pieces.push(body.subarray(from));
  return pieces;
}

describe("the relaxed body hash's fast path", () => {
  it("ends in mailauth's own state for any body, cut anywhere, with or without l= and a boundary", () => {
    fc.assert(
      fc.property(bodyArb, fc.array(fc.nat(), { maxLength: 6 }), fc.option(fc.nat({ max: 120 }), { nil: undefined }), fc.boolean(), (body, points, l, multipart) => {
        const pieces = cut(body, points);
        const max = l === undefined ? false : l;
        const boundary = multipart ? "b" : undefined;
        expect(hashed(pieces, true, max, boundary)).toEqual(hashed(pieces, false, max, boundary));
      }),
      { numRuns: 3000 },
    );
  });

  it("ends in mailauth's own state when every piece ends after a line end, as feedWhole cuts them", () => {
    fc.assert(
      fc.property(bodyArb, fc.array(fc.nat(), { maxLength: 6 }), (body, points) => {
        const ends = [...body.keys()].filter((i) => body[i] === 0x0a).map((i) => i + 1);
        const pieces = cut(body, ends.length ? points.map((p) => ends[p % ends.length]!) : []);
        expect(hashed(pieces, true, false, "b")).toEqual(hashed(pieces, false, false, "b"));
      }),
      { numRuns: 3000 },
    );
  });

  it("with a body known to have no bare LF (feedWhole's), ends in mailauth's own state, cut anywhere or at line ends, with or without l=", () => {
    fc.assert(
      fc.property(crlfBodyArb, fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), fc.option(fc.nat({ max: 120 }), { nil: undefined }), (body, points, atLineEnds, l) => {
        const ends = [...body.keys()].filter((i) => body[i] === 0x0a).map((i) => i + 1);
        const pieces = atLineEnds ? cut(body, ends.length ? points.map((p) => ends[p % ends.length]!) : []) : cut(body, points);
        const max = l === undefined ? false : l;
        expect(hashed(pieces, "crlf-only", max, "b")).toEqual(hashed(pieces, false, max, "b"));
      }),
      { numRuns: 3000 },
    );
  });

  it("takes the fast path only for pieces no line of which needs rewriting", () => {
    expect(needsNoRewrite(Buffer.from("QUJD\r\nREVG\r\n"))).toBe(true);
    expect(needsNoRewrite(Buffer.from("a b\r\nc\r"))).toBe(true);
    expect(needsNoRewrite(Buffer.from("a\tb\r\n"))).toBe(false);
    expect(needsNoRewrite(Buffer.from("a  b\r\n"))).toBe(false);
    expect(needsNoRewrite(Buffer.from("a \r\n"))).toBe(false);
    expect(needsNoRewrite(Buffer.from("a\nb\r\n"))).toBe(false);
    expect(needsNoRewrite(Buffer.from("\nb\r\n"))).toBe(false);
  });

  it("a base64 attachment of 100 KB in whole-line pieces hashes as mailauth does", () => {
    const b64 = Buffer.from(`${Buffer.alloc(75_000, 7).toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n\r\n\r\n`);
    const pieces = [b64.subarray(0, 65_536 - (65_536 % 78)), b64.subarray(65_536 - (65_536 % 78))];
    expect(needsNoRewrite(pieces[0]!)).toBe(true);
    expect(hashed(pieces, true, false, undefined)).toEqual(hashed(pieces, false, false, undefined));
  });
});
