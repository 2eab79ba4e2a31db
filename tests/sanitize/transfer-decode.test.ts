/**
 * The base64 decoder's fast path (clean line-wrapped base64 through Node's
 * native decoder) must give exactly the bytes of the tolerant reference
 * decoder — the one mumuka used before the fast path, kept here verbatim — for
 * any input cut into any chunks: clean attachments, stray "=" in the middle,
 * junk, URL-safe letters ("-", "_", which Node would decode but the tolerant
 * decoder drops), bare CR or LF, truncated tails.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Decoder, type TransferDecoder } from "../../src/sanitize/transfer-decode.ts";

/** the tolerant decoder as it was before the fast path (commit 9132743) */
function referenceDecoder(): TransferDecoder {
  const NOT_B64 = /[^A-Za-z0-9+/]+/g;
  let pending = "";
  const take = (chunk: Buffer): Buffer => {
    const out: Buffer[] = [];
    const segments = chunk.toString("latin1").split("=");
    let buf = pending;
    segments.forEach((segment, index) => {
      buf += segment.replace(NOT_B64, "");
      if (index < segments.length - 1 && buf.length % 4 !== 0) {
        out.push(Buffer.from(buf, "base64"));
        buf = "";
      }
    });
    const whole = buf.length - (buf.length % 4);
    if (whole > 0) out.push(Buffer.from(buf.slice(0, whole), "base64"));
    pending = buf.slice(whole);
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  };
  return {
    update: take,
    end(): Buffer {
      const rest = pending;
      pending = "";
      return rest.length > 1 ? Buffer.from(rest, "base64") : Buffer.alloc(0);
    },
  };
}

function run(decoder: TransferDecoder, chunks: Buffer[]): Buffer {
  return Buffer.concat([...chunks.map((c) => decoder.update(c)), decoder.end()]);
}

/** cuts `data` at the given fractions, so the same input is fed in arbitrary chunks */
function cut(data: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => Math.floor(p * data.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...at, data.length]) {
    chunks.push(data.subarray(from, p));
    from = p;
  }
  return chunks;
}

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** mostly letters and line ends, sometimes what breaks a clean run */
const byteOfDirtyBase64 = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(...[...LETTERS].map((c) => c.charCodeAt(0))) },
  { weight: 4, arbitrary: fc.constantFrom(0x0d, 0x0a) },
  { weight: 1, arbitrary: fc.constantFrom(0x3d, 0x20, 0x09, 0x2d, 0x5f, 0x21, 0x2e, 0x00, 0x80, 0xff, 0xe3) },
);
const points = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });

describe("base64Decoder fast path", () => {
  it("equals the tolerant decoder on arbitrary, mostly-base64 input in arbitrary chunks", () => {
    fc.assert(
      fc.property(fc.array(byteOfDirtyBase64, { maxLength: 400 }), points, (bytes, cuts) => {
        const data = Buffer.from(bytes);
        expect(run(base64Decoder(), cut(data, cuts))).toEqual(run(referenceDecoder(), cut(data, cuts)));
      }),
      { numRuns: 3000, seed: 20261206 },
    );
  });

  it("equals the tolerant decoder on real line-wrapped attachments (CRLF or LF, padded, glued) cut anywhere", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.constantFrom("\r\n", "\n"),
        fc.integer({ min: 1, max: 100 }),
        points,
        (payload, glued, eol, width, cuts) => {
          const wrap = (b: Uint8Array) => (Buffer.from(b).toString("base64").match(new RegExp(`.{1,${width}}`, "g")) ?? []).join(eol);
          const data = Buffer.from(wrap(payload) + eol + wrap(glued) + eol);
          const decoded = run(base64Decoder(), cut(data, cuts));
          expect(decoded).toEqual(run(referenceDecoder(), cut(data, cuts)));
          if (glued.length === 0) expect(decoded).toEqual(Buffer.from(payload));
        },
      ),
      { numRuns: 1500, seed: 20261207 },
    );
  });

  it("decodes a clean 100 KB attachment fed in 64 KiB chunks to its bytes", () => {
    const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff));
    const data = Buffer.from(`${payload.toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n`);
    expect(run(base64Decoder(), cut(data, [0.3, 0.6]))).toEqual(payload);
  });
});
